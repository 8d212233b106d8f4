//! Carts and their lines.

use crate::model::*;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
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
    /// The discount code the learner applied (checked again at every look and at checkout).
    pub discount_id: Option<Uuid>,
    /// Where the learner is billed (a [`crate::domain::tax::BillingAddress`]).
    pub billing_address: Option<serde_json::Value>,
    /// The currency the learner sees and pays in, when not the cart's.
    pub display_currency: Option<String>,
}

impl CartRow {
    /// The cart's billing address; one that does not read back is corrupt data.
    pub fn address(&self) -> Result<Option<crate::domain::tax::BillingAddress>, DbErr> {
        self.billing_address
            .clone()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| DbErr::Custom(format!("cart {}: bad billing address: {e}", self.id)))
    }
}

const CART_COLS: &str = "id, user_id, session_id, status, order_id, expires_at, discount_id, billing_address, display_currency";

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
    let open = || async {
        match user {
            Some(u) => open_cart_of_user(c, u, now).await,
            None => open_cart_of_session(c, session.unwrap_or_default(), now).await,
        }
    };
    if let Some(r) = insert_cart(c, user, session, now, expires).await? {
        return Ok(r);
    }
    if let Some(r) = open().await? {
        return Ok(r);
    }
    // The slot is held by an expired cart not yet swept: clear it and insert again.
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
    if let Some(r) = insert_cart(c, user, session, now, expires).await? {
        return Ok(r);
    }
    open().await?.ok_or(DbErr::RecordNotInserted)
}

/// Inserts an open cart unless the user (or the anonymous session) holds one already.
async fn insert_cart(
    c: &impl ConnectionTrait,
    user: Option<&str>,
    session: Option<&str>,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<Option<CartRow>, DbErr> {
    CartRow::find_by_statement(pg(
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
    .await
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

/// Moves an anonymous cart's lines into the user's cart (no duplicate lines) and drops it; the
/// anonymous cart's discount code goes along when the user's cart has none.
pub async fn merge_into(c: &impl ConnectionTrait, from: Uuid, into: Uuid) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "UPDATE carts SET discount_id = COALESCE(discount_id, (SELECT discount_id FROM carts WHERE id = $1)),
             billing_address = COALESCE(billing_address, (SELECT billing_address FROM carts WHERE id = $1)),
             display_currency = COALESCE(display_currency, (SELECT display_currency FROM carts WHERE id = $1))
         WHERE id = $2",
        vec![from.into(), into.into()],
    ))
    .await?;
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

/// Adds a line and returns it; `None` when the item is already in the cart.
pub async fn add_line(
    c: &impl ConnectionTrait,
    cart: Uuid,
    item: &CatalogItem,
    price: &CatalogPrice,
    now: DateTime<Utc>,
) -> Result<Option<LineRow>, DbErr> {
    let snapshot = serde_json::to_value(item).map_err(|e| DbErr::Custom(e.to_string()))?;
    LineRow::find_by_statement(pg(
        "INSERT INTO cart_items (id, cart_id, item_type, item_id, name, price_minor, currency, snapshot, added_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING
         RETURNING id, item_type, item_id, name, price_minor, currency, snapshot, added_at",
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
    .one(c)
    .await
}

/// A cart's lines with one more, in the order [`lines`] reads them.
pub fn with_line(mut lines: Vec<LineRow>, added: LineRow) -> Vec<LineRow> {
    lines.push(added);
    lines.sort_by_key(|l| (l.added_at, l.id));
    lines
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
        vec![
            line.into(),
            price.amount.into(),
            price.currency.clone().into(),
            item.name.clone().into(),
            snapshot.into(),
        ],
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

/// Applies (`Some`) or removes (`None`) the cart's discount code.
pub async fn set_cart_discount(
    c: &impl ConnectionTrait,
    cart: Uuid,
    discount: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "UPDATE carts SET discount_id = $2, updated_at = $3 WHERE id = $1",
        vec![cart.into(), discount.into(), now.into()],
    ))
    .await?;
    Ok(())
}

/// Sets where the cart is billed.
pub async fn set_billing_address(
    c: &impl ConnectionTrait,
    cart: Uuid,
    address: &crate::domain::tax::BillingAddress,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let v = serde_json::to_value(address).map_err(|e| DbErr::Custom(e.to_string()))?;
    c.execute_raw(pg(
        "UPDATE carts SET billing_address = $2, updated_at = $3 WHERE id = $1",
        vec![cart.into(), v.into(), now.into()],
    ))
    .await?;
    Ok(())
}

/// Sets (`Some`) or clears the currency the cart is shown and paid in.
pub async fn set_display_currency(
    c: &impl ConnectionTrait,
    cart: Uuid,
    currency: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "UPDATE carts SET display_currency = $2, updated_at = $3 WHERE id = $1",
        vec![cart.into(), currency.map(str::to_string).into(), now.into()],
    ))
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: u128, at: i64) -> LineRow {
        LineRow {
            id: Uuid::from_u128(id),
            item_type: "course".into(),
            item_id: Uuid::from_u128(id),
            name: format!("line {id}"),
            price_minor: 100,
            currency: "USD".into(),
            snapshot: serde_json::Value::Null,
            added_at: DateTime::from_timestamp(at, 0).unwrap_or_default(),
        }
    }

    #[test]
    fn a_line_added_takes_its_place_by_time_then_id() {
        let ids = |v: Vec<LineRow>| v.iter().map(|l| l.id.as_u128()).collect::<Vec<_>>();
        assert_eq!(
            ids(with_line(vec![line(1, 10), line(2, 20)], line(3, 30))),
            [1, 2, 3]
        );
        // Same instant: the smaller id first, as `ORDER BY added_at, id` reads them.
        assert_eq!(
            ids(with_line(vec![line(5, 10), line(9, 20)], line(7, 20))),
            [5, 7, 9]
        );
        // A clock that stepped back still sorts as the database would.
        assert_eq!(ids(with_line(vec![line(1, 10)], line(2, 5))), [2, 1]);
    }
}
