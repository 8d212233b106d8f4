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

async fn number(txn: &DatabaseTransaction, order_id: &str) -> Result<String, HandlerError> {
    let id = fields::uuid("order_id", order_id)?;
    Ok(storage::order(txn, id)
        .await?
        .ok_or_else(|| HandlerError::transient(format!("order {id} not known yet")))?
        .order_number)
}

impl Handler for RefundsHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let now = self.n.clock.now();
            let (cause, template, user, vars) = if d.subject.ends_with(".requested") {
                let e: RefundRequested = d.decode()?;
                // An admin's refund needs no acknowledgement of a request.
                if e.requested_by != e.user_id {
                    return Ok(());
                }
                let vars = serde_json::json!({
                    "order_number": number(txn, &e.order_id).await?,
                    "amount": notify::money(e.amount_minor, &e.currency)?,
                });
                (
                    format!("refund-request:{}", e.refund_request_id),
                    Template::RefundRequested,
                    e.user_id,
                    vars,
                )
            } else if d.subject.ends_with(".issued") {
                let e: RefundIssued = d.decode()?;
                let vars = serde_json::json!({
                    "order_number": number(txn, &e.order_id).await?,
                    "history_url": format!("{}/payments", self.n.base_url),
                });
                (
                    format!("refund:{}", e.refund_id),
                    Template::RefundApproved,
                    e.user_id,
                    vars,
                )
            } else if d.subject.ends_with(".rejected") {
                let e: RefundRejected = d.decode()?;
                let vars = serde_json::json!({
                    "order_number": number(txn, &e.order_id).await?,
                    "reason": e.reason,
                });
                (
                    format!("refund-request:{}", e.refund_request_id),
                    Template::RefundRejected,
                    e.user_id,
                    vars,
                )
            } else {
                return Ok(());
            };
            notify::send(txn, &self.n, &cause, template, &user, vars, now).await
        })
    }
}
