//! `commerce.registration.rejected` (by an enrollment-admin or the LMS) → a refund request for that
//! course's share of what the learner paid (REG-009). It still waits for a billing-admin's
//! approval (ADR-001). A free order, or a registration already asked for, changes nothing.

use crate::storage::{self, refund_requests};
use bus::{Delivery, Handler, HandlerError, HandlerFuture};
use events::commerce::v1::RegistrationChanged;
use events::fields;
use kernel::Clock;
use sea_orm::DatabaseTransaction;
use std::sync::Arc;

pub struct RegistrationRejectedHandler {
    pub clock: Arc<dyn Clock>,
}

impl Handler for RegistrationRejectedHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let e: RegistrationChanged = d.decode()?;
            if e.status != "rejected" {
                return Ok(());
            }
            let registration = fields::uuid("registration_id", &e.registration_id)?;
            let order = fields::uuid("order_id", &e.order_id)?;
            if e.gross_minor <= 0 {
                tracing::info!(%registration, "a rejected registration with nothing paid: no refund");
                return Ok(());
            }
            let Some(payment) = storage::captured_for_order(txn, order).await? else {
                tracing::info!(%registration, %order, "no captured payment for a rejected registration");
                return Ok(());
            };
            if payment.currency != e.currency {
                return Err(HandlerError::permanent(format!(
                    "registration {registration} is in {}, its payment in {}",
                    e.currency, payment.currency
                )));
            }
            let reason = if e.rejection_reason.is_empty() {
                "registration rejected".to_string()
            } else {
                format!("registration rejected: {}", e.rejection_reason)
            };
            refund_requests::insert(
                txn,
                &refund_requests::NewRequest {
                    id: kernel::new_id(),
                    payment_id: payment.id,
                    order_id: order,
                    user_id: e.user_id.clone(),
                    amount_minor: e.gross_minor,
                    currency: e.currency.clone(),
                    reason,
                    requested_by: "registration".into(),
                    registration_id: Some(registration),
                    order_item_ids: vec![fields::uuid("order_item_id", &e.order_item_id)?],
                },
                self.clock.now(),
            )
            .await?;
            Ok(())
        })
    }
}
