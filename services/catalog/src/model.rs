//! The catalog's API shapes (camelCase, as in the spec's interfaces) and their validation.
//! Parse, don't validate: a `Validated*` value can only be built from input that keeps the rules.

use chrono::{DateTime, Utc};
use kernel::{Currency, RevenueSplit};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use utoipa::ToSchema;
use uuid::Uuid;
use web::ApiError;

/// Revenue shares as fractions of one (`0.30`), accepted as JSON numbers or decimal strings.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct SplitInput {
    #[schema(value_type = f64, example = 0.3)]
    pub platform: serde_json::Value,
    #[schema(value_type = f64, example = 0.4)]
    pub creator: serde_json::Value,
    #[schema(value_type = f64, example = 0.3)]
    pub instructor: serde_json::Value,
}

fn share_bps(field: &str, v: &serde_json::Value) -> Result<u32, ApiError> {
    let text = match v {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_body",
                format!("`{field}` must be a number"),
            )
            .with_field(field));
        }
    };
    let d = Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| {
            ApiError::bad_request("invalid_body", format!("`{field}` must be a number"))
                .with_field(field)
        })?;
    let bps = d * Decimal::from(10_000);
    if d < Decimal::ZERO || d > Decimal::ONE || bps.fract() != Decimal::ZERO {
        return Err(ApiError::rule(
            "invalid_revenue_split",
            format!("`{field}` must be between 0 and 1 with at most 4 decimal places"),
        )
        .with_field(field));
    }
    u32::try_from(bps.mantissa() / 10i128.pow(bps.scale()))
        .map_err(|_| ApiError::rule("invalid_revenue_split", "share out of range"))
}

impl SplitInput {
    pub fn parse(&self) -> Result<RevenueSplit, ApiError> {
        let p = share_bps("revenueSplit.platform", &self.platform)?;
        let c = share_bps("revenueSplit.creator", &self.creator)?;
        let i = share_bps("revenueSplit.instructor", &self.instructor)?;
        RevenueSplit::new(p, c, i).map_err(|e| {
            ApiError::rule("invalid_revenue_split", e.to_string()).with_field("revenueSplit")
        })
    }
}

/// Shares as returned: fractions of one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SplitView {
    pub platform: f64,
    pub creator: f64,
    pub instructor: f64,
}

impl From<RevenueSplit> for SplitView {
    fn from(s: RevenueSplit) -> Self {
        let f = |bps: u32| f64::from(bps) / 10_000.0;
        SplitView {
            platform: f(s.platform_bps()),
            creator: f(s.creator_bps()),
            instructor: f(s.instructor_bps()),
        }
    }
}

fn non_blank(field: &str, v: &str, max: usize) -> Result<String, ApiError> {
    let t = v.trim();
    if t.is_empty() {
        return Err(
            ApiError::rule("invalid_field", format!("`{field}` must not be blank"))
                .with_field(field),
        );
    }
    if t.chars().count() > max {
        return Err(ApiError::rule(
            "invalid_field",
            format!("`{field}` is longer than {max} characters"),
        )
        .with_field(field));
    }
    Ok(t.to_string())
}

