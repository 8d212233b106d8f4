//! The providers' event webhooks, verified with each provider's own scheme, applied once per
//! event: the send's provider status, and a suppression of the address after a hard bounce or a
//! complaint. Forged or stale → 400, nothing changes.

use crate::Notifier;
use crate::storage;
use ::web::ApiError;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use sea_orm::TransactionTrait;
use serde::Deserialize;
use uuid::Uuid;

/// How far a webhook's timestamp may be from now (neither provider states one; ours).
pub const TOLERANCE_SECS: i64 = 300;

/// SendGrid's Signed Event Webhook key: base64 DER SubjectPublicKeyInfo of a P-256 key.
pub fn sendgrid_key(b64: &str) -> Result<VerifyingKey, String> {
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    VerifyingKey::from_public_key_der(&der).map_err(|e| format!("not a P-256 public key: {e}"))
}

/// A webhook timestamp (Unix seconds) within [`TOLERANCE_SECS`] of `now`.
fn fresh(timestamp: &str, now: i64) -> Result<(), String> {
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| "unreadable timestamp".to_string())?;
    if now.abs_diff(ts) > TOLERANCE_SECS.unsigned_abs() {
        return Err("stale timestamp".into());
    }
    Ok(())
}

/// ECDSA P-256 / SHA-256 over `timestamp + body`, the signature base64 DER.
pub fn verify_sendgrid(
    key: &VerifyingKey,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: i64,
) -> Result<(), String> {
    use base64::Engine;
    fresh(timestamp, now)?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| "signature is not base64".to_string())?;
    let sig = Signature::from_der(&der).map_err(|_| "malformed signature".to_string())?;
    let mut message = timestamp.as_bytes().to_vec();
    message.extend_from_slice(body);
    key.verify(&message, &sig)
        .map_err(|_| "signature does not verify".to_string())
}

/// `hex(HMAC-SHA256(key, timestamp + token)) == signature`, in constant time, and fresh.
pub fn verify_mailgun(
    key: &str,
    timestamp: &str,
    token: &str,
    signature: &str,
    now: i64,
) -> Result<(), String> {
    fresh(timestamp, now)?;
    let expected = hex::decode(signature).map_err(|_| "signature is not hex".to_string())?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes())
        .map_err(|_| "bad signing key".to_string())?;
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    mac.verify_slice(&expected)
        .map_err(|_| "signature does not verify".to_string())
}

fn refused(e: String) -> ApiError {
    tracing::warn!(error = %e, "provider webhook refused");
    ApiError::bad_request("invalid_signature", e)
}

#[derive(Debug, Deserialize)]
struct SendGridEvent {
    sg_event_id: String,
    event: String,
    email: String,
    #[serde(default)]
    send_id: Option<String>,
    /// For `bounce`: `bounce` (hard) or `blocked` (soft).
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// What an event means for the send and the address.
fn outcome(event: &str, hard: bool) -> Option<(&'static str, bool)> {
    match event {
        "delivered" => Some(("delivered", false)),
        "bounce" | "failed" => Some(("bounced", hard)),
        "dropped" => Some(("dropped", false)),
        "spamreport" | "complained" => Some(("complained", true)),
        _ => None,
    }
}

/// One provider event to apply: its dedupe id, the send it is about, what it says, and the
/// address to suppress (with why).
type Applied = (String, Option<Uuid>, &'static str, Option<(String, String)>);

/// A provider's event as applied: deduplicated by `provider:id`, about the send it names, the
/// address suppressed with the provider's reason when the outcome says so.
fn event(
    provider: &str,
    id: &str,
    send_id: Option<&str>,
    (status, suppress): (&'static str, bool),
    email: &str,
    why: &str,
) -> Applied {
    (
        format!("{provider}:{id}"),
        send_id.and_then(|s| Uuid::parse_str(s).ok()),
        status,
        suppress.then(|| (email.to_string(), format!("{provider} {status}: {why}"))),
    )
}

/// Applies `events` in one transaction. With `first_gates`, a first event already seen (a spent
/// Mailgun token) stops everything.
async fn apply(
    state: &Notifier,
    events: Vec<Applied>,
    first_gates: bool,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let txn = state.db.begin().await.map_err(ApiError::from)?;
    for (i, (id, send, status, suppress)) in events.into_iter().enumerate() {
        let s = suppress.as_ref().map(|(e, r)| (e.as_str(), r.as_str()));
        let fresh = storage::provider_event(&txn, &id, send, status, s, now).await?;
        if i == 0 && first_gates && !fresh {
            tracing::warn!(event = %id, "provider webhook replayed; ignored");
            return Ok(());
        }
    }
    txn.commit().await.map_err(ApiError::from)?;
    Ok(())
}

#[utoipa::path(post, path = "/api/v2/notifications/webhooks/sendgrid", tag = "notifications",
    request_body(content = Vec<Object>, description = "SendGrid Event Webhook: an array of events"),
    params(("X-Twilio-Email-Event-Webhook-Signature" = Option<String>, Header, nullable = false, description = "ECDSA P-256 over timestamp + body (base64); missing or forged: 400"),
           ("X-Twilio-Email-Event-Webhook-Timestamp" = Option<String>, Header, nullable = false, description = "Unix seconds; older than 5 minutes: 400")),
    responses((status = 200, description = "Applied (each event once)"),
        (status = 400, description = "invalid_signature, invalid_body"),
        (status = 404, description = "No SendGrid webhook is configured in this deployment")))]
pub async fn sendgrid(
    req: HttpRequest,
    state: web::Data<Notifier>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let Some(key) = &state.sendgrid_key else {
        return Err(ApiError::not_found("no SendGrid webhook is configured"));
    };
    let h = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let now = state.clock.now();
    verify_sendgrid(
        key,
        h("x-twilio-email-event-webhook-timestamp"),
        h("x-twilio-email-event-webhook-signature"),
        &body,
        now.timestamp(),
    )
    .map_err(refused)?;
    let events: Vec<SendGridEvent> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_body", format!("events: {e}")))?;
    let mut applied = Vec::new();
    for e in events {
        let hard = e.kind.as_deref() != Some("blocked");
        let Some((status, suppress)) = outcome(&e.event, hard) else {
            continue;
        };
        let why = e.reason.clone().unwrap_or_else(|| e.event.clone());
        applied.push(event(
            "sendgrid",
            &e.sg_event_id,
            e.send_id.as_deref(),
            (status, suppress),
            &e.email,
            &why,
        ));
    }
    apply(&state, applied, false, now).await?;
    Ok(HttpResponse::Ok().finish())
}

#[derive(Debug, Deserialize)]
struct MailgunHook {
    signature: MailgunSignature,
    #[serde(rename = "event-data")]
    event_data: MailgunEvent,
}

#[derive(Debug, Deserialize)]
struct MailgunSignature {
    timestamp: String,
    token: String,
    signature: String,
}

#[derive(Debug, Deserialize)]
struct MailgunEvent {
    id: String,
    event: String,
    #[serde(default)]
    recipient: String,
    /// `permanent` or `temporary` for `failed`.
    #[serde(default)]
    severity: Option<String>,
    #[serde(default, rename = "user-variables")]
    user_variables: serde_json::Value,
    #[serde(default, rename = "delivery-status")]
    delivery_status: serde_json::Value,
}

#[utoipa::path(post, path = "/api/v2/notifications/webhooks/mailgun", tag = "notifications",
    request_body(content = Object, description = "Mailgun webhook: `signature` and `event-data`"),
    responses((status = 200, description = "Applied (once per event and token)"),
        (status = 400, description = "invalid_signature, invalid_body"),
        (status = 404, description = "No Mailgun webhook is configured in this deployment")))]
