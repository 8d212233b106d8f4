//! API response shapes and how rows become them.

use crate::model::CatalogItem;
use crate::storage::{self, CartRow, LineRow, OrderRow};
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use std::collections::HashSet;
use uuid::Uuid;
use web::ApiError;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CartLineView {
    pub id: Uuid,
    pub item_type: String,
    pub item_id: Uuid,
    pub name: String,
    pub quantity: u32,
    pub price: i64,
    /// What the applied discount code takes off this line.
    pub discount: i64,
    /// The estimated tax on this line (once a billing address is given).
    pub tax: i64,
    pub currency: String,
    /// The learner already owns this (a completed purchase covers every course in it).
    pub owned: bool,
    pub added_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CartView {
    pub id: Option<Uuid>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub items: Vec<CartLineView>,
    pub currency: Option<String>,
    pub subtotal: i64,
    /// The code applied to the cart (as its admin wrote it), whether or not it applies now.
    pub discount_code: Option<String>,
    pub discount_amount: i64,
    /// Why the applied code takes nothing off now (it expired, the cart changed…); checkout
    /// refuses with the same problem until the code is removed or applies again.
    pub discount_problem: Option<CartProblem>,
    /// Where the learner is billed; tax is estimated once it is given.
    pub billing_address: Option<crate::domain::tax::BillingAddress>,
    /// The estimate: checkout quotes again and freezes that figure on the order.
    pub tax: i64,
    /// How the estimate was made (`none`, `manual`, `taxjar`, `manual_fallback`); absent when
    /// no estimate was made.
    pub tax_source: Option<String>,
    /// Why there is no estimate (`billing_address_required`, `tax_unavailable`).
    pub tax_problem: Option<CartProblem>,
    pub total: i64,
    pub expires_at: Option<DateTime<Utc>>,
    /// The same figures in the currency asked with `?currency=` (for display: checkout charges
    /// the cart's currency).
    pub display: Option<DisplayView>,
    /// Why the cart's display currency cannot be shown now (`no_exchange_rate`).
    pub display_problem: Option<CartProblem>,
}

/// A cart's figures converted to a display currency, line by line, half to even.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DisplayView {
    pub currency: String,
    /// Display units per unit of the cart's (settlement) currency.
    pub exchange_rate: String,
    /// Per cart line, in the cart's order.
    pub lines: Vec<crate::domain::display::LineAmounts>,
    pub subtotal: i64,
    pub discount_amount: i64,
    pub tax: i64,
    pub total: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CartProblem {
    /// A stable problem code (`discount_*`, `billing_address_required`, `tax_unavailable`).
    pub code: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderItemView {
    pub id: Uuid,
    pub item_type: String,
    pub item_id: Uuid,
    pub name: String,
    pub department_id: String,
    pub price: i64,
    pub discount: i64,
    pub tax: i64,
    pub course_ids: Vec<Uuid>,
    /// Given back of this line so far (refunds are split over lines exactly).
    pub refunded_amount: i64,
    /// The line in the settlement currency, when the order is in a display currency.
    pub settlement: Option<crate::domain::display::LineAmounts>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub id: Uuid,
    pub order_number: String,
    pub user_id: String,
    pub status: String,
    pub payment_status: String,
    /// Given back so far, in minor units of `currency`.
    pub refunded_amount: i64,
    /// The same in the settlement currency, at the order's rate (half to even).
    pub refunded_settlement_amount: i64,
    /// When the cardholder disputed the payment (a chargeback), and why; nothing else follows.
    pub disputed_at: Option<DateTime<Utc>>,
    pub dispute_reason: Option<String>,
    pub items: Vec<OrderItemView>,
    pub subtotal: i64,
    pub discount_code: Option<String>,
    pub discount_amount: i64,
    pub tax: i64,
    /// How the tax was decided: `none`, `manual`, `taxjar`, `manual_fallback`.
    pub tax_source: Option<String>,
    /// The billing address the tax was quoted for.
    #[schema(value_type = Option<crate::domain::tax::BillingAddress>)]
    pub billing_address: Option<serde_json::Value>,
    /// The approved exemptions that applied.
    pub tax_exemption_ids: Vec<Uuid>,
    pub total: i64,
    pub currency: String,
    pub display_amount: i64,
    pub display_currency: String,
    pub settlement_amount: i64,
    pub settlement_currency: String,
    pub exchange_rate: String,
    pub exchange_rate_timestamp: DateTime<Utc>,
    /// An order in a display currency: where its rate came from and until when the quote holds
    /// (a payment started later re-quotes it).
    pub exchange_rate_source: Option<String>,
    pub quote_expires_at: Option<DateTime<Utc>>,
    pub payment_id: Option<Uuid>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// The courses of `items` that `user` owns (none for an anonymous cart).
async fn owned(
    conn: &impl ConnectionTrait,
    items: &[CatalogItem],
    user: Option<&str>,
) -> Result<HashSet<Uuid>, ApiError> {
    Ok(match user {
        Some(u) => {
            let all: Vec<_> = items.iter().flat_map(|i| i.course_ids()).collect();
            storage::owned_courses(conn, u, &all).await?
        }
        None => HashSet::new(),
    })
}

/// A learner owns an item when they own every course in it.
fn covers(item: &CatalogItem, owned: &HashSet<Uuid>) -> bool {
    !item.courses.is_empty() && item.courses.iter().all(|c| owned.contains(&c.course_id))
}

/// The items of `lines` that `user` already owns (checkout refuses them).
pub async fn owned_items(
    conn: &impl ConnectionTrait,
    lines: &[LineRow],
    user: &str,
) -> Result<Vec<Uuid>, ApiError> {
    let items: Vec<CatalogItem> = lines.iter().map(|l| l.item()).collect::<Result<_, _>>()?;
    let owned = owned(conn, &items, Some(user)).await?;
    Ok(items
        .iter()
        .filter(|i| covers(i, &owned))
        .map(|i| i.item_id)
        .collect())
}

/// The cart as the learner sees it at `now`, with "already owned" flags for a logged-in learner
/// and its discount code decided now.
pub async fn cart(
    conn: &impl ConnectionTrait,
    cart: Option<&CartRow>,
    lines: &[LineRow],
    user: Option<&str>,
    now: DateTime<Utc>,
) -> Result<CartView, ApiError> {
    let items: Vec<CatalogItem> = lines.iter().map(|l| l.item()).collect::<Result<_, _>>()?;
    let owned = owned(conn, &items, user).await?;
    let subtotal = lines
        .iter()
        .try_fold(0i64, |acc, l| acc.checked_add(l.price_minor))
        .ok_or_else(|| ApiError::internal("cart subtotal overflow"))?;
    let discount = match cart {
        Some(c) => {
            crate::pricing::cart_discount(conn, c, lines, user, crate::pricing::Limits::Read, now)
                .await?
        }
        None => None,
    };
    let per_line = discount
        .as_ref()
        .map_or_else(|| vec![0; lines.len()], |d| d.per_line(lines.len()));
    let discount_amount: i64 = per_line.iter().sum();
    Ok(CartView {
        id: cart.map(|c| c.id),
        user_id: cart.and_then(|c| c.user_id.clone()),
        session_id: cart.and_then(|c| c.session_id.clone()),
        items: lines
            .iter()
            .zip(&items)
            .zip(&per_line)
            .map(|((l, i), off)| CartLineView {
                id: l.id,
                item_type: l.item_type.clone(),
                item_id: l.item_id,
                name: l.name.clone(),
                quantity: 1,
                price: l.price_minor,
                discount: *off,
                tax: 0,
                currency: l.currency.clone(),
                owned: covers(i, &owned),
                added_at: l.added_at,
            })
            .collect(),
        currency: lines.first().map(|l| l.currency.clone()),
        subtotal,
        discount_code: discount.as_ref().map(|d| d.row.code.clone()),
        discount_amount,
        discount_problem: discount.and_then(|d| d.outcome.err()).map(|r| CartProblem {
            code: r.code().to_string(),
            detail: r.to_string(),
        }),
        billing_address: cart.map(CartRow::address).transpose()?.flatten(),
        tax: 0,
        tax_source: None,
        tax_problem: None,
        total: subtotal - discount_amount,
        expires_at: cart.map(|c| c.expires_at),
        display: None,
        display_problem: None,
    })
}

/// Orders with their items, as learners and admins see them.
pub async fn order_views(
    conn: &impl ConnectionTrait,
    rows: Vec<OrderRow>,
) -> Result<Vec<OrderView>, ApiError> {
    let ids: Vec<Uuid> = rows.iter().map(|o| o.id).collect();
    let mut items = storage::order_items(conn, &ids).await?;
    rows.into_iter()
        .map(|o| {
            let its = items.remove(&o.id).unwrap_or_default();
            order_view(o, &its)
        })
        .collect()
}

/// An order with the items already read (or just written) with it.
pub fn order_view(o: OrderRow, its: &[storage::OrderItemRow]) -> Result<OrderView, ApiError> {
    Ok(OrderView {
        id: o.id,
        order_number: o.order_number.clone(),
        user_id: o.user_id.clone(),
        payment_status: o.state()?.payment_status(o.refunded_minor).to_string(),
        refunded_amount: o.refunded_minor,
        refunded_settlement_amount: o.in_settlement(o.refunded_minor)?,
        disputed_at: o.disputed_at,
        dispute_reason: o.dispute_reason.clone(),
        status: o.status.clone(),
        items: its
            .iter()
            .map(|i| OrderItemView {
                id: i.id,
                item_type: i.item_type.clone(),
                item_id: i.item_id,
                name: i.name.clone(),
                department_id: i.department_id.clone(),
                price: i.price_minor,
                discount: i.discount_minor,
                tax: i.tax_minor,
                course_ids: i.course_ids.clone(),
                refunded_amount: i.refunded_minor,
                settlement: match (
                    i.settlement_price_minor,
                    i.settlement_discount_minor,
                    i.settlement_tax_minor,
                ) {
                    (Some(price), Some(discount), Some(tax)) => {
                        Some(crate::domain::display::LineAmounts {
                            price,
                            discount,
                            tax,
                        })
                    }
                    _ => None,
                },
            })
            .collect(),
        subtotal: o.subtotal_minor,
        discount_code: o.discount_code.clone(),
        discount_amount: o.discount_minor,
        tax: o.tax_minor,
        tax_source: o.tax_source.clone(),
        billing_address: o.billing_address.clone(),
        tax_exemption_ids: o.tax_exemption_ids.clone(),
        total: o.total_minor,
        currency: o.currency.clone(),
        display_amount: o.display_total_minor,
        display_currency: o.display_currency.clone(),
        settlement_amount: o.settlement_total_minor,
        settlement_currency: o.settlement_currency.clone(),
        exchange_rate: o.exchange_rate.normalize().to_string(),
        exchange_rate_timestamp: o.exchange_rate_at,
        exchange_rate_source: o.exchange_rate_source.clone(),
        quote_expires_at: o.quote_expires_at,
        payment_id: o.payment_id,
        failure_reason: o.failure_reason.clone(),
        created_at: o.created_at,
        updated_at: o.updated_at,
        completed_at: o.completed_at,
        cancelled_at: o.cancelled_at,
    })
}

/// A discount code as admins see it: its row.
pub use crate::storage::discounts::DiscountRow as DiscountView;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiscountPage {
    pub items: Vec<DiscountView>,
    pub next_cursor: Option<String>,
}
