//! Cart and order persistence; functions compose in one transaction with outbox rows.

use crate::model::*;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

use db::stmt as pg;

#[derive(Debug, Clone, FromQueryResult)]
pub struct CartRow {
    pub id: Uuid,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub status: String,
    pub order_id: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
}

const CART_COLS: &str = "id, user_id, session_id, status, order_id, expires_at";

pub async fn open_cart_of_user(
    c: &impl ConnectionTrait,
    user: &str,
    now: DateTime<Utc>,
) -> Result<Option<CartRow>, DbErr> {
    CartRow::find_by_statement(pg(
        &format!("SELECT {CART_COLS} FROM carts WHERE user_id = $1 AND status = 'open' AND expires_at > $2"),
        vec![user.into(), now.into()],
    ))
    .one(c)
    .await
}

pub async fn open_cart_of_session(
    c: &impl ConnectionTrait,
    session: &str,
    now: DateTime<Utc>,
) -> Result<Option<CartRow>, DbErr> {
    CartRow::find_by_statement(pg(
        &format!(
            "SELECT {CART_COLS} FROM carts WHERE session_id = $1 AND user_id IS NULL AND status = 'open' AND expires_at > $2"
        ),
        vec![session.into(), now.into()],
    ))
    .one(c)
    .await
}

/// The latest checked-out cart of a user, for "a second checkout returns the same order".
pub async fn last_checked_out(
    c: &impl ConnectionTrait,
    user: &str,
) -> Result<Option<CartRow>, DbErr> {
    CartRow::find_by_statement(pg(
        &format!("SELECT {CART_COLS} FROM carts WHERE user_id = $1 AND status = 'checked_out' ORDER BY updated_at DESC LIMIT 1"),
        vec![user.into()],
    ))
    .one(c)
    .await
}

/// Removes expired open carts (a background job calls this).
pub async fn expire_carts(c: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    // Expired carts are also invisible to every query, so a late sweep is harmless.
    Ok(c.execute_raw(pg(
        "DELETE FROM carts WHERE status = 'open' AND expires_at <= $1",
        vec![now.into()],
    ))
    .await?
    .rows_affected())
}

/// Creates an open cart, or returns the one a concurrent request just created.
pub async fn create_cart(
    c: &impl ConnectionTrait,
    user: Option<&str>,
    session: Option<&str>,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<CartRow, DbErr> {
    // An expired cart not yet swept still holds the unique slot: clear it first.
    c.execute_raw(pg(
        "DELETE FROM carts WHERE status = 'open' AND expires_at <= $3
           AND ((user_id = $1) OR (user_id IS NULL AND session_id = $2))",
        vec![
            user.map(str::to_string).into(),
            session.map(str::to_string).into(),
            now.into(),
        ],
    ))
    .await?;
    let row = CartRow::find_by_statement(pg(
        &format!(
            "INSERT INTO carts (id, user_id, session_id, created_at, updated_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5)
             ON CONFLICT DO NOTHING RETURNING {CART_COLS}"
        ),
        vec![
            kernel::new_id().into(),
            user.map(str::to_string).into(),
            session.map(str::to_string).into(),
            now.into(),
            expires.into(),
        ],
    ))
    .one(c)
    .await?;
    if let Some(r) = row {
        return Ok(r);
    }
    let again = match user {
        Some(u) => open_cart_of_user(c, u, now).await?,
        None => open_cart_of_session(c, session.unwrap_or_default(), now).await?,
    };
    again.ok_or(DbErr::RecordNotInserted)
}

pub async fn lock_cart(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<CartRow>, DbErr> {
    CartRow::find_by_statement(pg(
        &format!("SELECT {CART_COLS} FROM carts WHERE id = $1 FOR UPDATE"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

pub async fn touch_cart(
    c: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "UPDATE carts SET updated_at = $2, expires_at = $3 WHERE id = $1",
        vec![id.into(), now.into(), expires.into()],
    ))
    .await?;
    Ok(())
}

/// Moves an anonymous cart's lines into the user's cart (no duplicate lines) and drops it.
pub async fn merge_into(c: &impl ConnectionTrait, from: Uuid, into: Uuid) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "INSERT INTO cart_items (id, cart_id, item_type, item_id, name, price_minor, currency, snapshot, added_at)
         SELECT gen_random_uuid(), $2, item_type, item_id, name, price_minor, currency, snapshot, added_at FROM cart_items WHERE cart_id = $1
         ON CONFLICT DO NOTHING",
        vec![from.into(), into.into()],
    ))
    .await?;
    c.execute_raw(pg("DELETE FROM carts WHERE id = $1", vec![from.into()]))
        .await?;
    Ok(())
}

/// Gives an anonymous cart to a user who has no cart yet.
pub async fn adopt(c: &impl ConnectionTrait, cart: Uuid, user: &str) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "DELETE FROM carts WHERE user_id = $1 AND status = 'open' AND expires_at <= now()",
        vec![user.into()],
    ))
    .await?;
    c.execute_raw(pg(
        "UPDATE carts SET user_id = $2, session_id = NULL WHERE id = $1",
        vec![cart.into(), user.into()],
    ))
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct LineRow {
    pub id: Uuid,
    pub item_type: String,
    pub item_id: Uuid,
    pub name: String,
    pub price_minor: i64,
    pub currency: String,
    pub snapshot: serde_json::Value,
    pub added_at: DateTime<Utc>,
}

