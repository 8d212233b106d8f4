//! Orders, their items, owned courses and order numbers. Transitions are guarded updates
//! derived from [`OrderStatus`]: the row moves only from a state the domain allows.

use crate::NAME;
use crate::domain::display::LineAmounts;
use crate::domain::{CartOrderError, OrderEvent, OrderStatus};
use crate::events as published;
use crate::model::*;
use crate::storage::carts::LineRow;
use crate::storage::discounts;
use ::events::subjects;
use chrono::{DateTime, Utc};
use kernel::Lifecycle;
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

use db::stmt as pg;

pub async fn owned_courses(
    c: &impl ConnectionTrait,
    user: &str,
    courses: &[Uuid],
) -> Result<HashSet<Uuid>, DbErr> {
    #[derive(FromQueryResult)]
    struct Owned {
        course_id: Uuid,
    }
    Ok(Owned::find_by_statement(pg(
        "SELECT course_id FROM owned_courses WHERE user_id = $1 AND course_id = ANY($2)",
        vec![user.into(), courses.to_vec().into()],
    ))
    .all(c)
    .await?
    .into_iter()
    .map(|o| o.course_id)
    .collect())
}

/// The sequence of `year`'s order numbers (one per year, made ahead of time).
fn sequence(year: i32) -> Result<String, DbErr> {
    if !(2000..=9999).contains(&year) {
        return Err(DbErr::Custom(format!("no order numbers for year {year}")));
    }
    Ok(format!("order_number_{year}"))
}

