//! `commerce.refund.issued` (one per line a refund touches) → the line's and the order's refunded
//! totals grow; a full refund moves the order to `refunded` (`order.refunded` goes out either
//! way). The inbox applies each event once.

use crate::domain::{CartOrderError, OrderStatus};
use crate::storage;
use bus::{Delivery, Handler, HandlerError, HandlerFuture};
use events::commerce::v1::RefundIssued;
use events::fields;
use kernel::Clock;
use sea_orm::DatabaseTransaction;
use std::sync::Arc;

pub struct RefundIssuedHandler {
    pub clock: Arc<dyn Clock>,
}

impl Handler for RefundIssuedHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let e: RefundIssued = d.decode()?;
            let order_id = fields::uuid("order_id", &e.order_id)?;
            let currency = kernel::Currency::parse(&e.currency)
                .map_err(|err| HandlerError::permanent(err.to_string()))?;
            let amount = kernel::Money::new(e.amount_minor, currency);
            let Some(order) = storage::lock_order(txn, order_id).await? else {
                return Err(HandlerError::permanent(format!(
                    "refund for unknown order {order_id}"
                )));
            };
            // The payment's success and its refund leave payment together; a refund that
            // overtakes the capture (of a pending order, or a late one of an expired order)
            // waits for the order to complete.
            if matches!(order.state()?, OrderStatus::Pending | OrderStatus::Failed) {
                return Err(HandlerError::transient(format!(
                    "refund for order {order_id}, which its payment has not completed yet"
                )));
            }
            let line = fields::uuid("order_item_id", &e.order_item_id)?;
            match storage::refund(txn, &order, amount, self.clock.now()).await {
                Ok(true) => {
                    if storage::refund_line(txn, order_id, line, amount.amount_minor()).await? {
                        Ok(())
                    } else {
                        Err(HandlerError::permanent(format!(
                            "refund for order {order_id} names no line of it ({line})"
                        )))
                    }
                }
                Ok(false) => {
                    tracing::error!(order = %order_id, status = %order.status, "refund for an order that cannot take it");
                    Ok(())
                }
                Err(CartOrderError::Db(db)) => Err(db.into()),
                Err(other) => Err(HandlerError::permanent(other.to_string())),
            }
        })
    }
}
