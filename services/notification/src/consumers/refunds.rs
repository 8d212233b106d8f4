//! `commerce.refund.*` → `refund-requested` (the learner asked), `refund-approved` (once per
//! refund, however many lines it touched), `refund-rejected` (with the reason).

use crate::Notifier;
use crate::domain::templates::Template;
use crate::notify;
use crate::storage;
use bus::{Delivery, Handler, HandlerError, HandlerFuture};
use events::commerce::v1::{RefundIssued, RefundRejected, RefundRequested};
use events::fields;
use sea_orm::DatabaseTransaction;

pub struct RefundsHandler {
    pub n: Notifier,
}

async fn order(
    txn: &DatabaseTransaction,
    order_id: &str,
) -> Result<storage::OrderRow, HandlerError> {
    let id = fields::uuid("order_id", order_id)?;
    storage::order(txn, id)
        .await?
        .ok_or_else(|| HandlerError::transient(format!("order {id} not known yet")))
}

impl Handler for RefundsHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let now = self.n.clock.now();
            let (cause, template, user, order, vars) = if d.subject.ends_with(".requested") {
                let e: RefundRequested = d.decode()?;
                // An admin's refund needs no acknowledgement of a request.
                if e.requested_by != e.user_id {
                    return Ok(());
                }
                let o = order(txn, &e.order_id).await?;
                let vars = serde_json::json!({
                    "order_number": o.order_number,
                    "amount": notify::money(e.amount_minor, &e.currency)?,
                });
                let cause = format!("refund-request:{}", e.refund_request_id);
                (cause, Template::RefundRequested, e.user_id, o, vars)
            } else if d.subject.ends_with(".issued") {
                let e: RefundIssued = d.decode()?;
                let o = order(txn, &e.order_id).await?;
                let vars = serde_json::json!({
                    "order_number": o.order_number,
                    "history_url": format!("{}/payments", self.n.base_url),
                });
                let cause = format!("refund:{}", e.refund_id);
                (cause, Template::RefundApproved, e.user_id, o, vars)
            } else if d.subject.ends_with(".rejected") {
                let e: RefundRejected = d.decode()?;
                let o = order(txn, &e.order_id).await?;
                let vars = serde_json::json!({
                    "order_number": o.order_number,
                    "reason": e.reason,
                });
                let cause = format!("refund-request:{}", e.refund_request_id);
                (cause, Template::RefundRejected, e.user_id, o, vars)
            } else {
                return Ok(());
            };
            let email = notify::Email {
                cause,
                template,
                user_id: &user,
                vars,
                department: Some(&order.department_id),
                certificate_id: None,
                wait_for_learner: true,
            };
            notify::send(txn, &self.n, email, now).await
        })
    }
}
