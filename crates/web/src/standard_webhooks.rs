//! Standard Webhooks v1 (<https://www.standardwebhooks.com/>), the scheme for webhooks between
//! the platform and the LMS / Payout Platform:
//!
//! - headers `webhook-id`, `webhook-timestamp` (unix seconds), `webhook-signature`;
//! - signature `v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>`, several separated by
//!   spaces while a secret rotates;
//! - secret `whsec_<base64 key>`; timestamps more than five minutes off are refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the secret is not whsec_<base64>")]
    BadSecret,
    #[error("timestamp outside the tolerance")]
    Stale,
    #[error("no matching v1 signature")]
    Mismatch,
    #[error("missing or unreadable webhook-id, webhook-timestamp or webhook-signature")]
    Unsigned,
}

/// Whether `secret` is a usable signing secret (`whsec_` and a base64 key), for configuration
/// checks at start rather than a failure at the first signature.
pub fn check_secret(secret: &str) -> Result<(), SignatureError> {
    key(secret).map(|_| ())
}

fn key(secret: &str) -> Result<Vec<u8>, SignatureError> {
    let b64 = secret
        .strip_prefix("whsec_")
        .ok_or(SignatureError::BadSecret)?;
    STANDARD.decode(b64).map_err(|_| SignatureError::BadSecret)
}

fn mac(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<Hmac<Sha256>, SignatureError> {
    let mut m =
        Hmac::<Sha256>::new_from_slice(&key(secret)?).map_err(|_| SignatureError::BadSecret)?;
    m.update(id.as_bytes());
    m.update(b".");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    Ok(m)
}

/// The `webhook-signature` value for a message.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, SignatureError> {
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac(secret, id, timestamp, body)?.finalize().into_bytes())
    ))
}

/// Verifies a message from its `webhook-id`, `webhook-timestamp` and `webhook-signature` headers,
/// read through `header` (the request's at the edge, the relayed ones in a consumer).
pub fn verify_headers(
    secret: &str,
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let (Some(id), Some(ts), Some(sig)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        return Err(SignatureError::Unsigned);
    };
    let ts = ts.parse::<i64>().map_err(|_| SignatureError::Unsigned)?;
    verify(secret, &id, ts, &sig, body, now)
}

/// Verifies a message at `now` (unix seconds; pass the time it was received).
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: i64,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    if now.abs_diff(timestamp) > TOLERANCE_SECS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, id, timestamp, body)?;
    let ok = signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|sig| {
            STANDARD
                .decode(sig)
                .ok()
                .is_some_and(|bytes| expected.clone().verify_slice(&bytes).is_ok())
        });
    if ok {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn matches_the_specification_example() {
        // The example from the Standard Webhooks specification.
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(
            verify(
                SECRET,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                &sig,
                body,
                1614265330
            )
            .is_ok()
        );
    }

    #[test]
    fn refuses_tampering_staleness_and_bad_secrets() {
        let body = b"{}";
        let sig = sign(SECRET, "msg_1", 1000, body).unwrap();
        assert_eq!(
            verify(SECRET, "msg_1", 1000, &sig, b"{ }", 1000),
            Err(SignatureError::Mismatch)
        );
        let headers = |ts: &'static str| {
            let sig = sig.clone();
            move |n: &str| match n {
                "webhook-id" => Some("msg_1".to_string()),
                "webhook-timestamp" => Some(ts.to_string()),
                "webhook-signature" => Some(sig.clone()),
                _ => None,
            }
        };
        assert_eq!(verify_headers(SECRET, headers("1000"), body, 1000), Ok(()));
        assert_eq!(
            verify_headers(SECRET, headers("soon"), body, 1000),
            Err(SignatureError::Unsigned)
        );
        assert_eq!(
            verify_headers(SECRET, |_: &str| None, body, 1000),
            Err(SignatureError::Unsigned)
        );
        assert_eq!(
            verify(SECRET, "msg_2", 1000, &sig, body, 1000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, "msg_1", 1000, &sig, body, 1301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify("nope", "msg_1", 1000, &sig, body, 1000),
            Err(SignatureError::BadSecret)
        );
        let rotated = format!("v1,AAAA {sig}");
        assert!(verify(SECRET, "msg_1", 1000, &rotated, body, 1000).is_ok());
    }
}