fn window(
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    until_field: &str,
) -> Result<(), ApiError> {
    if let (Some(f), Some(u)) = (from, until)
        && u <= f
    {
        return Err(ApiError::rule(
            "invalid_window",
            format!("`{until_field}` must be after its start"),
        )
        .with_field(until_field));
    }
    Ok(())
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

#[derive(Debug, Clone)]
pub struct ValidCourse {
    pub lms_course_id: String,
    pub title: String,
    pub description: String,
    pub department_id: String,
    pub creator_id: String,
    pub instructor_id: String,
    pub approval_required: bool,
    pub split: RevenueSplit,
    pub available_from: Option<DateTime<Utc>>,
    pub available_until: Option<DateTime<Utc>>,
    pub published: bool,
}

impl CourseInput {
    pub fn validate(self) -> Result<ValidCourse, ApiError> {
        window(self.available_from, self.available_until, "availableUntil")?;
        Ok(ValidCourse {
            lms_course_id: non_blank("lmsCourseId", &self.lms_course_id, 100)?,
            title: non_blank("title", &self.title, 200)?,
            description: self.description.trim().to_string(),
            department_id: non_blank("departmentId", &self.department_id, 100)?,
            creator_id: non_blank("contentCreatorId", &self.content_creator_id, 100)?,
            instructor_id: non_blank("instructorId", &self.instructor_id, 100)?,
            approval_required: self.approval_required,
            split: match &self.revenue_split {
                Some(s) => s.parse()?,
                None => RevenueSplit::default(),
            },
            available_from: self.available_from,
            available_until: self.available_until,
            published: self.published,
        })
    }
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

#[derive(Debug, Clone)]
pub struct ValidProgram {
    pub title: String,
    pub description: String,
    pub department_id: String,
    pub course_ids: Vec<Uuid>,
    pub available_from: Option<DateTime<Utc>>,
    pub available_until: Option<DateTime<Utc>>,
    pub published: bool,
}

impl ProgramInput {
    pub fn validate(self) -> Result<ValidProgram, ApiError> {
        window(self.available_from, self.available_until, "availableUntil")?;
        if self.course_ids.is_empty() {
            return Err(
                ApiError::rule("invalid_field", "a program needs at least one course")
                    .with_field("courseIds"),
            );
        }
        let mut seen = std::collections::HashSet::new();
        if !self.course_ids.iter().all(|c| seen.insert(*c)) {
            return Err(
                ApiError::rule("invalid_field", "a course appears twice in the program")
                    .with_field("courseIds"),
            );
        }
        Ok(ValidProgram {
            title: non_blank("title", &self.title, 200)?,
            description: self.description.trim().to_string(),
            department_id: non_blank("departmentId", &self.department_id, 100)?,
            course_ids: self.course_ids,
            available_from: self.available_from,
            available_until: self.available_until,
            published: self.published,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PriceType {
    OneTime,
    Subscription,
    Free,
}

impl PriceType {
    pub fn as_str(&self) -> &'static str {
        match self {
            PriceType::OneTime => "one-time",
            PriceType::Subscription => "subscription",
            PriceType::Free => "free",
        }
    }
    pub fn parse(s: &str) -> Option<PriceType> {
        match s {
            "one-time" => Some(PriceType::OneTime),
            "subscription" => Some(PriceType::Subscription),
            "free" => Some(PriceType::Free),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Monthly,
    Quarterly,
    Annual,
}

impl Interval {
    pub fn as_str(&self) -> &'static str {
        match self {
            Interval::Monthly => "monthly",
            Interval::Quarterly => "quarterly",
            Interval::Annual => "annual",
        }
    }
    pub fn parse(s: &str) -> Option<Interval> {
        match s {
            "monthly" => Some(Interval::Monthly),
            "quarterly" => Some(Interval::Quarterly),
            "annual" => Some(Interval::Annual),
            _ => None,
        }
    }
}

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

/// What a price is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceTarget {
    Course(Uuid),
    Program(Uuid),
    /// A department subscription plan.
    Department,
}

#[derive(Debug, Clone)]
pub struct ValidPrice {
    pub target: PriceTarget,
    pub department_id: Option<String>,
    pub price_type: PriceType,
    pub currency: Currency,
    pub amount_minor: i64,
    pub interval: Option<Interval>,
    pub trial_days: Option<u32>,
    pub effective_from: DateTime<Utc>,
    pub effective_until: Option<DateTime<Utc>>,
}

impl PriceInput {
    pub fn validate(self, now: DateTime<Utc>) -> Result<ValidPrice, ApiError> {
        let currency = Currency::parse(&self.currency).map_err(|e| {
            ApiError::rule("unknown_currency", e.to_string()).with_field("currency")
        })?;
        if self.base_price < 0 {
            return Err(
                ApiError::rule("negative_price", "basePrice must not be negative")
                    .with_field("basePrice"),
            );
        }
        let target = match (self.course_id, self.program_id) {
            (Some(_), Some(_)) => {
                return Err(ApiError::rule(
                    "invalid_target",
                    "a price is for a course or a program, not both",
                )
                .with_field("programId"));
            }
            (Some(c), None) => PriceTarget::Course(c),
            (None, Some(p)) => PriceTarget::Program(p),
            (None, None) => PriceTarget::Department,
        };
        match (self.price_type, &target) {
            (PriceType::Subscription, PriceTarget::Department) => {
                if self.subscription.is_none() {
                    return Err(ApiError::rule(
                        "invalid_subscription",
                        "a subscription price needs `subscription.interval`",
                    )
                    .with_field("subscription"));
                }
                if self
                    .department_id
                    .as_deref()
                    .map(str::trim)
                    .unwrap_or("")
                    .is_empty()
                {
                    return Err(ApiError::rule(
                        "invalid_target",
                        "a department plan needs `departmentId`",
                    )
                    .with_field("departmentId"));
                }
                if self.base_price == 0 {
                    return Err(ApiError::rule(
                        "invalid_price",
                        "a subscription plan must cost something; use a trial",
                    )
                    .with_field("basePrice"));
                }
            }
            (PriceType::Subscription, _) => {
                return Err(ApiError::rule(
                    "invalid_target",
                    "subscription prices are department plans: omit courseId and programId",
                )
                .with_field("priceType"));
            }
            (_, PriceTarget::Department) => {
                return Err(ApiError::rule(
                    "invalid_target",
                    "a one-time or free price needs courseId or programId",
                )
                .with_field("courseId"));
            }
            (PriceType::Free, _) if self.base_price != 0 => {
                return Err(
                    ApiError::rule("invalid_price", "a free price has basePrice 0")
                        .with_field("basePrice"),
                );
            }
            (PriceType::OneTime, _) if self.base_price == 0 => {
                return Err(ApiError::rule(
                    "invalid_price",
                    "a one-time price must be positive; use priceType free",
                )
                .with_field("basePrice"));
            }
            _ => {}
        }
        if self.price_type != PriceType::Subscription && self.subscription.is_some() {
            return Err(ApiError::rule(
                "invalid_subscription",
                "only subscription prices take `subscription`",
            )
            .with_field("subscription"));
        }
        if let Some(t) = self.subscription.as_ref().and_then(|s| s.trial_days)
            && t > 365
        {
            return Err(
                ApiError::rule("invalid_subscription", "trialDays must be at most 365")
                    .with_field("subscription.trialDays"),
            );
        }
        let effective_from = self.effective_from.unwrap_or(now);
        window(Some(effective_from), self.effective_until, "effectiveUntil")?;
        Ok(ValidPrice {
            target,
            department_id: self
                .department_id
                .map(|d| d.trim().to_string())
                .filter(|d| !d.is_empty()),
            price_type: self.price_type,
            currency,
            amount_minor: self.base_price,
            interval: self.subscription.as_ref().map(|s| s.interval),
            trial_days: self.subscription.as_ref().and_then(|s| s.trial_days),
            effective_from,
            effective_until: self.effective_until,
        })
    }
}

/// A price as returned (the spec's `ICoursePricing`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriceView {
    pub id: Uuid,
    pub course_id: Option<Uuid>,
    pub program_id: Option<Uuid>,
    pub department_id: String,
    pub price_type: PriceType,
    pub currency: String,
    /// Minor units.
    pub base_price: i64,
    pub subscription: Option<SubscriptionTerms>,
    pub is_active: bool,
    pub effective_from: DateTime<Utc>,
    pub effective_until: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A price converted to a display currency (ADR-003); settlement stays in `price`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DisplayPrice {
    pub amount: i64,
    pub currency: String,
    #[schema(value_type = String)]
    pub exchange_rate: String,
    pub exchange_rate_timestamp: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CourseView {
    pub id: Uuid,
    pub lms_course_id: String,
    pub title: String,
    pub description: String,
    pub department_id: String,
    pub content_creator_id: String,
    pub instructor_id: String,
    pub approval_required: bool,
    pub revenue_split: SplitView,
    pub available_from: Option<DateTime<Utc>>,
    pub available_until: Option<DateTime<Utc>>,
    /// Whether it can be bought now (published and inside its availability window).
    pub available: bool,
    pub published: bool,
    /// The current effective price, if any.
    pub price: Option<PriceView>,
    pub display_price: Option<DisplayPrice>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProgramView {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub department_id: String,
    pub available_from: Option<DateTime<Utc>>,
    pub available_until: Option<DateTime<Utc>>,
    pub available: bool,
    pub published: bool,
    /// Member courses in program order (only on detail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub courses: Option<Vec<CourseView>>,
    pub course_ids: Vec<Uuid>,
    /// The bundle price.
    pub price: Option<PriceView>,
    pub display_price: Option<DisplayPrice>,
    /// Sum of the member courses' current prices in the bundle's currency, when all have one.
    pub individual_total: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DepartmentInput {
    pub name: String,
    pub parent_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DepartmentView {
    pub id: String,
    pub name: Option<String>,
    pub parent_id: Option<String>,
    pub sub_department_ids: Vec<String>,
    /// Current subscription plans (monthly, quarterly, annual).
    pub plans: Vec<PriceView>,
    pub published_course_count: i64,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRateInput {
    /// Display-currency units per one settlement-currency unit, e.g. "0.92".
    #[schema(value_type = String, example = "0.92")]
    pub rate: serde_json::Value,
}

impl ExchangeRateInput {
    pub fn parse(&self) -> Result<Decimal, ApiError> {
        let text = match &self.rate {
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::String(s) => s.clone(),
            _ => {
                return Err(
                    ApiError::bad_request("invalid_body", "`rate` must be a decimal")
                        .with_field("rate"),
                );
            }
        };
        let d = Decimal::from_str(&text).map_err(|_| {
            ApiError::bad_request("invalid_body", "`rate` must be a decimal").with_field("rate")
        })?;
        if d <= Decimal::ZERO || d.scale() > 10 || d > Decimal::from(1_000_000_000) {
            return Err(ApiError::rule(
                "invalid_exchange_rate",
                "`rate` must be positive with at most 10 decimals",
            )
            .with_field("rate"));
        }
        Ok(d)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeRateView {
    pub currency: String,
    pub settlement_currency: String,
    #[schema(value_type = String)]
    pub rate: String,
    pub updated_at: DateTime<Utc>,
}

/// Converts `amount` in the settlement currency to `display` at `rate` (display units per
/// settlement unit), rounding half to even at the display currency's minor unit.
pub fn convert(amount: i64, settlement: Currency, display: Currency, rate: Decimal) -> Option<i64> {
    use rust_decimal::prelude::ToPrimitive;
    let exp_diff = i32::from(display.exponent()) - i32::from(settlement.exponent());
    let mut v = Decimal::from(amount).checked_mul(rate)?;
    let ten = Decimal::from(10);
    for _ in 0..exp_diff.abs() {
        v = if exp_diff > 0 {
            v.checked_mul(ten)?
        } else {
            v.checked_div(ten)?
        };
    }
    v.round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointNearestEven)
        .to_i64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(
        p: serde_json::Value,
        c: serde_json::Value,
        i: serde_json::Value,
    ) -> Result<RevenueSplit, ApiError> {
        SplitInput {
            platform: p,
            creator: c,
            instructor: i,
        }
        .parse()
    }

    #[test]
    fn parses_shares_exactly() {
        let s = split(0.3.into(), 0.4.into(), "0.30".into()).unwrap();
        assert_eq!(
            (s.platform_bps(), s.creator_bps(), s.instructor_bps()),
            (3000, 4000, 3000)
        );
        assert_eq!(
            split(0.3.into(), 0.3.into(), 0.3.into())
                .unwrap_err()
                .status
                .as_u16(),
            422
        );
        assert_eq!(
            split(0.33333.into(), 0.3.into(), 0.3.into())
                .unwrap_err()
                .status
                .as_u16(),
            422
        );
        assert_eq!(
            split((-0.1).into(), 0.6.into(), 0.5.into())
                .unwrap_err()
                .status
                .as_u16(),
            422
        );
    }

    #[test]
    fn converts_with_half_even_rounding_and_exponents() {
        let usd = Currency::USD;
        let eur = Currency::parse("EUR").unwrap();
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(
            convert(9200, usd, eur, Decimal::from_str("0.92").unwrap()),
            Some(8464)
        );
        // 0.5 cent rounds to even.
        assert_eq!(
            convert(1, usd, eur, Decimal::from_str("0.5").unwrap()),
            Some(0)
        );
        assert_eq!(
            convert(3, usd, eur, Decimal::from_str("0.5").unwrap()),
            Some(2)
        );
        // $10.00 at 150 JPY per USD is 1500 yen (exponent 0).
        assert_eq!(convert(1000, usd, jpy, Decimal::from(150)), Some(1500));
    }

    #[test]
    fn price_rules() {
        let now = chrono::DateTime::from_timestamp(1_764_320_000, 0).unwrap();
        let base = PriceInput {
            course_id: Some(Uuid::now_v7()),
            program_id: None,
            department_id: None,
            price_type: PriceType::OneTime,
            currency: "USD".into(),
            base_price: 4900,
            subscription: None,
            effective_from: None,
            effective_until: None,
        };
        assert!(base.clone().validate(now).is_ok());
        let neg = PriceInput {
            base_price: -1,
            ..base.clone()
        };
        assert_eq!(neg.validate(now).unwrap_err().code, "negative_price");
        let cur = PriceInput {
            currency: "ABC".into(),
            ..base.clone()
        };
        assert_eq!(cur.validate(now).unwrap_err().code, "unknown_currency");
        let win = PriceInput {
            effective_from: Some(now),
            effective_until: Some(now - chrono::Duration::days(1)),
            ..base.clone()
        };
        assert_eq!(win.validate(now).unwrap_err().code, "invalid_window");
        let plan = PriceInput {
            course_id: None,
            department_id: Some("d1".into()),
            price_type: PriceType::Subscription,
            subscription: Some(SubscriptionTerms {
                interval: Interval::Monthly,
                trial_days: Some(14),
            }),
            ..base
        };
        assert_eq!(plan.validate(now).unwrap().target, PriceTarget::Department);
    }
}
