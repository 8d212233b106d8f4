//! Cart and order shapes, the catalog snapshot they carry, and the pure rules over them.

use crate::domain::CartOrderError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use web::ApiError;

/// What the catalog says about an item (`/internal/v1/catalog/items/{type}/{id}`); stored as the
/// line's snapshot so an order never needs the catalog again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CatalogItem {
    pub item_type: String,
    pub item_id: Uuid,
    pub name: String,
    pub department_id: String,
    pub published: bool,
    pub available: bool,
    pub price: Option<CatalogPrice>,
    pub courses: Vec<CatalogCourse>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CatalogPrice {
    pub id: Uuid,
    pub price_type: String,
    pub currency: String,
    pub amount: i64,
    pub interval: Option<String>,
    pub trial_days: Option<i32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CatalogCourse {
    pub course_id: Uuid,
    pub lms_course_id: String,
    pub title: String,
    pub department_id: String,
    pub creator_id: String,
    pub instructor_id: String,
    pub approval_required: bool,
    pub platform_bps: u32,
    pub creator_bps: u32,
    pub instructor_bps: u32,
    pub own_price: Option<i64>,
}

impl CatalogItem {
    /// The item can be bought now, or why not.
    pub fn sellable(&self) -> Result<&CatalogPrice, CartOrderError> {
        if !self.published || !self.available {
            return Err(CartOrderError::ItemUnavailable(format!(
                "`{}` is not available for purchase",
                self.name
            )));
        }
        if self.item_type == "program" && self.courses.is_empty() {
            return Err(CartOrderError::ItemUnavailable(format!(
                "`{}` has no courses",
                self.name
            )));
        }
        self.price.as_ref().ok_or_else(|| {
            CartOrderError::ItemUnavailable(format!("`{}` has no current price", self.name))
        })
    }

    pub fn course_ids(&self) -> Vec<Uuid> {
        self.courses.iter().map(|c| c.course_id).collect()
    }

    /// Splits `amount` over the item's courses, weighted by their own prices (equally when
    /// any is unknown), so the parts sum exactly to the line. An amount that cannot be
    /// allocated is an error, never a row of zeros.
    pub fn allocate(&self, amount: i64) -> Result<Vec<i64>, kernel::MoneyError> {
        if self.courses.is_empty() {
            return Ok(vec![]);
        }
        let weights: Vec<u64> = match self
            .courses
            .iter()
            .map(|c| c.own_price.filter(|p| *p > 0))
            .collect::<Option<Vec<_>>>()
        {
            Some(prices) => prices.into_iter().map(|p| p.unsigned_abs()).collect(),
            None => vec![1; self.courses.len()],
        };
        kernel::allocate(amount, &weights)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddItem {
    pub item_type: ItemType,
    pub item_id: Uuid,
    /// Accepted for compatibility and ignored: prices always come from the catalog.
    #[serde(default)]
    pub quantity: Option<u32>,
    #[serde(default)]
    pub price: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemType {
    Course,
    Program,
    Subscription,
}

impl ItemType {
    pub fn as_str(&self) -> &'static str {
        match self {
            ItemType::Course => "course",
            ItemType::Program => "program",
            ItemType::Subscription => "subscription",
        }
    }
}

/// `X-Session-Id`: the anonymous cart's key (1 to 128 visible ASCII characters).
pub fn session_id(req: &actix_web::HttpRequest) -> Result<Option<String>, ApiError> {
    match req.headers().get("x-session-id") {
        None => Ok(None),
        Some(v) => {
            let s = v.to_str().map_err(|_| {
                ApiError::bad_request("invalid_session", "X-Session-Id must be ASCII")
            })?;
            if s.is_empty() || s.len() > 128 || !s.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ApiError::bad_request(
                    "invalid_session",
                    "X-Session-Id must be 1 to 128 visible characters",
                ));
            }
            Ok(Some(s.to_string()))
        }
    }
}

/// The order number for the `n`-th order of `year`: `ORD-2026-00001`.
pub fn order_number(year: i32, n: i64) -> String {
    format!("ORD-{year}-{n:05}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn course(price: Option<i64>) -> CatalogCourse {
        CatalogCourse {
            course_id: Uuid::now_v7(),
            lms_course_id: "l".into(),
            title: "t".into(),
            department_id: "d".into(),
            creator_id: "c".into(),
            instructor_id: "i".into(),
            approval_required: false,
            platform_bps: 3000,
            creator_bps: 4000,
            instructor_bps: 3000,
            own_price: price,
        }
    }

    #[test]
    fn numbers_orders_per_year() {
        assert_eq!(order_number(2026, 1), "ORD-2026-00001");
        assert_eq!(order_number(2026, 123_456), "ORD-2026-123456");
    }

    #[test]
    fn allocates_a_bundle_by_member_prices_exactly() {
        let item = CatalogItem {
            item_type: "program".into(),
            item_id: Uuid::now_v7(),
            name: "p".into(),
            department_id: "d".into(),
            published: true,
            available: true,
            price: None,
            courses: vec![course(Some(4900)), course(Some(5900)), course(Some(7900))],
        };
        let parts = item.allocate(14_900).unwrap();
        assert_eq!(parts.iter().sum::<i64>(), 14_900);
        assert!(parts[2] > parts[1] && parts[1] > parts[0]);
        let mut unknown = item.clone();
        unknown.courses[1].own_price = None;
        assert_eq!(unknown.allocate(100).unwrap(), vec![34, 33, 33]);
    }
}
