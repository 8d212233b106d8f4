//! The LMS's `POST /api/v1/webhooks/enrollment-status`, relayed by the gateway as
//! `inbound.lms.enrollment-status`: verified (Standard Webhooks), then `enrollment.approved` →
//! enrolled, `enrollment.rejected` → rejected with the reason. Duplicates and out-of-order
//! deliveries are harmless: only the transitions the state machine allows happen.

use crate::domain::RegistrationEvent;
use crate::storage::{self, MoveBy, TransitionError};
use bus::{Delivery, Handler, HandlerError, HandlerFuture};
use kernel::Clock;
use sea_orm::DatabaseTransaction;
use serde::Deserialize;
use std::sync::Arc;
use uuid::Uuid;

pub struct EnrollmentStatusHandler {
    pub secret: kernel::Secret,
    pub clock: Arc<dyn Clock>,
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

impl Handler for EnrollmentStatusHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            if let Err(e) = web::standard_webhooks::verify_headers(
                self.secret.expose(),
                |name| d.http_header(name),
                &d.payload,
                d.envelope.time.timestamp(),
            ) {
                tracing::warn!(error = %e, "enrollment-status webhook refused; dropped");
                return Ok(());
            }
            let hook: StatusWebhook = serde_json::from_slice(&d.payload)
                .map_err(|e| HandlerError::permanent(format!("malformed webhook: {e}")))?;
            let Ok(reg_id) = Uuid::parse_str(&hook.payload.order_item_id) else {
                return Err(HandlerError::permanent(format!(
                    "unknown orderItemId `{}`",
                    hook.payload.order_item_id
                )));
            };
            let now = self.clock.now();
            let by = hook
                .payload
                .processed_by
                .clone()
                .unwrap_or_else(|| "lms".into());
            let enrollment = hook.payload.enrollment_id.as_deref();
            let reason = hook.payload.rejection_reason.clone();
            let (event, reason) = match hook.event.as_str() {
                "enrollment.approved" => (RegistrationEvent::LmsEnrolled, None),
                "enrollment.rejected" => (
                    RegistrationEvent::LmsRejected,
                    Some(reason.unwrap_or_else(|| "rejected by the LMS".into())),
                ),
                other => {
                    tracing::debug!(event = other, "enrollment webhook ignored");
                    return Ok(());
                }
            };
            let result = storage::transition(
                txn,
                reg_id,
                event,
                MoveBy {
                    by: &by,
                    reason: reason.as_deref(),
                    enrollment,
                },
                now,
            )
            .await?;
            match result {
                Ok(_) => {
                    storage::DELIVERIES
                        .delivered(txn, reg_id, enrollment, false, now)
                        .await?
                }
                Err(TransitionError::Illegal(e)) => {
                    tracing::info!(registration = %reg_id, event = %hook.event, reason = %e, "webhook changes nothing")
                }
                Err(TransitionError::NotFound) => {
                    return Err(HandlerError::permanent(format!(
                        "enrollment-status webhook for unknown registration {reg_id}"
                    )));
                }
            }
            Ok(())
        })
    }
}
