//! What a cart costs now: its lines, the discount code applied to it (decided by
//! [`crate::domain::discount`] against the code's current rules and uses), and the tax where the
//! learner is billed, under the exemptions that hold there. The cart view and checkout both ask
//! here, so the figure a learner sees is the figure checkout charges.

use crate::domain::CartOrderError;
use crate::domain::discount::{Applied, DiscountLine, Refusal, Uses, apply};
use crate::domain::tax::BillingAddress;
use crate::storage::discounts::{self, DiscountRow};
use crate::storage::tax_exemptions;
use crate::storage::{CartRow, LineRow};
use crate::tax::{self, TaxError};
use crate::views::{CartProblem, CartView};
use chrono::{DateTime, Utc};
use kernel::Currency;
use sea_orm::{ConnectionTrait, DbErr};
use std::collections::HashMap;
use uuid::Uuid;
use web::ApiError;

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

/// The exemptions that cover a purchase: the learner's own (the whole order, passed to TaxJar
/// as its exemption type) or their lines' departments' (those lines only).
#[derive(Debug, Clone, Default)]
pub struct Exemptions {
    pub whole: Option<(Uuid, String)>,
    pub by_department: HashMap<String, Uuid>,
}

impl Exemptions {
    /// Every exemption the purchase used (the order records them): the learner's, or those of
    /// the cart's departments (only those were looked up).
    pub fn used(&self) -> Vec<Uuid> {
        match &self.whole {
            Some((id, _)) => vec![*id],
            None => {
                let mut ids: Vec<Uuid> = self.by_department.values().copied().collect();
                ids.sort();
                ids.dedup();
                ids
            }
        }
    }
}

/// The approved, unexpired exemptions of `user` and of the lines' departments that hold where
/// the learner is billed.
pub async fn exemptions(
    conn: &impl ConnectionTrait,
    user: Option<&str>,
    departments: &[String],
    address: &BillingAddress,
    now: DateTime<Utc>,
) -> Result<Exemptions, DbErr> {
    let rows = tax_exemptions::approved_for(conn, user.unwrap_or_default(), departments).await?;
    let mut out = Exemptions::default();
    for r in rows
        .iter()
        .filter(|r| r.covers(&address.country, address.region.as_deref(), now))
    {
        match (&r.user_id, &r.department_id) {
            (Some(u), _) if Some(u.as_str()) == user && out.whole.is_none() => {
                out.whole = Some((r.id, r.exemption_type.clone()));
            }
            (None, Some(d)) => {
                out.by_department.entry(d.clone()).or_insert(r.id);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The tax request for a cart's lines less their discounts.
pub fn tax_request<'a>(
    currency: Currency,
    address: &'a BillingAddress,
    lines: &[LineRow],
    discounts: &[i64],
    exempt: &Exemptions,
    customer_id: &'a str,
) -> Result<tax::Request<'a>, DbErr> {
    let lines = lines
        .iter()
        .zip(discounts)
        .map(|(l, d)| {
            let department_id = l.item()?.department_id;
            Ok(tax::Line {
                id: l.id.to_string(),
                exempt: exempt.by_department.contains_key(&department_id),
                department_id,
                price: l.price_minor,
                discount: *d,
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    Ok(tax::Request {
        currency,
        address,
        lines,
        exemption_type: exempt.whole.as_ref().map(|(_, t)| t.clone()),
        customer_id,
    })
}

/// The cart's departments, for exemptions.
pub fn departments(lines: &[LineRow]) -> Result<Vec<String>, DbErr> {
    let mut d = lines
        .iter()
        .map(|l| l.item().map(|i| i.department_id))
        .collect::<Result<Vec<_>, _>>()?;
    d.sort();
    d.dedup();
    Ok(d)
}

/// Adds the tax estimate to a cart view, outside any transaction (TaxJar may be called).
pub async fn estimate_tax(
    state: &crate::CartOrder,
    v: &mut CartView,
    lines: &[LineRow],
    user: Option<&str>,
) -> Result<(), ApiError> {
    if lines.is_empty() || !state.tax.needs_address() {
        return Ok(());
    }
    let Some(address) = v.billing_address.clone() else {
        v.tax_problem = Some(CartProblem {
            code: "billing_address_required".into(),
            detail: CartOrderError::BillingAddressRequired.to_string(),
        });
        return Ok(());
    };
    let currency = Currency::parse(&lines[0].currency).map_err(ApiError::internal)?;
    let now = state.clock.now();
    let ex = exemptions(&state.db, user, &departments(lines)?, &address, now).await?;
    let discounts: Vec<i64> = v.items.iter().map(|i| i.discount).collect();
    let req = tax_request(
        currency,
        &address,
        lines,
        &discounts,
        &ex,
        user.unwrap_or("anonymous"),
    )?;
    match state.tax.quote(&state.db, &req).await {
        Ok(q) => {
            for (item, t) in v.items.iter_mut().zip(&q.per_line) {
                item.tax = *t;
            }
            v.tax = q.total;
            v.total = v
                .total
                .checked_add(q.total)
                .ok_or_else(|| ApiError::internal("cart total overflow"))?;
            v.tax_source = Some(q.source.as_str().to_string());
        }
        Err(TaxError::Unavailable(m)) => {
            v.tax_problem = Some(CartProblem {
                code: "tax_unavailable".into(),
                detail: m,
            });
        }
        Err(e) => return Err(ApiError::internal(e)),
    }
    Ok(())
}
