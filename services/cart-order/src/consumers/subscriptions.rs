//! `commerce.subscription.*` → which learners have a live subscription (only their course
//! additions ask payment about coverage); on `ended`, the subscription's orders still waiting for
//! their payment (a period left unpaid) fail, so their open payments are cancelled
//! (`order.failed`). A payment captured afterwards is refunded as for any failed order.

use crate::domain::{CartOrderError, OrderEvent};
use crate::storage;
use bus::{Delivery, Handler, HandlerError, HandlerFuture};
use events::commerce::v1::SubscriptionChanged;
use events::fields;
use kernel::Clock;
use sea_orm::DatabaseTransaction;
use std::sync::Arc;

pub struct SubscriptionsHandler {
    pub clock: Arc<dyn Clock>,
}

impl Handler for SubscriptionsHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let e: SubscriptionChanged = d.decode()?;
            let subscription = fields::uuid("subscription_id", &e.subscription_id)?;
            let at = fields::time("changed_at", &e.changed_at)?;
            let live = e.status != "cancelled";
            storage::note_subscriber(txn, subscription, &e.user_id, live, at).await?;
            if live {
                return Ok(());
            }
            let now = self.clock.now();
            for order in storage::lock_pending_of_subscription(txn, subscription).await? {
                storage::fail(
                    txn,
                    &order,
                    OrderEvent::Expired,
                    None,
                    "not paid: the subscription ended",
                    now,
                )
                .await
                .map_err(|err| match err {
                    CartOrderError::Db(db) => db.into(),
                    other => HandlerError::permanent(other.to_string()),
                })?;
            }
            Ok(())
        })
    }
}
