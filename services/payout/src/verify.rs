//! `commerce ledger verify`: recomputes every invariant of the ledger from its rows.
//!
//! Per entry: net = gross − fee and the breakdown sums to net, in both currencies; a reversal
//! is not positive and names an entry of its own line. Per order: Σ gross of the revenue
//! entries = the captured amount they all record, in both currencies. Per revenue entry:
//! reversals never take back more than it recorded, and a line closed by a full refund is at
//! exactly zero for every party.

use crate::domain::ledger::Parts;
use crate::storage::{self, EntryRow, REVENUE, REVERSAL};
use sea_orm::{ConnectionTrait, DbErr};
use std::collections::HashMap;
use uuid::Uuid;

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub entry: Uuid,
    pub order: Uuid,
    pub problem: String,
}

/// Checks the entries of one order.
pub fn check_order(rows: &[EntryRow]) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut bad = |e: &EntryRow, p: String| {
        out.push(Violation {
            entry: e.id,
            order: e.order_id,
            problem: p,
        })
    };
    let by_id: HashMap<Uuid, &EntryRow> = rows.iter().map(|r| (r.id, r)).collect();
    let mut taken: HashMap<Uuid, (Parts, Parts, bool)> = HashMap::new();
    for e in rows {
        if !e.parts().is_consistent() {
            bad(e, format!("amounts do not add up: {:?}", e.parts()));
        }
        if !e.settlement_parts().is_consistent() {
            bad(
                e,
                format!(
                    "settlement amounts do not add up: {:?}",
                    e.settlement_parts()
                ),
            );
        }
        if e.platform_bps + e.creator_bps + e.instructor_bps != 10_000 {
            bad(e, "the split's shares do not sum to one".into());
        }
        if e.kind == REVERSAL {
            if e.gross_minor > 0 || e.s_gross_minor > 0 {
                bad(e, "a reversal with a positive amount".into());
            }
            match e.reverses.and_then(|r| by_id.get(&r)) {
                Some(orig) if orig.order_item_id == e.order_item_id && orig.kind == REVENUE => {
                    let t =
                        taken
                            .entry(orig.id)
                            .or_insert((Parts::default(), Parts::default(), false));
                    match (
                        t.0.checked_add(&e.parts()),
                        t.1.checked_add(&e.settlement_parts()),
                    ) {
                        (Ok(a), Ok(b)) => {
                            t.0 = a;
                            t.1 = b;
                        }
                        _ => bad(e, "reversal amounts overflow".into()),
                    }
                    t.2 |= e.line_full;
                }
                _ => bad(e, "a reversal of no revenue entry of its line".into()),
            }
        }
    }
    let revenue: Vec<&EntryRow> = rows.iter().filter(|e| e.kind == REVENUE).collect();
    if let Some(first) = revenue.first() {
        let gross: i64 = revenue.iter().map(|e| e.gross_minor).sum();
        let s_gross: i64 = revenue.iter().map(|e| e.s_gross_minor).sum();
        if gross != first.captured_minor || s_gross != first.s_captured_minor {
            bad(
                first,
                format!(
                    "the order's entries make {gross} / {s_gross} but {} / {} was captured",
                    first.captured_minor, first.s_captured_minor
                ),
            );
        }
        if revenue.iter().any(|e| {
            e.captured_minor != first.captured_minor || e.s_captured_minor != first.s_captured_minor
        }) {
            bad(
                first,
                "the order's entries disagree on what was captured".into(),
            );
        }
    }
    for e in rows.iter().filter(|e| e.kind == REVENUE) {
        let Some((own, settle, full)) = taken.get(&e.id) else {
            continue;
        };
        let (Ok(left), Ok(s_left)) = (
            e.parts().checked_add(own),
            e.settlement_parts().checked_add(settle),
        ) else {
            bad(e, "remaining amounts overflow".into());
            continue;
        };
        if left.gross < 0 || s_left.gross < 0 {
            bad(
                e,
                format!("refunded beyond what it recorded: {} left", left.gross),
            );
        }
        if *full && (left != Parts::default() || s_left != Parts::default()) {
            bad(
                e,
                format!("fully refunded but not at zero: {left:?} / {s_left:?}"),
            );
        }
    }
    out
}

/// Orders read per query by [`verify`].
const ORDERS_PER_READ: usize = 500;

/// Checks the whole ledger, order by order, reading the entries of 500 orders at a time.
pub async fn verify(db: &impl ConnectionTrait) -> Result<(usize, Vec<Violation>), DbErr> {
    let orders = storage::order_ids(db).await?;
    let mut out = Vec::new();
    for batch in orders.chunks(ORDERS_PER_READ) {
        let rows = storage::of_orders(db, batch).await?;
        for order in rows.chunk_by(|a, b| a.order_id == b.order_id) {
            out.extend(check_order(order));
        }
    }
    Ok((orders.len(), out))
}
