//! What a cart costs now: its lines and the discount code applied to it, decided by
//! [`crate::domain::discount`] against the code's current rules and uses. The cart view and
//! checkout both ask here, so the figure a learner sees is the figure checkout charges.

use crate::domain::discount::{Applied, DiscountLine, Refusal, Uses, apply};
use crate::storage::discounts::{self, DiscountRow};
use crate::storage::{CartRow, LineRow};
use chrono::{DateTime, Utc};
use kernel::Currency;
use sea_orm::{ConnectionTrait, DbErr};

/// The cart's code and what it does to this cart.
#[derive(Debug, Clone)]
pub struct CartDiscount {
    pub row: DiscountRow,
    pub outcome: Result<Applied, Refusal>,
}

impl CartDiscount {
    /// The amount off each line; all zero when the code does not apply.
    pub fn per_line(&self, lines: usize) -> Vec<i64> {
        match &self.outcome {
            Ok(a) => a.per_line.clone(),
            Err(_) => vec![0; lines],
        }
    }
}

/// The cart's lines as a code sees them; a snapshot or currency that cannot be read is an error.
pub fn discount_lines(lines: &[LineRow]) -> Result<Vec<DiscountLine>, DbErr> {
    lines
        .iter()
        .map(|l| {
            Ok(DiscountLine {
                item_type: l.item_type.clone(),
                item_id: l.item_id,
                department_id: l.item()?.department_id,
                price: l.price_minor,
            })
        })
        .collect()
}

/// Whether the code's use limits are read now, or left to the reservation that enforces them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limits {
    /// The cart and the apply route: tell the learner early.
    Read,
    /// Checkout: the guarded reservation under the cart's lock decides (a repeated checkout
    /// must find its order, not its own reservation counted against it).
    AtReservation,
}

/// Decides `row` against a cart of `lines` for `user` (anonymous: the per-learner limit waits
/// for checkout).
pub async fn evaluate(
    conn: &impl ConnectionTrait,
    row: &DiscountRow,
    lines: &[LineRow],
    user: Option<&str>,
    limits: Limits,
    now: DateTime<Utc>,
) -> Result<Result<Applied, Refusal>, DbErr> {
    let Some(first) = lines.first() else {
        return Ok(Err(Refusal::NotApplicable("the cart is empty".into())));
    };
    let currency = Currency::parse(&first.currency)
        .map_err(|e| DbErr::Custom(format!("cart line {}: {e}", first.id)))?;
    let uses = match limits {
        Limits::Read => discounts::uses(conn, row, user).await?,
        Limits::AtReservation => Uses::default(),
    };
    Ok(apply(
        &row.rules()?,
        &discount_lines(lines)?,
        currency,
        uses,
        now,
    ))
}

/// The cart's applied code, if any, decided now.
pub async fn cart_discount(
    conn: &impl ConnectionTrait,
    cart: &CartRow,
    lines: &[LineRow],
    user: Option<&str>,
    limits: Limits,
    now: DateTime<Utc>,
) -> Result<Option<CartDiscount>, DbErr> {
    let Some(id) = cart.discount_id else {
        return Ok(None);
    };
    let Some(row) = discounts::discount(conn, id).await? else {
        return Ok(None);
    };
    let outcome = evaluate(conn, &row, lines, user, limits, now).await?;
    Ok(Some(CartDiscount { row, outcome }))
}
