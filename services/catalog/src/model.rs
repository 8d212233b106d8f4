//! The catalog's request shapes (camelCase, as in the spec's interfaces): bodies, queries and
//! path ids. The rules they must keep live in [`crate::domain`], which parses them into
//! `Valid*` values.

use crate::domain::{CatalogError, Interval, PriceType};
use crate::storage::ListFilter;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use web::page::PageQuery;
use web::{ApiError, Caller, Role};

/// Revenue shares as fractions of one (`0.30`), accepted as JSON numbers or decimal strings.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct SplitInput {
    #[schema(schema_with = share, example = 0.3)]
    pub platform: serde_json::Value,
    #[schema(schema_with = share, example = 0.4)]
    pub creator: serde_json::Value,
    #[schema(schema_with = share, example = 0.3)]
    pub instructor: serde_json::Value,
}

/// A number, or the same as a decimal string.
fn number_or_decimal(number: utoipa::openapi::Object, digits: &str) -> utoipa::openapi::Schema {
    use utoipa::openapi::{ObjectBuilder, schema::AnyOfBuilder, schema::Type};
    AnyOfBuilder::new()
        .item(number)
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(format!("^[0-9]{{1,{digits}}}(\\.[0-9]{{1,12}})?$"))),
        )
        .build()
        .into()
}

/// A revenue share: 0 to 1 (at most 4 decimals; the three sum to 1, else 422).
fn share() -> utoipa::openapi::Schema {
    use utoipa::openapi::{ObjectBuilder, schema::Type};
    number_or_decimal(
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .minimum(Some(0))
            .maximum(Some(1))
            .build(),
        "1",
    )
}

/// An exchange rate: positive, at most one billion (at most 10 decimals, else 422).
fn positive_rate() -> utoipa::openapi::Schema {
    use utoipa::openapi::{ObjectBuilder, schema::Type};
    number_or_decimal(
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .exclusive_minimum(Some(0))
            .maximum(Some(1_000_000_000))
            .build(),
        "10",
    )
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CourseInput {
    pub lms_course_id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub department_id: String,
    pub content_creator_id: String,
    pub instructor_id: String,
    #[serde(default)]
    pub approval_required: bool,
    pub revenue_split: Option<SplitInput>,
    pub available_from: Option<DateTime<Utc>>,
    pub available_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub published: bool,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProgramInput {
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub department_id: String,
    /// Member courses, in program order.
    pub course_ids: Vec<Uuid>,
    pub available_from: Option<DateTime<Utc>>,
    pub available_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub published: bool,
}

// A plan's billing terms, in requests and in answers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionTerms {
    pub interval: Interval,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_days: Option<u32>,
}

/// `POST /api/v2/admin/pricing` (the spec's `ICoursePricing`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PriceInput {
    pub course_id: Option<Uuid>,
    pub program_id: Option<Uuid>,
    /// Required for a department plan; derived from the course or program otherwise.
    pub department_id: Option<String>,
    pub price_type: PriceType,
    pub currency: String,
    /// Minor units (cents).
    pub base_price: i64,
    pub subscription: Option<SubscriptionTerms>,
    pub effective_from: Option<DateTime<Utc>>,
    pub effective_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DepartmentInput {
    pub name: String,
    pub parent_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRateInput {
    /// Display-currency units per one settlement-currency unit, e.g. "0.92".
    #[schema(schema_with = positive_rate, example = "0.92")]
    pub rate: serde_json::Value,
}

/// The query of course and program lists.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct BrowseQuery {
    /// Only this department.
    #[param(nullable = false)]
    pub department: Option<String>,
    /// Case-insensitive title search (at most 200 characters).
    #[param(nullable = false, max_length = 200)]
    pub q: Option<String>,
    #[param(nullable = false, schema_with = web::openapi::display_currency)]
    pub currency: Option<String>,
    /// The `nextCursor` of the previous page (empty: the first page).
    #[param(
        nullable = false,
        pattern = "^$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    pub cursor: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(nullable = false, minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

impl BrowseQuery {
    /// The list filter; `public_only` keeps what learners may browse.
    pub fn filter(&self, public_only: bool) -> Result<ListFilter, ApiError> {
        let page = PageQuery {
            cursor: self.cursor.clone(),
            limit: self.limit,
        };
        if self.q.as_deref().is_some_and(|q| q.chars().count() > 200) {
            return Err(CatalogError::InvalidQuery {
                field: "q",
                detail: "search text too long".into(),
            }
            .into());
        }
        Ok(ListFilter {
            department: self.department.clone().filter(|d| !d.is_empty()),
            departments_in: None,
            search: self
                .q
                .clone()
                .filter(|q| !q.trim().is_empty())
                .map(|q| q.trim().to_string()),
            public_only,
            cursor: page.cursor()?,
            limit: page.limit()?,
        })
    }

    /// The admin list filter, unpublished items included: a billing-admin sees every
    /// department, a dept-admin only its own.
    pub fn scoped(&self, caller: &Caller) -> Result<ListFilter, ApiError> {
        let mut f = self.filter(false)?;
        // Admin lists show settlement prices only, but the query means what it means elsewhere.
        if let Some(code) = self.currency.as_deref().filter(|c| !c.is_empty()) {
            kernel::Currency::parse(code)
                .map_err(|e| CatalogError::UnknownDisplayCurrency(e.to_string()))?;
        }
        if !caller.has(Role::BillingAdmin) {
            if let Some(d) = &f.department {
                caller.require_department(Role::DeptAdmin, d)?;
            }
            f.departments_in = Some(caller.departments.clone());
        }
        Ok(f)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CurrencyQuery {
    #[param(nullable = false, schema_with = web::openapi::display_currency)]
    pub currency: Option<String>,
}

/// The id in a path; one that is no UUID names nothing (404).
pub fn parse_id(raw: &str, what: &str) -> Result<Uuid, CatalogError> {
    Uuid::parse_str(raw).map_err(|_| CatalogError::NotFound(format!("no {what} `{raw}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn browse(q: Option<&str>) -> BrowseQuery {
        BrowseQuery {
            department: Some(String::new()),
            q: q.map(str::to_string),
            currency: None,
            cursor: None,
            limit: None,
        }
    }

    #[test]
    fn browse_filters_trim_and_bound_the_search() {
        let f = browse(Some("  rust ")).filter(true).unwrap();
        assert_eq!(f.search.as_deref(), Some("rust"));
        assert_eq!(f.department, None);
        assert!(f.public_only);
        assert_eq!(browse(Some("   ")).filter(false).unwrap().search, None);
        let long = "x".repeat(201);
        let e = browse(Some(&long)).filter(true).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (400, "invalid_query"));
        assert_eq!(e.field.as_deref(), Some("q"));
    }

    #[test]
    fn a_path_id_that_is_no_uuid_is_not_found() {
        let e = ApiError::from(parse_id("nope", "course").unwrap_err());
        assert_eq!((e.status.as_u16(), e.code), (404, "not_found"));
        assert_eq!(e.detail, "no course `nope`");
        let id = kernel::new_id();
        assert_eq!(parse_id(&id.to_string(), "course").unwrap(), id);
    }
}
