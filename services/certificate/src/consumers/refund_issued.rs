//! `commerce.refund.issued` with `lineFull` → the line's courses are no longer held, and the
//! certificates they gave are revoked: the course certificate (unless the learner still holds
//! the course through another line) and any program certificate that depended on it.

use crate::issue;
use crate::storage;
use bus::{Delivery, Handler, HandlerFuture};
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
            if !e.line_full || e.order_item_id.is_empty() {
                return Ok(());
            }
            let line = fields::uuid("order_item_id", &e.order_item_id)?;
            let now = self.clock.now();
            // Public (verification shows it): no ids.
            let reason = "the order line was refunded in full".to_string();
            issue::lock_learner(txn, &e.user_id).await?;
            // Kept, so a refund that overtakes its order's completion still ends the line.
            storage::remember_refunded_line(txn, line, now).await?;
            let ended = storage::end_holdings(txn, line, None, "refunded").await?;
            for h in &ended {
                if !storage::active_holdings_of_course(txn, &h.user_id, h.course_id)
                    .await?
                    .is_empty()
                {
                    continue;
                }
                if let Some(cert) = storage::of_course(txn, &h.user_id, h.course_id).await? {
                    issue::revoke(txn, cert.id, &reason, "refund", now).await?;
                }
            }
            // A program line: its own certificate goes with it, unless the learner still holds
            // the program through another line.
            if let Some(program_id) = ended.iter().find_map(|h| h.program_id)
                && storage::program_holdings(txn, &e.user_id, program_id)
                    .await?
                    .is_empty()
            {
                for cert in storage::active_program(txn, &e.user_id, program_id).await? {
                    issue::revoke(txn, cert.id, &reason, "refund", now).await?;
                }
            }
            Ok(())
        })
    }
}