/// Makes the order-number sequences of `years` (idempotent; done at start and by the expiry
/// job for the coming year, so a checkout never waits on DDL).
pub async fn ensure_order_number_sequences(
    c: &impl ConnectionTrait,
    years: &[i32],
) -> Result<(), DbErr> {
    for year in years {
        let created = c
            .execute_unprepared(&format!(
                "CREATE SEQUENCE IF NOT EXISTS {}",
                sequence(*year)?
            ))
            .await;
        // Two instances creating the same sequence at once: the loser's IF NOT EXISTS still
        // collides in the catalog; the sequence exists either way.
        match created {
            Err(e) if !db::is_unique_violation(&e) => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// The next number in `year`'s sequence. A sequence never blocks: concurrent checkouts take
/// numbers without waiting on one another (no row is locked until commit). Numbers are unique
/// and increasing within the year; a checkout that rolls back leaves a gap.
pub async fn next_order_number(c: &impl ConnectionTrait, year: i32) -> Result<i64, DbErr> {
    #[derive(FromQueryResult)]
    struct N {
        n: i64,
    }
    N::find_by_statement(pg(
        "SELECT nextval($1::regclass) AS n",
        vec![sequence(year)?.into()],
    ))
    .one(c)
    .await?
    .map(|n| n.n)
    .ok_or(DbErr::RecordNotInserted)
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct OrderRow {
    pub id: Uuid,
    pub order_number: String,
    pub user_id: String,
    pub cart_id: Uuid,
    pub status: String,
    pub currency: String,
    pub subtotal_minor: i64,
    pub discount_code: Option<String>,
    pub discount_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub display_currency: String,
    pub display_total_minor: i64,
    pub settlement_currency: String,
    pub settlement_total_minor: i64,
    pub exchange_rate: Decimal,
    pub exchange_rate_at: DateTime<Utc>,
    pub payment_id: Option<Uuid>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub refunded_minor: i64,
    pub disputed_at: Option<DateTime<Utc>>,
    pub dispute_reason: Option<String>,
    pub customer_email: Option<String>,
    pub customer_name: Option<String>,
    pub discount_id: Option<Uuid>,
    pub tax_source: Option<String>,
    pub billing_address: Option<serde_json::Value>,
    pub tax_exemption_ids: Vec<Uuid>,
    pub quote_expires_at: Option<DateTime<Utc>>,
    pub exchange_rate_source: Option<String>,
    /// The subscription the order belongs to (a period's charge or an enrollment through it).
    pub subscription_id: Option<Uuid>,
}

const ORDER_COLS: &str = "id, order_number, user_id, cart_id, status, currency, subtotal_minor, discount_code, \
    discount_minor, tax_minor, total_minor, display_currency, display_total_minor, settlement_currency, \
    settlement_total_minor, exchange_rate, exchange_rate_at, payment_id, failure_reason, created_at, updated_at, \
    completed_at, cancelled_at, refunded_minor, disputed_at, dispute_reason, customer_email, customer_name, \
    discount_id, tax_source, billing_address, tax_exemption_ids, quote_expires_at, exchange_rate_source, \
    subscription_id";

/// How an order's tax was decided.
#[derive(Debug, Clone)]
pub struct Taxed {
    /// `none`, `manual`, `taxjar`, `manual_fallback`.
    pub source: &'static str,
    /// The billing address it was quoted for.
    pub address: serde_json::Value,
    /// The exemptions that applied.
    pub exemptions: Vec<Uuid>,
}

/// What checkout decided for one line, in the order's currency, and in the settlement currency
/// when the order is in a display currency.
#[derive(Debug, Clone, Copy)]
pub struct LineMoney {
    pub amounts: LineAmounts,
    pub settlement: Option<LineAmounts>,
}

/// A new order's money, frozen at checkout.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub id: Uuid,
    pub number: String,
    pub user_id: String,
    pub cart_id: Uuid,
    pub currency: String,
    pub subtotal: i64,
    /// The applied code: its id, its text, and what it took off in all.
    pub discount: Option<(Uuid, String, i64)>,
    pub tax: i64,
    pub taxed: Option<Taxed>,
    pub total: i64,
    pub settlement_currency: String,
    pub settlement_total: i64,
    pub exchange_rate: Decimal,
    pub exchange_rate_at: DateTime<Utc>,
    /// An order in a display currency: until when the rate holds, and where it came from.
    pub quote: Option<(DateTime<Utc>, &'static str)>,
    pub customer_email: Option<String>,
    pub customer_name: Option<String>,
    /// A subscription's order: the subscription and the key that makes the order once.
    pub source: Option<(Uuid, String)>,
}

pub async fn insert_order(
    c: &impl ConnectionTrait,
    o: &NewOrder,
    now: DateTime<Utc>,
) -> Result<OrderRow, DbErr> {
    OrderRow::find_by_statement(pg(
        &format!(
            "INSERT INTO orders (id, order_number, user_id, cart_id, status, currency, subtotal_minor, total_minor,
                display_currency, display_total_minor, settlement_currency, settlement_total_minor, exchange_rate,
                exchange_rate_at, created_at, updated_at, customer_email, customer_name, discount_id,
                discount_code, discount_minor, tax_minor, tax_source, billing_address, tax_exemption_ids,
                quote_expires_at, exchange_rate_source, subscription_id, source_key)
             VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $5, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15,
                $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)
             RETURNING {ORDER_COLS}"
        ),
        vec![
            o.id.into(),
            o.number.clone().into(),
            o.user_id.clone().into(),
            o.cart_id.into(),
            o.currency.clone().into(),
            o.subtotal.into(),
            o.total.into(),
            o.settlement_currency.clone().into(),
            o.settlement_total.into(),
            o.exchange_rate.into(),
            o.exchange_rate_at.into(),
            now.into(),
            o.customer_email.clone().into(),
            o.customer_name.clone().into(),
            o.discount.as_ref().map(|d| d.0).into(),
            o.discount.as_ref().map(|d| d.1.clone()).into(),
            o.discount.as_ref().map_or(0, |d| d.2).into(),
            o.tax.into(),
            o.taxed.as_ref().map(|t| t.source.to_string()).into(),
            o.taxed.as_ref().map(|t| t.address.clone()).into(),
            o.taxed
                .as_ref()
                .map(|t| t.exemptions.clone())
                .unwrap_or_default()
                .into(),
            o.quote.map(|q| q.0).into(),
            o.quote.map(|q| q.1.to_string()).into(),
            o.source.as_ref().map(|s| s.0).into(),
            o.source.as_ref().map(|s| s.1.clone()).into(),
        ],
    ))
    .one(c)
    .await?
    .ok_or(DbErr::RecordNotInserted)
}

pub async fn insert_order_item(
    c: &impl ConnectionTrait,
    order: Uuid,
    position: i32,
    line: &LineRow,
    money: LineMoney,
    item: &CatalogItem,
) -> Result<OrderItemRow, DbErr> {
    OrderItemRow::find_by_statement(pg(
        "INSERT INTO order_items (id, order_id, position, item_type, item_id, name, department_id, price_minor, course_ids,
             snapshot, discount_minor, tax_minor, settlement_price_minor, settlement_discount_minor,
             settlement_tax_minor)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         RETURNING id, order_id, item_type, item_id, name, department_id, price_minor, discount_minor,
             tax_minor, course_ids, snapshot, refunded_minor, settlement_price_minor,
             settlement_discount_minor, settlement_tax_minor",
        vec![
            kernel::new_id().into(),
            order.into(),
            position.into(),
            line.item_type.clone().into(),
            line.item_id.into(),
            line.name.clone().into(),
            item.department_id.clone().into(),
            money.amounts.price.into(),
            item.course_ids().into(),
            line.snapshot.clone().into(),
            money.amounts.discount.into(),
            money.amounts.tax.into(),
            money.settlement.map(|s| s.price).into(),
            money.settlement.map(|s| s.discount).into(),
            money.settlement.map(|s| s.tax).into(),
        ],
    ))
    .one(c)
    .await?
    .ok_or_else(|| DbErr::RecordNotInserted)
}

pub async fn check_out_cart(
    c: &impl ConnectionTrait,
    cart: Uuid,
    order: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "UPDATE carts SET status = 'checked_out', order_id = $2, updated_at = $3 WHERE id = $1",
        vec![cart.into(), order.into(), now.into()],
    ))
    .await?;
    Ok(())
}

