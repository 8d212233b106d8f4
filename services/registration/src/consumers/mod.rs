//! Consumed events, one file each.

pub mod enrollment_status;
pub mod order_completed;
pub mod refund_issued;
pub mod subscription_ended;

use crate::domain::RegistrationEvent;
use crate::storage::{self, MoveBy, RegistrationRow, TransitionError};
use bus::HandlerError;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;

/// Cancels each of `regs` (locked by the caller) for `event`, and schedules the LMS's
/// unenrollment of each whose enrollment request it received. Returns whether any was scheduled
/// (the unenrollment worker is to be woken).
pub async fn cancel_and_unenroll(
    txn: &DatabaseTransaction,
    regs: Vec<RegistrationRow>,
    event: RegistrationEvent,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, HandlerError> {
    let mut scheduled = false;
    for r in regs {
        let sent = r.delivery_status.as_deref() == Some("delivered");
        let moved = storage::transition(
            txn,
            r.id,
            event,
            MoveBy {
                by,
                reason: Some(reason),
                enrollment: None,
            },
            now,
        )
        .await?;
        match moved {
            Ok(_) if sent => {
                storage::UNENROLLMENTS
                    .schedule(txn, r.id, kernel::new_id(), now)
                    .await?;
                scheduled = true;
            }
            Ok(_) => {}
            Err(TransitionError::Illegal(why)) => {
                tracing::info!(registration = %r.id, reason = %why, "the registration stays as it is");
            }
            Err(TransitionError::NotFound) => {
                return Err(HandlerError::transient(format!(
                    "registration {} vanished under its lock",
                    r.id
                )));
            }
        }
    }
    Ok(scheduled)
}
