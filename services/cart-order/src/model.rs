//! Cart and order shapes, the catalog snapshot they carry, and the pure rules over them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use web::ApiError;

pub use contracts::catalog::{CatalogCourse, CatalogItem, CatalogPrice};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddItem {
    pub item_type: ItemType,
    pub item_id: Uuid,
    /// Accepted for compatibility and ignored: prices always come from the catalog.
    #[serde(default)]
    pub quantity: Option<u32>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub price: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

    #[test]
    fn numbers_orders_per_year() {
        assert_eq!(order_number(2026, 1), "ORD-2026-00001");
        assert_eq!(order_number(2026, 123_456), "ORD-2026-123456");
    }
}