impl LineRow {
    pub fn item(&self) -> Result<CatalogItem, DbErr> {
        serde_json::from_value(self.snapshot.clone())
            .map_err(|e| DbErr::Custom(format!("bad cart snapshot: {e}")))
    }
}

pub async fn lines(c: &impl ConnectionTrait, cart: Uuid) -> Result<Vec<LineRow>, DbErr> {
    LineRow::find_by_statement(pg(
        "SELECT id, item_type, item_id, name, price_minor, currency, snapshot, added_at FROM cart_items
         WHERE cart_id = $1 ORDER BY added_at, id",
        vec![cart.into()],
    ))
    .all(c)
    .await
}

/// Adds a line; false when the item is already in the cart.
pub async fn add_line(
    c: &impl ConnectionTrait,
    cart: Uuid,
    item: &CatalogItem,
    price: &CatalogPrice,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let snapshot = serde_json::to_value(item).map_err(|e| DbErr::Custom(e.to_string()))?;
    Ok(c.execute_raw(pg(
        "INSERT INTO cart_items (id, cart_id, item_type, item_id, name, price_minor, currency, snapshot, added_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        vec![
            kernel::new_id().into(),
            cart.into(),
            item.item_type.clone().into(),
            item.item_id.into(),
            item.name.clone().into(),
            price.amount.into(),
            price.currency.clone().into(),
            snapshot.into(),
            now.into(),
        ],
    ))
    .await?
    .rows_affected()
        == 1)
}

/// Re-prices a line from a fresh snapshot.
pub async fn reprice_line(
    c: &impl ConnectionTrait,
    line: Uuid,
    item: &CatalogItem,
    price: &CatalogPrice,
) -> Result<(), DbErr> {
    let snapshot = serde_json::to_value(item).map_err(|e| DbErr::Custom(e.to_string()))?;
    c.execute_raw(pg(
        "UPDATE cart_items SET price_minor = $2, currency = $3, name = $4, snapshot = $5 WHERE id = $1",
        vec![line.into(), price.amount.into(), price.currency.clone().into(), item.name.clone().into(), snapshot.into()],
    ))
    .await?;
    Ok(())
}

pub async fn remove_line(c: &impl ConnectionTrait, cart: Uuid, line: Uuid) -> Result<bool, DbErr> {
    Ok(c.execute_raw(pg(
        "DELETE FROM cart_items WHERE cart_id = $1 AND id = $2",
        vec![cart.into(), line.into()],
    ))
    .await?
    .rows_affected()
        == 1)
}

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

