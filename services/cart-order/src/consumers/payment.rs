//! `commerce.payment.disputed` → the chargeback recorded on the order (shown to billing-admins);
//! `commerce.payment.succeeded` → order completed; `commerce.payment.failed` (a declined
//! attempt) leaves the order payable.
//! The order's own state guard makes every duplicate, late or reordered signal a no-op.

use crate::domain::order::{Capture, on_capture};
use crate::domain::{CartOrderError, OrderEvent};
use crate::storage;
use bus::{Delivery, Handler, HandlerError, HandlerFuture};
use events::Event;
use events::commerce::v1::{PaymentDisputed, PaymentFailed, PaymentSucceeded};
use kernel::Clock;
use sea_orm::DatabaseTransaction;
use std::sync::Arc;

pub struct PaymentHandler {
    pub clock: Arc<dyn Clock>,
}

fn handler_error(e: CartOrderError) -> HandlerError {
    match e {
        CartOrderError::Db(db) => db.into(),
        other => HandlerError::permanent(other.to_string()),
    }
}

impl Handler for PaymentHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let now = self.clock.now();
            match d.envelope.event_type.as_str() {
                PaymentSucceeded::TYPE => {
                    let e: PaymentSucceeded = d.decode()?;
                    let order_id = events::fields::uuid("order_id", &e.order_id)?;
                    let Some(order) = storage::lock_order(txn, order_id).await? else {
                        return Err(HandlerError::permanent(format!(
                            "payment for unknown order {order_id}"
                        )));
                    };
                    match on_capture(order.state()?) {
                        Capture::Complete => {}
                        Capture::AlreadyCompleted => return Ok(()),
                        Capture::NeedsRefund => {
                            tracing::error!(order = %order_id, status = %order.status, "payment succeeded for a closed order; needs a refund");
                            return Ok(());
                        }
                    }
                    let total = order.total()?;
                    let paid = kernel::Currency::parse(&e.currency)
                        .map(|c| kernel::Money::new(e.amount_minor, c))
                        .map_err(|err| HandlerError::permanent(err.to_string()))?;
                    if paid != total {
                        return Err(HandlerError::permanent(format!(
                            "payment of {paid} does not match order total {total}"
                        )));
                    }
                    let items = storage::order_items(txn, &[order_id])
                        .await?
                        .remove(&order_id)
                        .unwrap_or_default();
                    let captured = crate::events::Captured {
                        payment_id: events::fields::uuid("payment_id", &e.payment_id)?,
                        transaction_id: e.processor_transaction_id.clone(),
                        fee_minor: e.processor_fee_minor,
                    };
                    storage::complete(
                        txn,
                        &order,
                        &items,
                        OrderEvent::PaymentCaptured,
                        Some(&captured),
                        now,
                    )
                    .await
                    .map_err(handler_error)?;
                }
                PaymentDisputed::TYPE => {
                    let e: PaymentDisputed = d.decode()?;
                    let order_id = events::fields::uuid("order_id", &e.order_id)?;
                    let at = events::fields::time("disputed_at", &e.disputed_at)?;
                    if !storage::record_dispute(txn, order_id, &e.reason, at).await? {
                        tracing::info!(order = %order_id, "dispute already recorded");
                    }
                }
                PaymentFailed::TYPE => {
                    // A declined attempt leaves the order payable (PAY-006): the learner retries
                    // with another method; only expiry fails the order.
                    let e: PaymentFailed = d.decode()?;
                    tracing::info!(order = %e.order_id, reason = %e.failure_reason, "payment attempt declined; the order stays payable");
                }
                other => tracing::debug!(event_type = other, "ignored"),
            }
            Ok(())
        })
    }
}
