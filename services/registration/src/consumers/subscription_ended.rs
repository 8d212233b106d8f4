//! `commerce.subscription.ended` → every registration made through the subscription is
//! cancelled, and the LMS is asked to unenroll each one whose enrollment request it received
//! (the shared outbound delivery, with retries and one idempotency id). Certificates earned
//! while it was active are the certificate service's and stay valid.

use crate::domain::RegistrationEvent;
use crate::storage;
use bus::{Delivery, Handler, HandlerFuture};
use events::commerce::v1::SubscriptionChanged;
use events::fields;
use kernel::Clock;
use sea_orm::DatabaseTransaction;
use std::sync::Arc;
use tokio::sync::Notify;

pub struct SubscriptionEndedHandler {
    pub clock: Arc<dyn Clock>,
    /// Wakes the unenrollment worker.
    pub wake: Arc<Notify>,
}

impl Handler for SubscriptionEndedHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let e: SubscriptionChanged = d.decode()?;
            // Only an end of access (a paused subscription keeps what it enrolled in).
            if e.access || e.status != "cancelled" {
                return Ok(());
            }
            let subscription = fields::uuid("subscription_id", &e.subscription_id)?;
            let now = self.clock.now();
            let reason = if e.reason.is_empty() {
                "subscription ended".to_string()
            } else {
                format!("subscription ended: {}", e.reason)
            };
            storage::lock_subscription_events(txn, subscription).await?;
            storage::mark_subscription_ended(txn, subscription, now).await?;
            let regs = storage::lock_of_subscription(txn, subscription).await?;
            let scheduled = super::cancel_and_unenroll(
                txn,
                regs,
                RegistrationEvent::AccessEnded,
                "subscription",
                &reason,
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
