//! `GET /internal/v1/catalog/items/{type}/{id}`: everything cart-order must snapshot when an item
//! is added or re-priced. Unpublished items are answered too (`published: false`) so the caller
//! can tell "unknown" (404) from "not for sale" (422).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The path of an item (`course`, `program` or `subscription`).
pub fn item_path(kind: &str, id: Uuid) -> String {
    format!("/internal/v1/catalog/items/{kind}/{id}")
}

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
    pub fn course_ids(&self) -> Vec<Uuid> {
        self.courses.iter().map(|c| c.course_id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_the_wire_names() {
        let item = CatalogItem {
            item_type: "program".into(),
            item_id: Uuid::now_v7(),
            name: "Data".into(),
            department_id: "cs".into(),
            published: true,
            available: true,
            price: Some(CatalogPrice {
                id: Uuid::now_v7(),
                price_type: "one_time".into(),
                currency: "USD".into(),
                amount: 14_900,
                interval: None,
                trial_days: None,
            }),
            courses: vec![CatalogCourse {
                course_id: Uuid::now_v7(),
                lms_course_id: "lms-1".into(),
                title: "SQL".into(),
                department_id: "cs".into(),
                creator_id: "c".into(),
                instructor_id: "i".into(),
                approval_required: true,
                platform_bps: 3000,
                creator_bps: 4000,
                instructor_bps: 3000,
                own_price: Some(4900),
            }],
        };
        let json = serde_json::to_value(&item).unwrap();
        assert_eq!(json["itemType"], "program");
        assert_eq!(json["courses"][0]["lmsCourseId"], "lms-1");
        assert_eq!(json["courses"][0]["ownPrice"], 4900);
        assert_eq!(json["price"]["priceType"], "one_time");
        let back: CatalogItem = serde_json::from_value(json).unwrap();
        assert_eq!(back, item);
        assert_eq!(
            item_path("course", item.item_id),
            format!("/internal/v1/catalog/items/course/{}", item.item_id)
        );
    }
}
