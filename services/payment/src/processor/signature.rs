//! Stripe's webhook signature scheme (shared with the gateway, in [`web::stripe_signature`]),
//! with its refusals in the processor's terms.

use super::ProcessorError;
pub use ::web::stripe_signature::{SIGNATURE_HEADER, TOLERANCE_SECS, sign};

/// Verifies a Stripe-style signature header against `body` at `now`.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64) -> Result<(), ProcessorError> {
    ::web::stripe_signature::verify(secret, header, body, now)
        .map_err(|e| ProcessorError::InvalidWebhook(e.0))
}

/// Verifies a relayed webhook's `Stripe-Signature` header with `secret` at the time it was
/// received.
pub fn verify_relayed(
    secret: &str,
    webhook: &super::RelayedWebhook<'_>,
) -> Result<(), ProcessorError> {
    let header = webhook
        .header(SIGNATURE_HEADER)
        .ok_or_else(|| ProcessorError::InvalidWebhook("no Stripe-Signature header".into()))?;
    verify(secret, header, webhook.body, webhook.received_at)
}
