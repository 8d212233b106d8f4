//! `GET /internal/v1/orders/{id}`: what payment needs to charge an order (cart-order serves it).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub fn order_path(id: Uuid) -> String {
    format!("/internal/v1/orders/{id}")
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OrderForPayment {
    pub id: Uuid,
    pub order_number: String,
    pub user_id: String,
    /// The order's status (`pending`, `completed`, ...).
    pub status: String,
    /// The amount to charge, in minor units of `currency`.
    pub total: i64,
    pub currency: String,
    /// The departments of the order's lines, first line first (the processor is chosen by the first).
    pub department_ids: Vec<String>,
    /// What each line costs the learner; the amounts sum to `total` exactly. Refunds are
    /// allocated over these.
    pub lines: Vec<PayableLine>,
    /// When the order is in a display currency: until when its exchange-rate quote holds. A
    /// payment is not started on an expired quote; the order is re-quoted first
    /// ([`requote_path`]).
    #[serde(default)]
    pub quote_expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// cart-order's internal re-quote of an order whose display-currency quote expired: answers the
/// order (re-quoted when its quote expired longer ago than the grace period).
pub fn requote_path(id: Uuid) -> String {
    format!("/internal/v1/orders/{id}/requote")
}

/// cart-order's internal route for the orders of a subscription (payment calls it).
pub const SUBSCRIPTION_ORDERS_PATH: &str = "/internal/v1/subscription-orders";

/// An order of a subscription: one period's charge (the plan, with the courses its revenue is
/// attributed to) or a course the learner enrolls in through it (at no charge). `source_key` makes
/// it once: asking again with the same key answers the same order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionOrder {
    /// `sub:<id>:period:<n>` or `sub:<id>:course:<course id>`.
    pub source_key: String,
    pub subscription_id: Uuid,
    pub user_id: String,
    /// The line's snapshot, as the catalog states the item.
    pub item: crate::catalog::CatalogItem,
    /// What the line costs, in minor units of `currency` (0 for an enrollment).
    pub amount: i64,
    pub currency: String,
    /// Where the receipt goes, as the learner's token said when they subscribed.
    #[serde(default)]
    pub customer_email: Option<String>,
    #[serde(default)]
    pub customer_name: Option<String>,
}

/// One order line as payment needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayableLine {
    pub order_item_id: Uuid,
    /// In minor units of the order's currency.
    pub amount: i64,
}

impl OrderForPayment {
    /// Whether the lines sum to the total exactly (a payment is refused otherwise).
    pub fn lines_sum_to_total(&self) -> bool {
        self.lines
            .iter()
            .try_fold(0i64, |acc, l| acc.checked_add(l.amount))
            .is_some_and(|sum| sum == self.total)
            && self.lines.iter().all(|l| l.amount >= 0)
    }

    /// The amount to charge; an unknown currency breaks the contract.
    pub fn amount(&self) -> Result<kernel::Money, kernel::MoneyError> {
        Ok(kernel::Money::new(
            self.total,
            kernel::Currency::parse(&self.currency)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_the_wire_names() {
        let o = OrderForPayment {
            id: Uuid::now_v7(),
            order_number: "ORD-2026-00001".into(),
            user_id: "u1".into(),
            status: "pending".into(),
            total: 4900,
            currency: "USD".into(),
            department_ids: vec!["cs".into()],
            lines: vec![PayableLine {
                order_item_id: Uuid::now_v7(),
                amount: 4900,
            }],
            quote_expires_at: None,
        };
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["orderNumber"], "ORD-2026-00001");
        assert_eq!(json["lines"][0]["amount"], 4900);
        assert!(json["lines"][0]["orderItemId"].is_string());
        assert_eq!(json["departmentIds"][0], "cs");
        assert_eq!(serde_json::from_value::<OrderForPayment>(json).unwrap(), o);
        assert_eq!(order_path(o.id), format!("/internal/v1/orders/{}", o.id));
        assert_eq!(
            o.amount().unwrap(),
            kernel::Money::new(4900, kernel::Currency::USD)
        );
        assert!(o.lines_sum_to_total());
        let short = OrderForPayment {
            total: 5000,
            ..o.clone()
        };
        assert!(!short.lines_sum_to_total());
        let bad = OrderForPayment {
            currency: "US".into(),
            ..o
        };
        assert!(bad.amount().is_err());
    }
}
