//! `commerce.refund.issued` → the order's refunded total grows; a full refund moves it to
//! `refunded` (`order.refunded` goes out either way). The inbox applies each event once.

use crate::domain::CartOrderError;
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
            match storage::refund(txn, &order, amount, self.clock.now()).await {
                Ok(true) => Ok(()),
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