pub async fn mailgun(state: web::Data<Notifier>, body: Bytes) -> Result<HttpResponse, ApiError> {
    let Some(key) = &state.mailgun_signing_key else {
        return Err(ApiError::not_found("no Mailgun webhook is configured"));
    };
    let hook: MailgunHook = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_body", format!("webhook: {e}")))?;
    let now = state.clock.now();
    let s = &hook.signature;
    verify_mailgun(
        key.expose(),
        &s.timestamp,
        &s.token,
        &s.signature,
        now.timestamp(),
    )
    .map_err(refused)?;
    let e = &hook.event_data;
    let hard = e.severity.as_deref() != Some("temporary");
    // A token is good once. Mailgun signs only timestamp + token, so a replayed signature with
    // other event data must change nothing: the token is spent first, and a spent one stops here.
    let mut applied = vec![(format!("mailgun-token:{}", s.token), None, "seen", None)];
    if (e.event != "failed" || hard)
        && let Some((status, suppress)) = outcome(&e.event, hard)
    {
        let why = e.delivery_status["message"].as_str().unwrap_or(&e.event);
        applied.push(event(
            "mailgun",
            &e.id,
            e.user_variables["send_id"].as_str(),
            (status, suppress),
            &e.recipient,
            why,
        ));
    }
    apply(&state, applied, true, now).await?;
    Ok(HttpResponse::Ok().finish())
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use base64::Engine;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::EncodePublicKey;

    #[test]
    fn sendgrid_signatures_verify_and_forgeries_do_not() {
        let signing = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let der = signing.verifying_key().to_public_key_der().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_bytes());
        let key = sendgrid_key(&b64).unwrap();
        let body = br#"[{"event":"delivered"}]"#;
        let ts = "1764300000";
        let mut msg = ts.as_bytes().to_vec();
        msg.extend_from_slice(body);
        let sig: Signature = signing.sign(&msg);
        let sig = base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes());
        assert!(verify_sendgrid(&key, ts, &sig, body, 1_764_300_010).is_ok());
        assert!(
            verify_sendgrid(&key, ts, &sig, br#"[{"event":"bounce"}]"#, 1_764_300_010).is_err()
        );
        assert!(
            verify_sendgrid(&key, ts, &sig, body, 1_764_301_000).is_err(),
            "stale"
        );
        assert!(verify_sendgrid(&key, "1764300001", &sig, body, 1_764_300_010).is_err());
        assert!(sendgrid_key("bm90IGEga2V5").is_err());
    }

    #[test]
    fn mailgun_signatures_verify_and_forgeries_do_not() {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"key-1").unwrap();
        mac.update(b"1764300000tok");
        let sig = hex::encode(mac.finalize().into_bytes());
        assert!(verify_mailgun("key-1", "1764300000", "tok", &sig, 1_764_300_100).is_ok());
        assert!(verify_mailgun("key-2", "1764300000", "tok", &sig, 1_764_300_100).is_err());
        assert!(verify_mailgun("key-1", "1764300000", "tok2", &sig, 1_764_300_100).is_err());
        assert!(verify_mailgun("key-1", "1764300000", "tok", &sig, 1_764_309_000).is_err());
        assert!(
            verify_mailgun("key-1", &i64::MIN.to_string(), "tok", &sig, 1_764_300_000).is_err()
        );
    }
}
