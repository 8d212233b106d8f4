//! `commerce.refund.issued` (one event per refunded line) → one reversal per ledger entry of the
//! line, split exactly like the entry; the last reversal takes what is left, so a full refund
//! nets every party to zero. Each reversal is scheduled for the Payout Platform after its entry.

use super::ledger_error;
use crate::domain::ledger::{self, Refundable};
use crate::storage::{self, EntryRow, REVENUE, REVERSAL};
use bus::{Delivery, Handler, HandlerError, HandlerFuture};
use events::commerce::v1::RefundIssued;
use events::fields;
use kernel::Clock;
use sea_orm::DatabaseTransaction;
use std::sync::Arc;
use tokio::sync::Notify;

pub struct RefundIssuedHandler {
    pub wake: Arc<Notify>,
    pub clock: Arc<dyn Clock>,
}

impl Handler for RefundIssuedHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let e: RefundIssued = d.decode()?;
            let refund_id = fields::uuid("refund_id", &e.refund_id)?;
            let item = fields::uuid("order_item_id", &e.order_item_id)?;
            let issued_at = fields::time("issued_at", &e.issued_at)?;
            storage::lock_line(txn, item).await?;
            let rows = storage::of_line(txn, item).await?;
            if rows.iter().any(|r| r.refund_id == Some(refund_id)) {
                return Ok(());
            }
            let revenue: Vec<&EntryRow> = rows.iter().filter(|r| r.kind == REVENUE).collect();
            if revenue.is_empty() {
                // The line's order.completed has not reached us yet: try again shortly.
                return Err(HandlerError::transient(format!(
                    "refund {refund_id}: line {item} not recorded yet"
                )));
            }
            let mut refundable = Vec::with_capacity(revenue.len());
            for r in &revenue {
                if r.currency != e.currency {
                    return Err(HandlerError::permanent(format!(
                        "refund in {} of an entry in {}",
                        e.currency, r.currency
                    )));
                }
                let mut remaining = r.parts();
                let mut settle = r.settlement_parts();
                for x in rows.iter().filter(|x| x.reverses == Some(r.id)) {
                    remaining = remaining.checked_add(&x.parts()).map_err(ledger_error)?;
                    settle = settle
                        .checked_add(&x.settlement_parts())
                        .map_err(ledger_error)?;
                }
                refundable.push(Refundable {
                    remaining,
                    settlement_remaining: settle,
                });
            }
            let left: i64 = refundable.iter().map(|r| r.remaining.gross).sum();
            if e.line_full && e.amount_minor < left {
                // An earlier refund of the line has not reached the ledger yet: once it has, this
                // one empties the line.
                return Err(HandlerError::transient(format!(
                    "refund {refund_id} closes line {item} with {} but the ledger has {left} left",
                    e.amount_minor
                )));
            }
            let reversals = ledger::reverse(e.amount_minor, &refundable).map_err(ledger_error)?;
            let now = self.clock.now();
            let mut scheduled = false;
            for (orig, (parts, settle)) in revenue.iter().zip(reversals) {
                if parts.gross == 0 {
                    continue;
                }
                let mut row = (*orig).clone();
                row.id = kernel::new_id();
                row.kind = REVERSAL.into();
                row.reverses = Some(orig.id);
                row.refund_id = Some(refund_id);
                row.refund_reason = Some(e.reason.clone());
                row.line_full = e.line_full;
                row.recorded_at = issued_at;
                row.created_at = now;
                row.set_parts(&parts, &settle);
                if storage::record(txn, &row, now).await? {
                    scheduled = true;
                }
            }
            if scheduled {
                bus::wake_after_commit(&self.wake);
            }
            Ok(())
        })
    }
}
