//! Square's webhook signature: `x-square-hmacsha256-signature: <base64 HMAC-SHA256(signature key,
//! notification URL + raw body)>`, the URL exactly as the webhook subscription names it. The
//! gateway checks it at the edge (a forgery is refused with 400); the payment service checks it
//! again on the relayed webhook before acting. Square signs no timestamp: a replay is stopped by
//! the event id, applied once.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub use crate::stripe_signature::SignatureError;

pub const SIGNATURE_HEADER: &str = "x-square-hmacsha256-signature";

/// The header value Square would send for `body` posted to `url`.
pub fn sign(key: &str, url: &str, body: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
        Ok(mut mac) => {
            mac.update(url.as_bytes());
            mac.update(body);
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// Verifies `header` (absent: refused) against `body` posted to `url`, in constant time.
pub fn verify(
    key: &str,
    url: &str,
    header: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let header = header.ok_or_else(|| SignatureError(format!("no {SIGNATURE_HEADER} header")))?;
    let given = base64::engine::general_purpose::STANDARD
        .decode(header.trim())
        .map_err(|_| SignatureError("the signature is not base64".into()))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes())
        .map_err(|_| SignatureError("unusable signature key".into()))?;
    mac.update(url.as_bytes());
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| SignatureError("the signature does not match".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_over_the_url_and_the_body() {
        let url = "https://shop.example/api/v2/payments/webhook/square";
        let sig = sign("key", url, b"{}");
        assert!(verify("key", url, Some(&sig), b"{}").is_ok());
        assert!(verify("other", url, Some(&sig), b"{}").is_err());
        assert!(verify("key", "https://elsewhere/", Some(&sig), b"{}").is_err());
        assert!(verify("key", url, Some(&sig), b"{ }").is_err());
        assert!(verify("key", url, None, b"{}").is_err());
        assert!(verify("key", url, Some("not base64!"), b"{}").is_err());
    }
}
