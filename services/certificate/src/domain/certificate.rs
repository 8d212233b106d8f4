//! A certificate's life (`active` → `revoked`, nothing else) and its number. Pure: no I/O.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Revoked,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Revoked => "revoked",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "active" => Some(Status::Active),
            "revoked" => Some(Status::Revoked),
            _ => None,
        }
    }

    /// The status after a revocation: only an active certificate can be revoked, once.
    pub fn revoke(self) -> Result<Status, IllegalTransition> {
        match self {
            Status::Active => Ok(Status::Revoked),
            Status::Revoked => Err(IllegalTransition),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the certificate is already revoked")]
pub struct IllegalTransition;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Course,
    Program,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Course => "course",
            Kind::Program => "program",
        }
    }
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "course" => Some(Kind::Course),
            "program" => Some(Kind::Program),
            _ => None,
        }
    }
}

/// Crockford's base32 without I, L, O, U: nothing to misread when typed from paper.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// 16 symbols of 5 bits: 80 random bits. At a million guesses an hour, finding one of a million
/// valid numbers takes about 10^11 years on average.
pub const CODE_LEN: usize = 16;

/// `CERT-<year>-<code>`, the code drawn from `random` (at least 10 bytes of a CSPRNG).
pub fn number(year: i32, random: &[u8]) -> Option<String> {
    if random.len() * 8 < CODE_LEN * 5 {
        return None;
    }
    let mut code = String::with_capacity(CODE_LEN);
    let mut acc: u32 = 0;
    let mut bits = 0;
    let mut bytes = random.iter();
    while code.len() < CODE_LEN {
        if bits < 5 {
            acc = (acc << 8) | u32::from(*bytes.next()?);
            bits += 8;
        }
        bits -= 5;
        let idx = ((acc >> bits) & 31) as usize;
        code.push(char::from(ALPHABET[idx]));
    }
    Some(format!("CERT-{year}-{code}"))
}

/// Whether `s` has the shape of a certificate number (checked before any lookup).
pub fn looks_like_number(s: &str) -> bool {
    let mut parts = s.splitn(3, '-');
    let (Some("CERT"), Some(year), Some(code)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && code.len() == CODE_LEN
        && code.bytes().all(|b| ALPHABET.contains(&b))
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default, clippy::disallowed_methods)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn revocation_happens_once() {
        assert_eq!(Status::Active.revoke(), Ok(Status::Revoked));
        assert_eq!(Status::Revoked.revoke(), Err(IllegalTransition));
        for s in [Status::Active, Status::Revoked] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        for k in [Kind::Course, Kind::Program] {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn numbers_use_every_random_bit_and_have_the_shape() {
        let n = number(2026, &[0u8; 10]).unwrap();
        assert_eq!(n, "CERT-2026-0000000000000000");
        let n = number(2026, &[0xFF; 10]).unwrap();
        assert_eq!(n, "CERT-2026-ZZZZZZZZZZZZZZZZ");
        assert!(number(2026, &[1; 9]).is_none(), "not enough entropy");
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let n = number(2026, uuid::Uuid::new_v4().as_bytes()).unwrap();
            assert!(looks_like_number(&n), "{n}");
            assert!(seen.insert(n));
        }
        assert!(!looks_like_number("CERT-2026-00000"));
        assert!(!looks_like_number("CERT-2026-000000000000000I"));
        assert!(!looks_like_number("CERT-26-0000000000000000"));
        assert!(!looks_like_number("../etc/passwd"));
    }
}
