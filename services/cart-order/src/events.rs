//! The events cart-order publishes, built from rows. They leave through the outbox, written in
//! the same transaction as the change they announce.

use crate::domain::CartOrderError;
use crate::model::CatalogItem;
use crate::storage::{OrderItemRow, OrderRow};
use chrono::{DateTime, Utc};
use events::commerce::v1 as ev;
use uuid::Uuid;

fn amounts(o: &OrderRow) -> ev::Amounts {
    ev::Amounts {
        subtotal_minor: o.subtotal_minor,
        discount_minor: o.discount_minor,
        tax_minor: o.tax_minor,
        total_minor: o.total_minor,
        display_currency: o.display_currency.clone(),
        settlement_total_minor: o.settlement_total_minor,
        settlement_currency: o.settlement_currency.clone(),
        exchange_rate: o.exchange_rate.normalize().to_string(),
        exchange_rate_timestamp: o.exchange_rate_at.to_rfc3339(),
    }
}

/// Each line with the snapshot of its courses and each course's exact share of the line. A
/// snapshot that cannot be read or allocated is an error: an event never goes out without its
/// lines.
pub fn lines(items: &[OrderItemRow]) -> Result<Vec<ev::OrderLine>, CartOrderError> {
    items
        .iter()
        .map(|i| {
            let snap: CatalogItem = serde_json::from_value(i.snapshot.clone()).map_err(|e| {
                CartOrderError::Corrupt(format!("order item {}: bad snapshot: {e}", i.id))
            })?;
            let net = i
                .price_minor
                .checked_sub(i.discount_minor)
                .ok_or_else(|| CartOrderError::Corrupt(format!("order item {}: overflow", i.id)))?;
            let shares = crate::domain::checkout::allocate(&snap, net).map_err(|e| {
                CartOrderError::Corrupt(format!("order item {}: cannot allocate: {e}", i.id))
            })?;
            Ok(ev::OrderLine {
                item_type: i.item_type.clone(),
                item_id: i.item_id.to_string(),
                name: i.name.clone(),
                price_minor: i.price_minor,
                discount_minor: i.discount_minor,
                tax_minor: i.tax_minor,
                department_id: i.department_id.clone(),
                order_item_id: i.id.to_string(),
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

pub fn order_created(
    o: &OrderRow,
    items: &[OrderItemRow],
) -> Result<ev::OrderCreated, CartOrderError> {
    Ok(ev::OrderCreated {
        order_id: o.id.to_string(),
        order_number: o.order_number.clone(),
        user_id: o.user_id.clone(),
        lines: lines(items)?,
        amounts: Some(amounts(o)),
        discount_code: o.discount_code.clone().unwrap_or_default(),
        created_at: o.created_at.to_rfc3339(),
        customer_email: o.customer_email.clone().unwrap_or_default(),
        customer_name: o.customer_name.clone().unwrap_or_default(),
    })
}

/// What the capture that completes an order tells its consumers.
#[derive(Debug, Clone)]
pub struct Captured {
    pub payment_id: Uuid,
    pub transaction_id: String,
    /// The processor's fee in the order's currency.
    pub fee_minor: i64,
}

pub fn order_completed(
    o: &OrderRow,
    items: &[OrderItemRow],
    payment: Option<&Captured>,
    now: DateTime<Utc>,
) -> Result<ev::OrderCompleted, CartOrderError> {
    Ok(ev::OrderCompleted {
        order_id: o.id.to_string(),
        order_number: o.order_number.clone(),
        user_id: o.user_id.clone(),
        lines: lines(items)?,
        amounts: Some(amounts(o)),
        payment_id: payment
            .map(|p| p.payment_id.to_string())
            .unwrap_or_default(),
        completed_at: now.to_rfc3339(),
        processor_transaction_id: payment
            .map(|p| p.transaction_id.clone())
            .unwrap_or_default(),
        processor_fee_minor: payment.map(|p| p.fee_minor).unwrap_or_default(),
        customer_email: o.customer_email.clone().unwrap_or_default(),
        customer_name: o.customer_name.clone().unwrap_or_default(),
        subscription_id: o.subscription_id.map(|s| s.to_string()).unwrap_or_default(),
    })
}

pub fn order_refunded(
    o: &OrderRow,
    amount: kernel::Money,
    full: bool,
    now: DateTime<Utc>,
) -> ev::OrderRefunded {
    ev::OrderRefunded {
        order_id: o.id.to_string(),
        user_id: o.user_id.clone(),
        refunded_minor: amount.amount_minor(),
        currency: amount.currency().code().to_string(),
        full,
        refunded_at: now.to_rfc3339(),
    }
}

pub fn order_failed(o: &OrderRow, reason: &str, now: DateTime<Utc>) -> ev::OrderFailed {
    ev::OrderFailed {
        order_id: o.id.to_string(),
        user_id: o.user_id.clone(),
        reason: reason.to_string(),
        failed_at: now.to_rfc3339(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(snapshot: serde_json::Value) -> OrderItemRow {
        OrderItemRow {
            id: Uuid::now_v7(),
            order_id: Uuid::now_v7(),
            item_type: "course".into(),
            item_id: Uuid::now_v7(),
            name: "Rust".into(),
            department_id: "d".into(),
            price_minor: 4900,
            discount_minor: 0,
            tax_minor: 0,
            course_ids: vec![],
            snapshot,
            refunded_minor: 0,
            settlement_price_minor: None,
            settlement_discount_minor: None,
            settlement_tax_minor: None,
        }
    }

    #[test]
    fn a_bad_snapshot_is_an_error_not_an_event_without_lines() {
        let e = lines(&[item(serde_json::json!({"not": "a snapshot"}))]).unwrap_err();
        assert_eq!(e.code(), "internal");
    }
}
