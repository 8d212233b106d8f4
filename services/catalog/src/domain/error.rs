//! Everything the catalog can refuse, with its stable problem code. The mapping to HTTP lives
//! here and nowhere else.

use uuid::Uuid;
use web::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A body member of the wrong JSON type (a share or a rate that is not a number).
    #[error("{detail}")]
    InvalidBody { field: &'static str, detail: String },
    /// A query parameter out of bounds.
    #[error("{detail}")]
    InvalidQuery { field: &'static str, detail: String },
    /// `?currency=` names no ISO 4217 currency (a malformed query: 400).
    #[error("{0}")]
    UnknownDisplayCurrency(String),
    /// A body or path currency that is no ISO 4217 currency (a broken rule: 422).
    #[error("{detail}")]
    UnknownCurrency {
        field: Option<&'static str>,
        detail: String,
    },
    /// A text field blank, too long, or a list that breaks its rule.
    #[error("{detail}")]
    InvalidField { field: &'static str, detail: String },
    #[error("{detail}")]
    InvalidRevenueSplit {
        field: Option<&'static str>,
        detail: String,
    },
    /// A window whose end is not after its start.
    #[error("`{field}` must be after its start")]
    InvalidWindow { field: &'static str },
    #[error("basePrice must not be negative")]
    NegativePrice,
    /// A price for the wrong kind of target (course, program, department plan).
    #[error("{detail}")]
    InvalidTarget {
        field: &'static str,
        detail: &'static str,
    },
    #[error("{detail}")]
    InvalidSubscription {
        field: &'static str,
        detail: &'static str,
    },
    /// An amount that does not fit its price type.
    #[error("{0}")]
    InvalidPrice(&'static str),
    #[error("no course `{id}`")]
    UnknownCourse { id: Uuid, field: &'static str },
    #[error("no program `{0}`")]
    UnknownProgram(Uuid),
    /// A price whose `departmentId` is not the department of its course or program.
    #[error("the item belongs to department `{owner}`")]
    DepartmentMismatch { owner: String },
    #[error("a department cannot be its own ancestor")]
    DepartmentCycle,
    #[error("{detail}")]
    InvalidExchangeRate {
        field: Option<&'static str>,
        detail: &'static str,
    },
    /// A display currency without an exchange rate.
    #[error("no exchange rate for {0}")]
    NoExchangeRate(String),
    #[error("another course already has this lmsCourseId")]
    DuplicateLmsCourseId,
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    /// Data that must be right is not: never defaulted, logged and answered 500.
    #[error("{0}")]
    Corrupt(String),
}

impl CatalogError {
    pub fn code(&self) -> &'static str {
        use CatalogError::*;
        match self {
            InvalidBody { .. } => "invalid_body",
            InvalidQuery { .. } => "invalid_query",
            UnknownDisplayCurrency(_) | UnknownCurrency { .. } => "unknown_currency",
            InvalidField { .. } => "invalid_field",
            InvalidRevenueSplit { .. } => "invalid_revenue_split",
            InvalidWindow { .. } => "invalid_window",
            NegativePrice => "negative_price",
            InvalidTarget { .. } => "invalid_target",
            InvalidSubscription { .. } => "invalid_subscription",
            InvalidPrice(_) => "invalid_price",
            UnknownCourse { .. } => "unknown_course",
            UnknownProgram(_) => "unknown_program",
            DepartmentMismatch { .. } => "department_mismatch",
            DepartmentCycle => "department_cycle",
            InvalidExchangeRate { .. } => "invalid_exchange_rate",
            NoExchangeRate(_) => "no_exchange_rate",
            DuplicateLmsCourseId => "duplicate_lms_course_id",
            NotFound(_) => "not_found",
            Db(_) | Corrupt(_) => "internal",
        }
    }

    /// The request member the problem is about, when there is one.
    pub fn field(&self) -> Option<&'static str> {
        use CatalogError::*;
        match self {
            InvalidBody { field, .. }
            | InvalidQuery { field, .. }
            | InvalidField { field, .. }
            | InvalidWindow { field }
            | InvalidTarget { field, .. }
            | InvalidSubscription { field, .. }
            | UnknownCourse { field, .. } => Some(field),
            UnknownCurrency { field, .. }
            | InvalidRevenueSplit { field, .. }
            | InvalidExchangeRate { field, .. } => *field,
            UnknownDisplayCurrency(_) | NoExchangeRate(_) => Some("currency"),
            NegativePrice | InvalidPrice(_) => Some("basePrice"),
            UnknownProgram(_) => Some("programId"),
            DepartmentMismatch { .. } => Some("departmentId"),
            DepartmentCycle => Some("parentId"),
            DuplicateLmsCourseId => Some("lmsCourseId"),
            NotFound(_) | Db(_) | Corrupt(_) => None,
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> ApiError {
        use CatalogError::*;
        let detail = e.to_string();
        let code = e.code();
        let field = e.field();
        let api = match e {
            InvalidBody { .. } | InvalidQuery { .. } | UnknownDisplayCurrency(_) => {
                ApiError::bad_request(code, detail)
            }
            UnknownCurrency { .. }
            | InvalidField { .. }
            | InvalidRevenueSplit { .. }
            | InvalidWindow { .. }
            | NegativePrice
            | InvalidTarget { .. }
            | InvalidSubscription { .. }
            | InvalidPrice(_)
            | UnknownCourse { .. }
            | UnknownProgram(_)
            | DepartmentMismatch { .. }
            | DepartmentCycle
            | InvalidExchangeRate { .. }
            | NoExchangeRate(_) => ApiError::rule(code, detail),
            DuplicateLmsCourseId => ApiError::conflict(code, detail),
            NotFound(_) => ApiError::not_found(detail),
            Corrupt(_) => ApiError::internal(detail),
            Db(e) => e.into(),
        };
        match field {
            Some(f) => api.with_field(f),
            None => api,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::ResponseError;

    #[test]
    fn each_refusal_has_its_status_code_and_field() {
        let id = kernel::new_id();
        let cases: Vec<(CatalogError, u16, &str, Option<&str>)> = vec![
            (
                CatalogError::InvalidBody {
                    field: "rate",
                    detail: "x".into(),
                },
                400,
                "invalid_body",
                Some("rate"),
            ),
            (
                CatalogError::InvalidQuery {
                    field: "q",
                    detail: "x".into(),
                },
                400,
                "invalid_query",
                Some("q"),
            ),
            (
                CatalogError::UnknownDisplayCurrency("x".into()),
                400,
                "unknown_currency",
                Some("currency"),
            ),
            (
                CatalogError::UnknownCurrency {
                    field: Some("currency"),
                    detail: "x".into(),
                },
                422,
                "unknown_currency",
                Some("currency"),
            ),
            (
                CatalogError::UnknownCurrency {
                    field: None,
                    detail: "x".into(),
                },
                422,
                "unknown_currency",
                None,
            ),
            (
                CatalogError::InvalidField {
                    field: "title",
                    detail: "x".into(),
                },
                422,
                "invalid_field",
                Some("title"),
            ),
            (
                CatalogError::InvalidRevenueSplit {
                    field: Some("revenueSplit"),
                    detail: "x".into(),
                },
                422,
                "invalid_revenue_split",
                Some("revenueSplit"),
            ),
            (
                CatalogError::InvalidWindow {
                    field: "availableUntil",
                },
                422,
                "invalid_window",
                Some("availableUntil"),
            ),
            (
                CatalogError::NegativePrice,
                422,
                "negative_price",
                Some("basePrice"),
            ),
            (
                CatalogError::InvalidTarget {
                    field: "courseId",
                    detail: "x",
                },
                422,
                "invalid_target",
                Some("courseId"),
            ),
            (
                CatalogError::InvalidSubscription {
                    field: "subscription",
                    detail: "x",
                },
                422,
                "invalid_subscription",
                Some("subscription"),
            ),
            (
                CatalogError::InvalidPrice("x"),
                422,
                "invalid_price",
                Some("basePrice"),
            ),
            (
                CatalogError::UnknownCourse {
                    id,
                    field: "courseIds",
                },
                422,
                "unknown_course",
                Some("courseIds"),
            ),
            (
                CatalogError::UnknownProgram(id),
                422,
                "unknown_program",
                Some("programId"),
            ),
            (
                CatalogError::DepartmentMismatch { owner: "d".into() },
                422,
                "department_mismatch",
                Some("departmentId"),
            ),
            (
                CatalogError::DepartmentCycle,
                422,
                "department_cycle",
                Some("parentId"),
            ),
            (
                CatalogError::InvalidExchangeRate {
                    field: Some("rate"),
                    detail: "x",
                },
                422,
                "invalid_exchange_rate",
                Some("rate"),
            ),
            (
                CatalogError::NoExchangeRate("EUR".into()),
                422,
                "no_exchange_rate",
                Some("currency"),
            ),
            (
                CatalogError::DuplicateLmsCourseId,
                409,
                "duplicate_lms_course_id",
                Some("lmsCourseId"),
            ),
            (
                CatalogError::NotFound("no course".into()),
                404,
                "not_found",
                None,
            ),
            (CatalogError::Corrupt("x".into()), 500, "internal", None),
            (
                CatalogError::Db(sea_orm::DbErr::Custom("bad row".into())),
                500,
                "internal",
                None,
            ),
        ];
        for (e, status, code, field) in cases {
            let what = format!("{e:?}");
            let api: ApiError = e.into();
            assert_eq!(api.status_code().as_u16(), status, "{what}");
            assert_eq!(api.code, code, "{what}");
            assert_eq!(api.field.as_deref(), field, "{what}");
        }
    }

    #[test]
    fn details_keep_their_wording() {
        let id = kernel::new_id();
        let detail = |e: CatalogError| ApiError::from(e).detail;
        assert_eq!(
            detail(CatalogError::UnknownCourse {
                id,
                field: "courseId"
            }),
            format!("no course `{id}`")
        );
        assert_eq!(
            detail(CatalogError::InvalidWindow {
                field: "effectiveUntil"
            }),
            "`effectiveUntil` must be after its start"
        );
        assert_eq!(
            detail(CatalogError::NoExchangeRate("EUR".into())),
            "no exchange rate for EUR"
        );
        // Internals are logged, never answered.
        assert_eq!(
            detail(CatalogError::Corrupt("secret cause".into())),
            "an unexpected error occurred"
        );
    }
}
