//! `commerce.payment.succeeded` → order completed; `commerce.payment.failed` → order failed.
//! The order's own state guard makes every duplicate, late or reordered signal a no-op.

use crate::orders;
use crate::storage;
use bus::{Delivery, Handler, HandlerError, HandlerFuture};
use events::Event;
use events::commerce::v1::{PaymentFailed, PaymentSucceeded};
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

pub struct PaymentHandler;

fn id(s: &str) -> Result<Uuid, HandlerError> {
    Uuid::parse_str(s).map_err(|_| HandlerError(format!("not a UUID: `{s}`")))
}

fn api(e: web::ApiError) -> HandlerError {
    HandlerError(e.to_string())
}

impl Handler for PaymentHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let now = chrono::Utc::now();
            match d.envelope.event_type.as_str() {
                PaymentSucceeded::TYPE => {
                    let e: PaymentSucceeded = d.decode()?;
                    let order_id = id(&e.order_id)?;
                    let Some(order) = storage::lock_order(txn, order_id).await? else {
                        return Err(HandlerError(format!(
                            "payment for unknown order {order_id}"
                        )));
                    };
                    // A failed order still completes: the money was captured (see storage::complete).
                    if order.status != "pending" && order.status != "failed" {
                        if order.status != "completed" {
                            tracing::error!(order = %order_id, status = %order.status, "payment succeeded for a closed order; needs a refund");
                        }
                        return Ok(());
                    }
                    if e.amount_minor != order.total_minor || e.currency != order.currency.trim() {
                        return Err(HandlerError(format!(
                            "payment of {} {} does not match order total {} {}",
                            e.amount_minor, e.currency, order.total_minor, order.currency
                        )));
                    }
                    let items = storage::order_items(txn, &[order_id])
                        .await?
                        .remove(&order_id)
                        .unwrap_or_default();
                    orders::complete(txn, &order, &items, Some(id(&e.payment_id)?), now)
                        .await
                        .map_err(api)?;
                }
                PaymentFailed::TYPE => {
                    let e: PaymentFailed = d.decode()?;
                    let order_id = id(&e.order_id)?;
                    if let Some(order) = storage::lock_order(txn, order_id).await? {
                        orders::fail(
                            txn,
                            &order,
                            Some(id(&e.payment_id)?),
                            &e.failure_reason,
                            now,
                        )
                        .await
                        .map_err(api)?;
                    }
                }
                other => tracing::debug!(event_type = other, "ignored"),
            }
            Ok(())
        })
    }
}
