//! `commerce.payment.failed` → `payment-failed`, with the link to pay the order again.

use crate::Notifier;
use crate::domain::templates::Template;
use crate::notify;
use crate::storage;
use bus::{Delivery, Handler, HandlerError, HandlerFuture};
use events::commerce::v1::PaymentFailed;
use events::fields;
use sea_orm::DatabaseTransaction;

pub struct PaymentFailedHandler {
    pub n: Notifier,
}

impl Handler for PaymentFailedHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let e: PaymentFailed = d.decode()?;
            let order_id = fields::uuid("order_id", &e.order_id)?;
            // The order's creation comes first; until its event is here, wait for it.
            let order = storage::order(txn, order_id).await?.ok_or_else(|| {
                HandlerError::transient(format!("order {order_id} not known yet"))
            })?;
            let vars = serde_json::json!({
                "order_number": order.order_number,
                "reason": if e.failure_reason.is_empty() { "the payment was declined".to_string() } else { e.failure_reason.clone() },
                "retry_url": format!("{}/orders/{order_id}/pay", self.n.base_url),
            });
            let email = notify::Email {
                cause: format!("payment-failed:{}", d.envelope.id),
                template: Template::PaymentFailed,
                user_id: &e.user_id,
                vars,
                department: Some(&order.department_id),
                certificate_id: None,
                wait_for_learner: true,
            };
            notify::send(txn, &self.n, email, self.n.clock.now()).await
        })
    }
}