/// Records what a subscription event says of it: live (not cancelled) or not. A newer event
/// wins, and an ended subscription never comes back.
pub async fn note_subscriber(
    c: &impl ConnectionTrait,
    subscription: Uuid,
    user: &str,
    live: bool,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "INSERT INTO subscribers (subscription_id, user_id, live, changed_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (subscription_id) DO UPDATE SET live = EXCLUDED.live, changed_at = EXCLUDED.changed_at
         WHERE subscribers.live AND subscribers.changed_at <= EXCLUDED.changed_at",
        vec![subscription.into(), user.into(), live.into(), at.into()],
    ))
    .await?;
    Ok(())
}

/// Whether the learner has a live subscription (then payment is asked what it covers).
pub async fn is_subscriber(c: &impl ConnectionTrait, user: &str) -> Result<bool, DbErr> {
    Ok(c.query_one_raw(pg(
        "SELECT 1 AS one FROM subscribers WHERE user_id = $1 AND live LIMIT 1",
        vec![user.into()],
    ))
    .await?
    .is_some())
}

/// A subscription's orders still waiting for their payment, locked.
pub async fn lock_pending_of_subscription(
    c: &impl ConnectionTrait,
    subscription: Uuid,
) -> Result<Vec<OrderRow>, DbErr> {
    OrderRow::find_by_statement(pg(
        &format!(
            "SELECT {ORDER_COLS} FROM orders WHERE subscription_id = $1 AND status = 'pending'
             ORDER BY id FOR UPDATE"
        ),
        vec![subscription.into()],
    ))
    .all(c)
    .await
}

/// A subscription's order by the key that makes it once.
pub async fn order_by_source(
    c: &impl ConnectionTrait,
    key: &str,
) -> Result<Option<OrderRow>, DbErr> {
    OrderRow::find_by_statement(pg(
        &format!("SELECT {ORDER_COLS} FROM orders WHERE source_key = $1"),
        vec![key.into()],
    ))
    .one(c)
    .await
}

