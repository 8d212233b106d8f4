//! Order rules shared by routes and handlers: views, events, the completion transition, and the
//! settlement conversion (ADR-003).

use crate::NAME;
use crate::model::*;
use crate::storage::{self, OrderItemRow, OrderRow};
use chrono::{DateTime, Utc};
use events::commerce::v1 as ev;
use events::subjects;
use kernel::Currency;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sea_orm::ConnectionTrait;
use uuid::Uuid;
use web::ApiError;

/// `amount` in `display` converted to `settlement` at `rate` (display units per settlement unit),
/// half to even at the settlement currency's minor unit.
pub fn to_settlement(
    amount: i64,
    display: Currency,
    settlement: Currency,
    rate: Decimal,
) -> Option<i64> {
    if display == settlement {
        return Some(amount);
    }
    let exp_diff = i32::from(settlement.exponent()) - i32::from(display.exponent());
    let mut v = Decimal::from(amount).checked_div(rate)?;
    for _ in 0..exp_diff.abs() {
        v = if exp_diff > 0 {
            v.checked_mul(Decimal::from(10))?
        } else {
            v.checked_div(Decimal::from(10))?
        };
    }
    v.round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointNearestEven)
        .to_i64()
}

pub fn payment_status(status: &str) -> &'static str {
    match status {
        "completed" | "cancelled" => "completed",
        "failed" => "failed",
        "refunded" => "refunded",
        _ => "pending",
    }
}

pub async fn views(
    conn: &impl ConnectionTrait,
    rows: Vec<OrderRow>,
) -> Result<Vec<OrderView>, ApiError> {
    let ids: Vec<Uuid> = rows.iter().map(|o| o.id).collect();
    let mut items = storage::order_items(conn, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|o| {
            let its = items.remove(&o.id).unwrap_or_default();
            OrderView {
                id: o.id,
                order_number: o.order_number.clone(),
                user_id: o.user_id.clone(),
                payment_status: payment_status(&o.status).to_string(),
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
                    })
                    .collect(),
                subtotal: o.subtotal_minor,
                discount_code: o.discount_code.clone(),
                discount_amount: o.discount_minor,
                tax: o.tax_minor,
                total: o.total_minor,
                currency: o.currency.trim().to_string(),
                display_amount: o.display_total_minor,
                display_currency: o.display_currency.trim().to_string(),
                settlement_amount: o.settlement_total_minor,
                settlement_currency: o.settlement_currency.trim().to_string(),
                exchange_rate: o.exchange_rate.normalize().to_string(),
                exchange_rate_timestamp: o.exchange_rate_at,
                payment_id: o.payment_id,
                failure_reason: o.failure_reason.clone(),
                created_at: o.created_at,
                updated_at: o.updated_at,
                completed_at: o.completed_at,
                cancelled_at: o.cancelled_at,
            }
        })
        .collect())
}

fn amounts(o: &OrderRow) -> ev::Amounts {
    ev::Amounts {
        subtotal_minor: o.subtotal_minor,
        discount_minor: o.discount_minor,
        tax_minor: o.tax_minor,
        total_minor: o.total_minor,
        display_currency: o.display_currency.trim().to_string(),
        settlement_total_minor: o.settlement_total_minor,
        settlement_currency: o.settlement_currency.trim().to_string(),
        exchange_rate: o.exchange_rate.normalize().to_string(),
        exchange_rate_timestamp: o.exchange_rate_at.to_rfc3339(),
    }
}

/// Each line with the snapshot of its courses and each course's exact share of the line.
pub fn lines(items: &[OrderItemRow]) -> Result<Vec<ev::OrderLine>, ApiError> {
    items
        .iter()
        .map(|i| {
            let snap: CatalogItem =
                serde_json::from_value(i.snapshot.clone()).map_err(ApiError::internal)?;
            let net = i.price_minor - i.discount_minor;
            let shares = snap.allocate(net);
            Ok(ev::OrderLine {
                item_type: i.item_type.clone(),
                item_id: i.item_id.to_string(),
                name: i.name.clone(),
                price_minor: i.price_minor,
                discount_minor: i.discount_minor,
                tax_minor: i.tax_minor,
                department_id: i.department_id.clone(),
                courses: snap
                    .courses
                    .iter()
                    .zip(shares)
                    .map(|(c, share)| ev::LineCourse {
                        course_id: c.course_id.to_string(),
                        lms_course_id: c.lms_course_id.clone(),
                        title: c.title.clone(),
                        creator_id: c.creator_id.clone(),
                        instructor_id: c.instructor_id.clone(),
                        approval_required: c.approval_required,
                        revenue_split: Some(ev::RevenueSplit {
                            platform_bps: c.platform_bps,
                            creator_bps: c.creator_bps,
                            instructor_bps: c.instructor_bps,
                        }),
                        allocated_minor: share,
                    })
                    .collect(),
            })
        })
        .collect()
}

pub fn created_event(o: &OrderRow, items: &[OrderItemRow]) -> ev::OrderCreated {
    ev::OrderCreated {
        order_id: o.id.to_string(),
        order_number: o.order_number.clone(),
        user_id: o.user_id.clone(),
        lines: lines(items).unwrap_or_default(),
        amounts: Some(amounts(o)),
        discount_code: o.discount_code.clone().unwrap_or_default(),
        created_at: o.created_at.to_rfc3339(),
    }
}

/// pending → completed with its effects: owned courses and `order.completed`. Returns false when
/// the order had already left `pending` (a duplicate or late signal changes nothing).
pub async fn complete(
    conn: &impl ConnectionTrait,
    o: &OrderRow,
    items: &[OrderItemRow],
    payment: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    if !storage::complete(conn, o.id, payment, now).await? {
        return Ok(false);
    }
    let courses: Vec<Uuid> = items
        .iter()
        .flat_map(|i| i.course_ids.iter().copied())
        .collect();
    storage::add_owned(conn, &o.user_id, &courses, o.id).await?;
    let event = ev::OrderCompleted {
        order_id: o.id.to_string(),
        order_number: o.order_number.clone(),
        user_id: o.user_id.clone(),
        lines: lines(items)?,
        amounts: Some(amounts(o)),
        payment_id: payment.map(|p| p.to_string()).unwrap_or_default(),
        completed_at: now.to_rfc3339(),
    };
    bus::enqueue(conn, NAME, subjects::ORDER_COMPLETED, &event).await?;
    Ok(true)
}

/// pending → failed with `order.failed`. Returns false when the order was not pending.
pub async fn fail(
    conn: &impl ConnectionTrait,
    o: &OrderRow,
    payment: Option<Uuid>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    if !storage::fail(conn, o.id, payment, reason, now).await? {
        return Ok(false);
    }
    let event = ev::OrderFailed {
        order_id: o.id.to_string(),
        user_id: o.user_id.clone(),
        reason: reason.to_string(),
        failed_at: now.to_rfc3339(),
    };
    bus::enqueue(conn, NAME, subjects::ORDER_FAILED, &event).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn converts_display_to_settlement_half_even() {
        let usd = Currency::USD;
        let eur = Currency::parse("EUR").unwrap();
        let jpy = Currency::parse("JPY").unwrap();
        // €84.64 at 0.92 EUR per USD is $92.00.
        assert_eq!(
            to_settlement(8464, eur, usd, Decimal::from_str("0.92").unwrap()),
            Some(9200)
        );
        assert_eq!(
            to_settlement(1500, jpy, usd, Decimal::from(150)),
            Some(1000)
        );
        assert_eq!(to_settlement(777, usd, usd, Decimal::ONE), Some(777));
    }
}
