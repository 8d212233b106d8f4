//! `commerce.refund.requested` (cart-order, for a learner's own completed order) → a request in
//! the billing-admins' queue. The inbox applies each event once; an order has one open request.

use crate::storage::{self, refund_requests};
use bus::{Delivery, Handler, HandlerError, HandlerFuture};
use events::commerce::v1::RefundRequested;
use events::fields;
use kernel::Clock;
use sea_orm::DatabaseTransaction;
use std::sync::Arc;

pub struct RefundRequestedHandler {
    pub clock: Arc<dyn Clock>,
}

impl Handler for RefundRequestedHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let e: RefundRequested = d.decode()?;
            let id = fields::uuid("refund_request_id", &e.refund_request_id)?;
            let payment_id = fields::uuid("payment_id", &e.payment_id)?;
            let order_id = fields::uuid("order_id", &e.order_id)?;
            let Some(payment) = storage::get(txn, payment_id).await? else {
                return Err(HandlerError::permanent(format!(
                    "refund request for unknown payment {payment_id}"
                )));
            };
            if payment.order_id != order_id || payment.currency != e.currency {
                return Err(HandlerError::permanent(format!(
                    "refund request {id} does not match payment {payment_id}"
                )));
            }
            let created = refund_requests::insert(
                txn,
                &refund_requests::NewRequest {
                    id,
                    payment_id,
                    order_id,
                    user_id: e.user_id.clone(),
                    amount_minor: e.amount_minor,
                    currency: e.currency.clone(),
                    reason: e.reason.clone(),
                    requested_by: e.requested_by.clone(),
                    registration_id: None,
                    order_item_ids: e
                        .order_item_ids
                        .iter()
                        .map(|id| fields::uuid("order_item_ids", id))
                        .collect::<Result<_, _>>()?,
                },
                self.clock.now(),
            )
            .await?;
            if !created {
                tracing::info!(order = %order_id, "the order already has an open refund request");
            }
            Ok(())
        })
    }
}
