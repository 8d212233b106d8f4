//! Ledger entries: inserted once, read many ways.

use crate::domain::ledger::Parts;
use chrono::{DateTime, Utc};
use db::stmt as pg;
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

pub const ENTRY_COLS: &str = "seq, id, kind, reverses, refund_id, refund_reason, line_full, order_id, order_number, \
    order_item_id, payment_id, transaction_id, course_id, lms_course_id, course_name, department_id, learner_id, \
    instructor_id, content_creator_id, currency, gross_minor, fee_minor, net_minor, platform_minor, creator_minor, \
    instructor_minor, platform_bps, creator_bps, instructor_bps, settlement_currency, exchange_rate, s_gross_minor, \
    s_fee_minor, s_net_minor, s_platform_minor, s_creator_minor, s_instructor_minor, captured_minor, s_captured_minor, \
    recorded_at, created_at";

#[derive(Debug, Clone, FromQueryResult)]
pub struct EntryRow {
    pub seq: i64,
    pub id: Uuid,
    pub kind: String,
    pub reverses: Option<Uuid>,
    pub refund_id: Option<Uuid>,
    pub refund_reason: Option<String>,
    pub line_full: bool,
    pub order_id: Uuid,
    pub order_number: String,
    pub order_item_id: Uuid,
    pub payment_id: Option<Uuid>,
    pub transaction_id: String,
    pub course_id: Uuid,
    pub lms_course_id: String,
    pub course_name: String,
    pub department_id: String,
    pub learner_id: String,
    pub instructor_id: String,
    pub content_creator_id: String,
    pub currency: String,
    pub gross_minor: i64,
    pub fee_minor: i64,
    pub net_minor: i64,
    pub platform_minor: i64,
    pub creator_minor: i64,
    pub instructor_minor: i64,
    pub platform_bps: i32,
    pub creator_bps: i32,
    pub instructor_bps: i32,
    pub settlement_currency: String,
    pub exchange_rate: Decimal,
    pub s_gross_minor: i64,
    pub s_fee_minor: i64,
    pub s_net_minor: i64,
    pub s_platform_minor: i64,
    pub s_creator_minor: i64,
    pub s_instructor_minor: i64,
    pub captured_minor: i64,
    pub s_captured_minor: i64,
    pub recorded_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

pub const REVENUE: &str = "revenue";
pub const REVERSAL: &str = "reversal";

impl EntryRow {
    pub fn parts(&self) -> Parts {
        Parts {
            gross: self.gross_minor,
            fee: self.fee_minor,
            net: self.net_minor,
            platform: self.platform_minor,
            creator: self.creator_minor,
            instructor: self.instructor_minor,
        }
    }

    pub fn settlement_parts(&self) -> Parts {
        Parts {
            gross: self.s_gross_minor,
            fee: self.s_fee_minor,
            net: self.s_net_minor,
            platform: self.s_platform_minor,
            creator: self.s_creator_minor,
            instructor: self.s_instructor_minor,
        }
    }