/// The next number in `year`'s sequence (gap-free within committed orders: the row lock
/// serialises concurrent checkouts).
pub async fn next_order_number(c: &impl ConnectionTrait, year: i32) -> Result<i64, DbErr> {
    #[derive(FromQueryResult)]
    struct N {
        last_value: i64,
    }
    N::find_by_statement(pg(
        "INSERT INTO order_numbers (year, last_value) VALUES ($1, 1)
         ON CONFLICT (year) DO UPDATE SET last_value = order_numbers.last_value + 1 RETURNING last_value",
        vec![year.into()],
    ))
    .one(c)
    .await?
    .map(|n| n.last_value)
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
}

const ORDER_COLS: &str = "id, order_number, user_id, cart_id, status, currency, subtotal_minor, discount_code, \
    discount_minor, tax_minor, total_minor, display_currency, display_total_minor, settlement_currency, \
    settlement_total_minor, exchange_rate, exchange_rate_at, payment_id, failure_reason, created_at, updated_at, \
    completed_at, cancelled_at";

/// A new order's money, frozen at checkout.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub id: Uuid,
    pub number: String,
    pub user_id: String,
    pub cart_id: Uuid,
    pub currency: String,
    pub subtotal: i64,
    pub total: i64,
    pub settlement_currency: String,
    pub settlement_total: i64,
    pub exchange_rate: Decimal,
    pub exchange_rate_at: DateTime<Utc>,
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
                exchange_rate_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $5, $7, $8, $9, $10, $11, $12, $12)
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
    item: &CatalogItem,
) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "INSERT INTO order_items (id, order_id, position, item_type, item_id, name, department_id, price_minor, course_ids, snapshot)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        vec![
            kernel::new_id().into(),
            order.into(),
            position.into(),
            line.item_type.clone().into(),
            line.item_id.into(),
            line.name.clone().into(),
            item.department_id.clone().into(),
            line.price_minor.into(),
            item.course_ids().into(),
            line.snapshot.clone().into(),
        ],
    ))
    .await?;
    Ok(())
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
}

pub async fn order_items(
    c: &impl ConnectionTrait,
    orders: &[Uuid],
) -> Result<HashMap<Uuid, Vec<OrderItemRow>>, DbErr> {
    let rows = OrderItemRow::find_by_statement(pg(
        "SELECT id, order_id, item_type, item_id, name, department_id, price_minor, discount_minor, tax_minor, course_ids, snapshot
         FROM order_items WHERE order_id = ANY($1) ORDER BY order_id, position",
        vec![orders.to_vec().into()],
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

/// pending → completed; false when the order was not pending (the transition already happened).
pub async fn complete(
    c: &impl ConnectionTrait,
    id: Uuid,
    payment: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    // A captured payment completes the order even if it had failed meanwhile (a declined first
    // attempt, or the unpaid-order expiry racing a slow confirmation): the money was taken.
    Ok(c.execute_raw(pg(
        "UPDATE orders SET status = 'completed', payment_id = $2, completed_at = $3, updated_at = $3,
             failure_reason = NULL, failed_at = NULL
         WHERE id = $1 AND (status = 'pending' OR (status = 'failed' AND $2 IS NOT NULL))",
        vec![id.into(), payment.into(), now.into()],
    ))
    .await?
    .rows_affected()
        == 1)
}

/// pending → failed; false when the order was not pending.
pub async fn fail(
    c: &impl ConnectionTrait,
    id: Uuid,
    payment: Option<Uuid>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    Ok(c.execute_raw(pg(
        "UPDATE orders SET status = 'failed', payment_id = COALESCE($2, payment_id), failure_reason = $3, failed_at = $4,
             updated_at = $4
         WHERE id = $1 AND status = 'pending'",
        vec![id.into(), payment.into(), reason.into(), now.into()],
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
        "SELECT id FROM orders WHERE status = 'pending' AND created_at < $1 ORDER BY created_at LIMIT 100",
        vec![before.into()],
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
         WHERE o.user_id = $1 AND o.status = 'pending' AND i.course_ids && $2::uuid[]",
        vec![user.into(), courses.to_vec().into()],
    ))
    .all(c)
    .await?
    .into_iter()
    .map(|n| n.order_number)
    .collect())
}
