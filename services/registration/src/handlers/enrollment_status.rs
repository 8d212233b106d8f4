//! The LMS's `POST /api/v1/webhooks/enrollment-status`, relayed by the gateway as
//! `inbound.lms.enrollment-status`: verified (Standard Webhooks), then `enrollment.approved` →
//! enrolled, `enrollment.rejected` → rejected with the reason. Duplicates and out-of-order
//! deliveries are harmless: only the transitions the state machine allows happen.

use crate::storage::{self, Move};
use bus::{Delivery, Handler, HandlerError, HandlerFuture};
use chrono::Utc;
use sea_orm::DatabaseTransaction;
use serde::Deserialize;
use uuid::Uuid;

pub struct EnrollmentStatusHandler {
    pub secret: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusWebhook {
    event: String,
    payload: StatusPayload,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusPayload {
    enrollment_id: Option<String>,
    order_item_id: String,
    #[serde(default)]
    processed_by: Option<String>,
    #[serde(default)]
    rejection_reason: Option<String>,
}

fn header(d: &Delivery, name: &str) -> Option<String> {
    d.headers
        .get(format!("http-{name}").as_str())
        .map(|v| v.as_str().to_string())
}

impl Handler for EnrollmentStatusHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let (Some(msg_id), Some(ts), Some(sig)) = (
                header(d, "webhook-id"),
                header(d, "webhook-timestamp"),
                header(d, "webhook-signature"),
            ) else {
                tracing::warn!("unsigned enrollment-status webhook dropped");
                return Ok(());
            };
            let ts: i64 = ts.parse().unwrap_or_default();
            if let Err(e) = web::standard_webhooks::verify(
                &self.secret,
                &msg_id,
                ts,
                &sig,
                &d.payload,
                d.envelope.time.timestamp(),
            ) {
                tracing::warn!(error = %e, "enrollment-status webhook refused; dropped");
                return Ok(());
            }
            let hook: StatusWebhook = serde_json::from_slice(&d.payload)
                .map_err(|e| HandlerError(format!("malformed webhook: {e}")))?;
            let Ok(reg_id) = Uuid::parse_str(&hook.payload.order_item_id) else {
                return Err(HandlerError(format!(
                    "unknown orderItemId `{}`",
                    hook.payload.order_item_id
                )));
            };
            let now = Utc::now();
            let by = hook
                .payload
                .processed_by
                .clone()
                .unwrap_or_else(|| "lms".into());
            let enrollment = hook.payload.enrollment_id.as_deref();
            let result = match hook.event.as_str() {
                "enrollment.approved" => {
                    storage::transition(
                        txn,
                        reg_id,
                        Move {
                            from: &["approved"],
                            to: "enrolled",
                            by: &by,
                            reason: None,
                            enrollment,
                        },
                        now,
                    )
                    .await?
                }
                "enrollment.rejected" => {
                    let reason = hook
                        .payload
                        .rejection_reason
                        .clone()
                        .unwrap_or_else(|| "rejected by the LMS".into());
                    storage::transition(
                        txn,
                        reg_id,
                        Move {
                            from: &["approved"],
                            to: "rejected",
                            by: &by,
                            reason: Some(&reason),
                            enrollment,
                        },
                        now,
                    )
                    .await?
                }
                other => {
                    tracing::debug!(event = other, "enrollment webhook ignored");
                    return Ok(());
                }
            };
            match result {
                Ok(_) => storage::delivered(txn, reg_id, enrollment, now).await?,
                Err(e) => {
                    tracing::info!(registration = %reg_id, event = %hook.event, reason = %e.0, "webhook changes nothing")
                }
            }
            Ok(())
        })
    }
}