    pub fn set_parts(&mut self, p: &Parts, s: &Parts) {
        self.gross_minor = p.gross;
        self.fee_minor = p.fee;
        self.net_minor = p.net;
        self.platform_minor = p.platform;
        self.creator_minor = p.creator;
        self.instructor_minor = p.instructor;
        self.s_gross_minor = s.gross;
        self.s_fee_minor = s.fee;
        self.s_net_minor = s.net;
        self.s_platform_minor = s.platform;
        self.s_creator_minor = s.creator;
        self.s_instructor_minor = s.instructor;
    }
}

/// Inserts `e` unless its revenue line or its reversal is already recorded. True when inserted.
pub async fn insert(c: &impl ConnectionTrait, e: &EntryRow) -> Result<bool, DbErr> {
    let r = c
        .execute_raw(pg(
            "INSERT INTO ledger_entries (id, kind, reverses, refund_id, refund_reason, line_full, order_id,
                 order_number, order_item_id, payment_id, transaction_id, course_id, lms_course_id, course_name,
                 department_id, learner_id, instructor_id, content_creator_id, currency, gross_minor, fee_minor,
                 net_minor, platform_minor, creator_minor, instructor_minor, platform_bps, creator_bps,
                 instructor_bps, settlement_currency, exchange_rate, s_gross_minor, s_fee_minor, s_net_minor,
                 s_platform_minor, s_creator_minor, s_instructor_minor, captured_minor, s_captured_minor,
                 recorded_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
                 $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40)
             ON CONFLICT DO NOTHING",
            vec![
                e.id.into(),
                e.kind.clone().into(),
                e.reverses.into(),
                e.refund_id.into(),
                e.refund_reason.clone().into(),
                e.line_full.into(),
                e.order_id.into(),
                e.order_number.clone().into(),
                e.order_item_id.into(),
                e.payment_id.into(),
                e.transaction_id.clone().into(),
                e.course_id.into(),
                e.lms_course_id.clone().into(),
                e.course_name.clone().into(),
                e.department_id.clone().into(),
                e.learner_id.clone().into(),
                e.instructor_id.clone().into(),
                e.content_creator_id.clone().into(),
                e.currency.clone().into(),
                e.gross_minor.into(),
                e.fee_minor.into(),
                e.net_minor.into(),
                e.platform_minor.into(),
                e.creator_minor.into(),
                e.instructor_minor.into(),
                e.platform_bps.into(),
                e.creator_bps.into(),
                e.instructor_bps.into(),
                e.settlement_currency.clone().into(),
                e.exchange_rate.into(),
                e.s_gross_minor.into(),
                e.s_fee_minor.into(),
                e.s_net_minor.into(),
                e.s_platform_minor.into(),
                e.s_creator_minor.into(),
                e.s_instructor_minor.into(),
                e.captured_minor.into(),
                e.s_captured_minor.into(),
                e.recorded_at.into(),
                e.created_at.into(),
            ],
        ))
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Records `e` once, in the caller's transaction: the entry, its Payout Platform delivery, and
/// `commerce.revenue.recorded` in the outbox. False when it was already recorded.
pub async fn record(
    c: &impl ConnectionTrait,
    e: &EntryRow,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    if !insert(c, e).await? {
        return Ok(false);
    }
    super::DELIVERIES
        .schedule(c, e.id, kernel::new_id(), now)
        .await?;
    bus::enqueue(
        c,
        crate::NAME,
        ::events::subjects::REVENUE_RECORDED,
        &crate::events::revenue_recorded(e),
    )
    .await?;
    Ok(true)
}

/// Every entry of one order line (its revenue entries and their reversals), oldest first.
pub async fn of_line(c: &impl ConnectionTrait, order_item: Uuid) -> Result<Vec<EntryRow>, DbErr> {
    EntryRow::find_by_statement(pg(
        &format!("SELECT {ENTRY_COLS} FROM ledger_entries WHERE order_item_id = $1 ORDER BY seq"),
        vec![order_item.into()],
    ))
    .all(c)
    .await
}

pub async fn get(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<EntryRow>, DbErr> {
    EntryRow::find_by_statement(pg(
        &format!("SELECT {ENTRY_COLS} FROM ledger_entries WHERE id = $1"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

/// Serializes the recording of one order line's entries (a refund racing its line's revenue).
pub async fn lock_line(c: &impl ConnectionTrait, order_item: Uuid) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "SELECT pg_advisory_xact_lock(hashtext('payout.line.' || $1::text))",
        vec![order_item.into()],
    ))
    .await?;
    Ok(())
}

/// Whether `entry`, or a reversal of it recorded before `seq`, is not delivered yet.
pub async fn waits_on(c: &impl ConnectionTrait, entry: Uuid, seq: i64) -> Result<bool, DbErr> {
    Ok(c.query_one_raw(pg(
        "SELECT 1 AS one FROM ledger_entries e JOIN deliveries d ON d.entry_id = e.id
         WHERE (e.id = $1 OR (e.reverses = $1 AND e.seq < $2)) AND d.status <> 'delivered' LIMIT 1",
        vec![entry.into(), seq.into()],
    ))
    .await?
    .is_some())
}

/// Up to `limit` entries after `after_seq` recorded in `[from, to)`, for the export (keyset
/// pages, so the whole ledger is never held in memory).
pub async fn page(
    c: &impl ConnectionTrait,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<EntryRow>, DbErr> {
    EntryRow::find_by_statement(pg(
        &format!(
            "SELECT {ENTRY_COLS} FROM ledger_entries
             WHERE seq > $1 AND ($2::timestamptz IS NULL OR recorded_at >= $2)
               AND ($3::timestamptz IS NULL OR recorded_at < $3)
             ORDER BY seq LIMIT $4"
        ),
        vec![after_seq.into(), from.into(), to.into(), limit.into()],
    ))
    .all(c)
    .await
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct DeliveryOf {
    pub entry_id: Uuid,
    pub status: String,
    pub delivered_at: Option<DateTime<Utc>>,
    pub payout_entry_id: Option<String>,
}

/// The deliveries of `entries`.
pub async fn deliveries_of(
    c: &impl ConnectionTrait,
    entries: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, DeliveryOf>, DbErr> {
    Ok(DeliveryOf::find_by_statement(pg(
        "SELECT entry_id, status, delivered_at, payout_entry_id FROM deliveries WHERE entry_id = ANY($1)",
        vec![entries.to_vec().into()],
    ))
    .all(c)
    .await?
    .into_iter()
    .map(|d| (d.entry_id, d))
    .collect())
}

/// Every order that has entries, in the order they were first recorded (for `ledger verify`).
pub async fn order_ids(c: &impl ConnectionTrait) -> Result<Vec<Uuid>, DbErr> {
    #[derive(FromQueryResult)]
    struct O {
        order_id: Uuid,
    }
    Ok(O::find_by_statement(pg(
        "SELECT order_id FROM ledger_entries GROUP BY order_id ORDER BY min(seq)",
        vec![],
    ))
    .all(c)
    .await?
    .into_iter()
    .map(|o| o.order_id)
    .collect())
}

/// Every entry of `orders`, grouped by order (each order's in the order they were recorded).
pub async fn of_orders(c: &impl ConnectionTrait, orders: &[Uuid]) -> Result<Vec<EntryRow>, DbErr> {
    EntryRow::find_by_statement(pg(
        &format!(
            "SELECT {ENTRY_COLS} FROM ledger_entries WHERE order_id = ANY($1) ORDER BY order_id, seq"
        ),
        vec![orders.to_vec().into()],
    ))
    .all(c)
    .await
}