pub async fn order(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<OrderRow>, DbErr> {
    OrderRow::find_by_statement(pg(
        &format!("SELECT {ORDER_COLS} FROM orders WHERE id = $1"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

pub async fn lock_order(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<OrderRow>, DbErr> {
    OrderRow::find_by_statement(pg(
        &format!("SELECT {ORDER_COLS} FROM orders WHERE id = $1 FOR UPDATE"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct OrderItemRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub item_type: String,
    pub item_id: Uuid,
    pub name: String,
    pub department_id: String,
    pub price_minor: i64,
    pub discount_minor: i64,
    pub tax_minor: i64,
    pub course_ids: Vec<Uuid>,
    pub snapshot: serde_json::Value,
    /// What refunds have given back of this line so far.
    pub refunded_minor: i64,
    /// The line in the settlement currency, when the order is in a display currency.
    pub settlement_price_minor: Option<i64>,
    pub settlement_discount_minor: Option<i64>,
    pub settlement_tax_minor: Option<i64>,
}

impl OrderItemRow {
    /// What the line costs the learner: price − discount + tax.
    pub fn total_minor(&self) -> Result<i64, CartOrderError> {
        self.price_minor
            .checked_sub(self.discount_minor)
            .and_then(|v| v.checked_add(self.tax_minor))
            .ok_or_else(|| CartOrderError::Corrupt(format!("order item {}: overflow", self.id)))
    }
}

/// Adds a refund's share to its line (the database refuses more than the line cost).
pub async fn refund_line(
    c: &impl ConnectionTrait,
    order_id: Uuid,
    order_item_id: Uuid,
    amount_minor: i64,
) -> Result<bool, DbErr> {
    Ok(c.execute_raw(pg(
        "UPDATE order_items SET refunded_minor = refunded_minor + $3
             WHERE id = $2 AND order_id = $1",
        vec![order_id.into(), order_item_id.into(), amount_minor.into()],
    ))
    .await?
    .rows_affected()
        == 1)
}

pub async fn order_items(
    c: &impl ConnectionTrait,
    orders: &[Uuid],
) -> Result<HashMap<Uuid, Vec<OrderItemRow>>, DbErr> {
    // One order (the purchase path) is an equality on the index's leading column: a plan cached
    // while the table was still empty (a fresh database, a new year's traffic) picks that index,
    // where `= ANY($1)` kept a sequential scan of every order item for the connection's life.
    let (filter, value): (&str, sea_orm::Value) = match orders {
        [one] => ("order_id = $1", (*one).into()),
        many => ("order_id = ANY($1)", many.to_vec().into()),
    };
    let rows = OrderItemRow::find_by_statement(pg(
        &format!(
            "SELECT id, order_id, item_type, item_id, name, department_id, price_minor, discount_minor, tax_minor,
                 course_ids, snapshot, refunded_minor, settlement_price_minor, settlement_discount_minor,
                 settlement_tax_minor
             FROM order_items WHERE {filter} ORDER BY order_id, position"
        ),
        vec![value],
    ))
    .all(c)
    .await?;
    let mut out: HashMap<Uuid, Vec<OrderItemRow>> = HashMap::new();
    for r in rows {
        out.entry(r.order_id).or_default().push(r);
    }
    Ok(out)
}

#[derive(Debug, Default, Clone)]
pub struct OrderFilter {
    pub user_id: Option<String>,
    pub status: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub course_id: Option<Uuid>,
    pub cursor: Option<Uuid>,
    pub limit: u64,
}

/// Orders newest first; the cursor is the last id seen.
pub async fn list_orders(
    c: &impl ConnectionTrait,
    f: &OrderFilter,
) -> Result<Vec<OrderRow>, DbErr> {
    let mut w = db::Filters::new();
    w.add_opt("o.user_id = ?", f.user_id.clone())
        .add_opt("o.status = ?", f.status.clone())
        .add_opt("o.created_at >= ?", f.from)
        .add_opt("o.created_at < ?", f.to)
        .add_opt("EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id AND ? = ANY(i.course_ids))", f.course_id)
        .add_opt("o.id < ?", f.cursor);
    let cols = ORDER_COLS
        .split(", ")
        .map(|c| format!("o.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    OrderRow::find_by_statement(w.query(
        &format!("{cols} FROM orders o"),
        "ORDER BY o.id DESC",
        f.limit + 1,
    ))
    .all(c)
    .await
}

impl OrderRow {
    /// The order's total; a currency the kernel does not know is corrupt data.
    pub fn total(&self) -> Result<kernel::Money, DbErr> {
        let currency = kernel::Currency::parse(&self.currency)
            .map_err(|e| DbErr::Custom(format!("order {}: {e}", self.id)))?;
        Ok(kernel::Money::new(self.total_minor, currency))
    }

    /// `amount` of the order's currency in its settlement currency, at the order's rate.
    pub fn in_settlement(&self, amount: i64) -> Result<i64, DbErr> {
        let bad = |e: String| DbErr::Custom(format!("order {}: {e}", self.id));
        let currency = kernel::Currency::parse(&self.currency).map_err(|e| bad(e.to_string()))?;
        let settlement =
            kernel::Currency::parse(&self.settlement_currency).map_err(|e| bad(e.to_string()))?;
        let rate = kernel::Rate::new(self.exchange_rate).map_err(|e| bad(e.to_string()))?;
        kernel::fx::to_settlement(kernel::Money::new(amount, currency), settlement, rate)
            .map(|m| m.amount_minor())
            .map_err(|e| bad(e.to_string()))
    }

    /// The row's status as the domain knows it; an unknown value is corrupt data, never a default.
    pub fn state(&self) -> Result<OrderStatus, DbErr> {
        OrderStatus::parse(&self.status).map_err(|e| DbErr::Custom(e.to_string()))
    }
}

/// Persists `event` as the domain's move to `to`, only from a state the event is legal in
/// (`completed` sets the payment and clears a failure; `failed` keeps any earlier payment id).
/// False when the row was not in such a state (a concurrent move won).
pub async fn transition(
    c: &impl ConnectionTrait,
    id: Uuid,
    event: OrderEvent,
    to: OrderStatus,
    payment: Option<Uuid>,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let sql = match to {
        OrderStatus::Completed => {
            "UPDATE orders SET status = $3, payment_id = $4, completed_at = $6, updated_at = $6,
                 failure_reason = NULL, failed_at = NULL
             WHERE id = $1 AND status = ANY($2)"
        }
        OrderStatus::Failed => {
            "UPDATE orders SET status = $3, payment_id = COALESCE($4, payment_id), failure_reason = $5,
                 failed_at = $6, updated_at = $6
             WHERE id = $1 AND status = ANY($2)"
        }
        other => {
            return Err(DbErr::Custom(format!(
                "no persistence for a move to {}",
                other.as_str()
            )));
        }
    };
    Ok(c.execute_raw(pg(
        sql,
        vec![
            id.into(),
            OrderStatus::sources(&event).into(),
            to.as_str().into(),
            payment.into(),
            reason.map(str::to_string).into(),
            now.into(),
        ],
    ))
    .await?
    .rows_affected()
        == 1)
}

pub async fn add_owned(
    c: &impl ConnectionTrait,
    user: &str,
    courses: &[Uuid],
    order: Uuid,
) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "INSERT INTO owned_courses (user_id, course_id, order_id) SELECT $1, c, $3 FROM unnest($2::uuid[]) AS c
         ON CONFLICT DO NOTHING",
        vec![user.into(), courses.to_vec().into(), order.into()],
    ))
    .await?;
    Ok(())
}

/// Gives up what a fully refunded order granted: its courses can be bought again.
pub async fn release_owned(c: &impl ConnectionTrait, order: Uuid) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "DELETE FROM owned_courses WHERE order_id = $1",
        vec![order.into()],
    ))
    .await?;
    Ok(())
}

/// Pending orders older than the cut-off, for the expiry job.
pub async fn stale_pending(
    c: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<Vec<Uuid>, DbErr> {
    #[derive(FromQueryResult)]
    struct Id {
        id: Uuid,
    }
    Ok(Id::find_by_statement(pg(
        // A subscription's period stays payable through its grace period; payment closes it.
        "SELECT id FROM orders WHERE status = $2 AND created_at < $1 AND subscription_id IS NULL
         ORDER BY created_at LIMIT 100",
        vec![before.into(), OrderStatus::Pending.as_str().into()],
    ))
    .all(c)
    .await?
    .into_iter()
    .map(|r| r.id)
    .collect())
}

/// Order numbers of the user's pending orders that already hold any of `courses`.
pub async fn pending_orders_with(
    c: &impl ConnectionTrait,
    user: &str,
    courses: &[Uuid],
) -> Result<Vec<String>, DbErr> {
    #[derive(FromQueryResult)]
    struct N {
        order_number: String,
    }
    Ok(N::find_by_statement(pg(
        "SELECT DISTINCT o.order_number FROM orders o JOIN order_items i ON i.order_id = o.id
         WHERE o.user_id = $1 AND o.status = $3 AND i.course_ids && $2::uuid[]",
        vec![
            user.into(),
            courses.to_vec().into(),
            OrderStatus::Pending.as_str().into(),
        ],
    ))
    .all(c)
    .await?
    .into_iter()
    .map(|n| n.order_number)
    .collect())
}

/// The move for `event` with its effects, in the caller's transaction: the guarded update, the
/// learner's owned courses, and `order.completed` in the outbox. False when the order is not in
/// a state the event applies to (a duplicate, late or reordered signal changes nothing).
pub async fn complete(
    c: &impl ConnectionTrait,
    o: &OrderRow,
    items: &[OrderItemRow],
    event: OrderEvent,
    payment: Option<&published::Captured>,
    now: DateTime<Utc>,
) -> Result<bool, CartOrderError> {
    let Ok(to) = o.state()?.apply(&event) else {
        return Ok(false);
    };
    let payment_id = payment.map(|p| p.payment_id);
    if !transition(c, o.id, event, to, payment_id, None, now).await? {
        return Ok(false);
    }
    let courses: Vec<Uuid> = items
        .iter()
        .flat_map(|i| i.course_ids.iter().copied())
        .collect();
    add_owned(c, &o.user_id, &courses, o.id).await?;
    if o.discount_id.is_some() {
        discounts::settle(c, o.id, discounts::Settle::Consume, now).await?;
    }
    let event = published::order_completed(o, items, payment, now)?;
    bus::enqueue(c, NAME, subjects::ORDER_COMPLETED, &event).await?;
    Ok(true)
}

/// The failing move for `event` with `order.failed` in the outbox; false when it does not apply.
pub async fn fail(
    c: &impl ConnectionTrait,
    o: &OrderRow,
    event: OrderEvent,
    payment: Option<Uuid>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, CartOrderError> {
    let Ok(to) = o.state()?.apply(&event) else {
        return Ok(false);
    };
    if !transition(c, o.id, event, to, payment, Some(reason), now).await? {
        return Ok(false);
    }
    if o.discount_id.is_some() {
        discounts::settle(c, o.id, discounts::Settle::Release, now).await?;
    }
    bus::enqueue(
        c,
        NAME,
        subjects::ORDER_FAILED,
        &published::order_failed(o, reason, now),
    )
    .await?;
    Ok(true)
}

/// Records a refund the processor made: the order's refunded total grows and, when it reaches
/// the total, the order moves to `refunded`; `order.refunded` goes out. False when the order is
/// not in a state a refund applies to (nothing changes).
pub async fn refund(
    c: &impl ConnectionTrait,
    o: &OrderRow,
    amount: kernel::Money,
    now: DateTime<Utc>,
) -> Result<bool, CartOrderError> {
    let total = o.total()?;
    if amount.currency() != total.currency() || amount.amount_minor() <= 0 {
        return Err(CartOrderError::Corrupt(format!(
            "refund of {amount} for order {} in {}",
            o.id,
            total.currency()
        )));
    }
    let refunded = o
        .refunded_minor
        .checked_add(amount.amount_minor())
        .filter(|r| *r <= total.amount_minor())
        .ok_or_else(|| {
            CartOrderError::Corrupt(format!("refunds of order {} exceed its total", o.id))
        })?;
    let full = refunded == total.amount_minor();
    let event = if full {
        OrderEvent::FullyRefunded
    } else {
        OrderEvent::PartlyRefunded
    };
    let Ok(to) = o.state()?.apply(&event) else {
        return Ok(false);
    };
    let moved = c
        .execute_raw(pg(
            "UPDATE orders SET status = $3, refunded_minor = $4, updated_at = $5
             WHERE id = $1 AND status = ANY($2)",
            vec![
                o.id.into(),
                OrderStatus::sources(&event).into(),
                to.as_str().into(),
                refunded.into(),
                now.into(),
            ],
        ))
        .await?
        .rows_affected()
        == 1;
    if !moved {
        return Ok(false);
    }
    if full {
        release_owned(c, o.id).await?;
    }
    let e = published::order_refunded(o, amount, full, now);
    bus::enqueue(c, NAME, subjects::ORDER_REFUNDED, &e).await?;
    Ok(true)
}

/// Records a chargeback on the order, once; false when one was already recorded.
pub async fn record_dispute(
    c: &impl ConnectionTrait,
    order: Uuid,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    Ok(c.execute_raw(pg(
        "UPDATE orders SET disputed_at = $2, dispute_reason = $3, updated_at = $2
         WHERE id = $1 AND disputed_at IS NULL",
        vec![order.into(), at.into(), reason.into()],
    ))
    .await?
    .rows_affected()
        == 1)
}

/// Converts a display-currency order again from its lines' settlement amounts at `rate`, with a
/// quote until `expires_at` (the caller holds the order's lock and checked it is due).
pub async fn requote(
    c: &impl ConnectionTrait,
    o: &OrderRow,
    settlement: kernel::Currency,
    display: kernel::Currency,
    rate: kernel::Rate,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), CartOrderError> {
    let items = order_items(c, &[o.id])
        .await?
        .remove(&o.id)
        .unwrap_or_default();
    let base = items
        .iter()
        .map(|i| {
            match (
                i.settlement_price_minor,
                i.settlement_discount_minor,
                i.settlement_tax_minor,
            ) {
                (Some(price), Some(discount), Some(tax)) => Ok(LineAmounts {
                    price,
                    discount,
                    tax,
                }),
                _ => Err(CartOrderError::Corrupt(format!(
                    "order item {}: no settlement amounts",
                    i.id
                ))),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let shown = crate::domain::display::convert(&base, settlement, display, rate)
        .map_err(|e| CartOrderError::Corrupt(format!("requote of {}: {e}", o.id)))?;
    for (i, l) in items.iter().zip(&shown.lines) {
        c.execute_raw(pg(
            "UPDATE order_items SET price_minor = $2, discount_minor = $3, tax_minor = $4 WHERE id = $1",
            vec![i.id.into(), l.price.into(), l.discount.into(), l.tax.into()],
        ))
        .await?;
    }
    c.execute_raw(pg(
        "UPDATE orders SET subtotal_minor = $2, discount_minor = $3, tax_minor = $4, total_minor = $5,
             display_total_minor = $5, exchange_rate = $6, exchange_rate_at = $7, quote_expires_at = $8,
             updated_at = $7
         WHERE id = $1",
        vec![
            o.id.into(),
            shown.subtotal.into(),
            shown.discount.into(),
            shown.tax.into(),
            shown.total.into(),
            rate.value().into(),
            now.into(),
            expires_at.into(),
        ],
    ))
    .await?;
    c.execute_raw(pg(
        "UPDATE discount_redemptions SET amount_minor = $2, updated_at = $3 WHERE order_id = $1",
        vec![o.id.into(), shown.discount.into(), now.into()],
    ))
    .await?;
    Ok(())
}
