//! `commerce.refund.issued` for a line now wholly refunded → every registration of that line is
//! cancelled, and the LMS is asked to unenroll each one whose enrollment request it received
//! (through the shared outbound delivery, with retries and one idempotency id). The line is
//! remembered, so a refund that overtakes the order's completion still leaves no registration.
//! A partial refund of a line changes nothing here.

use crate::domain::RegistrationEvent;
use crate::storage;
use bus::{Delivery, Handler, HandlerFuture};
use events::commerce::v1::RefundIssued;
use events::fields;
use kernel::Clock;
use sea_orm::DatabaseTransaction;
use std::sync::Arc;
use tokio::sync::Notify;

pub struct RefundIssuedHandler {
    pub clock: Arc<dyn Clock>,
    /// Wakes the unenrollment worker.
    pub wake: Arc<Notify>,
}

impl Handler for RefundIssuedHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let e: RefundIssued = d.decode()?;
            if !e.line_full {
                return Ok(());
            }
            let order = fields::uuid("order_id", &e.order_id)?;
            let line = fields::uuid("order_item_id", &e.order_item_id)?;
            let now = self.clock.now();
            storage::lock_order_events(txn, order).await?;
            storage::mark_line_refunded(txn, order, line, now).await?;
            let by = if e.approved_by.is_empty() {
                "refund".to_string()
            } else {
                e.approved_by.clone()
            };
            let regs = storage::lock_of_line(txn, order, line).await?;
            let scheduled = super::cancel_and_unenroll(
                txn,
                regs,
                RegistrationEvent::Refunded,
                &by,
                "refunded",
                now,
            )
            .await?;
            if scheduled {
                bus::wake_after_commit(&self.wake);
            }
            Ok(())
        })
    }
}
