//! API response shapes and how rows become them. A row the domain cannot read is an error here
//! too: a view is never built from a default.

use crate::domain::exchange_rate::display_amount;
use crate::domain::{self, CatalogError, PriceType};
use crate::model::SubscriptionTerms;
use crate::storage::{self, CourseRow, DepartmentRow, PriceRow, Priced, ProgramRow, RateRow};
use chrono::{DateTime, Utc};
use contracts::catalog::{CatalogCourse, CatalogPrice};
use kernel::{Currency, Money, Rate, RevenueSplit};
use sea_orm::{ConnectionTrait, DbErr};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

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

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeRateView {
    pub currency: String,
    pub settlement_currency: String,
    #[schema(value_type = String)]
    pub rate: String,
    pub updated_at: DateTime<Utc>,
}

pub fn price(r: &PriceRow) -> Result<PriceView, DbErr> {
    let trial_days = r.trial_days()?;
    Ok(PriceView {
        id: r.id,
        course_id: r.course_id,
        program_id: r.program_id,
        department_id: r.department_id.clone(),
        price_type: r.price_type()?,
        currency: r.currency.clone(),
        base_price: r.amount_minor,
        subscription: r.interval()?.map(|interval| SubscriptionTerms {
            interval,
            trial_days,
        }),
        is_active: r.is_active,
        effective_from: r.effective_from,
        effective_until: r.effective_until,
        created_by: r.created_by.clone(),
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

pub fn prices(rows: &[PriceRow]) -> Result<Vec<PriceView>, DbErr> {
    rows.iter().map(price).collect()
}

/// A display currency chosen with `?currency=`, and its rate when it is not the settlement
/// currency.
#[derive(Debug, Clone)]
pub struct Display {
    currency: Currency,
    settlement: Currency,
    rate: Option<(Rate, DateTime<Utc>)>,
}

impl Display {
    /// The display currency `code` names (none when absent or empty); a display currency other
    /// than the settlement currency needs an exchange rate.
    pub async fn resolve(
        conn: &impl ConnectionTrait,
        settlement: Currency,
        code: Option<&str>,
    ) -> Result<Option<Display>, CatalogError> {
        let Some(code) = code.filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        let currency = Currency::parse(code)
            .map_err(|e| CatalogError::UnknownDisplayCurrency(e.to_string()))?;
        if currency == settlement {
            return Ok(Some(Display {
                currency,
                settlement,
                rate: None,
            }));
        }
        let row = storage::rate(conn, currency)
            .await?
            .ok_or_else(|| CatalogError::NoExchangeRate(currency.to_string()))?;
        Ok(Some(Display {
            currency,
            settlement,
            rate: Some((row.rate()?, row.updated_at)),
        }))
    }
}

/// `price` in the display currency, when one was asked for and the price can be shown in it.
pub fn display_price(
    price: &PriceRow,
    d: Option<&Display>,
    now: DateTime<Utc>,
) -> Result<Option<DisplayPrice>, CatalogError> {
    let Some(d) = d else { return Ok(None) };
    let amount = Money::new(price.amount_minor, price.currency()?);
    let rate = d.rate.map(|(rate, _)| rate);
    let shown = match display_amount(amount, d.settlement, d.currency, rate) {
        Ok(Some(shown)) => shown,
        Ok(None) => return Ok(None),
        Err(e) => {
            // Too large to show in this currency: the price stands, without a display amount.
            tracing::warn!(price = %price.id, display = %d.currency, error = %e,
                "price not shown in the display currency");
            return Ok(None);
        }
    };
    let (exchange_rate, exchange_rate_timestamp) = match d.rate {
        Some((rate, at)) if amount.currency() != d.currency => (rate.to_string(), at),
        _ => ("1".to_string(), now),
    };
    Ok(Some(DisplayPrice {
        amount: shown.amount_minor(),
        currency: d.currency.code().to_string(),
        exchange_rate,
        exchange_rate_timestamp,
    }))
}

/// A course with its current price (if any) and that price in the display currency.
pub fn course(
    r: &CourseRow,
    current: Option<&PriceRow>,
    d: Option<&Display>,
    now: DateTime<Utc>,
) -> Result<CourseView, CatalogError> {
    Ok(CourseView {
        id: r.id,
        lms_course_id: r.lms_course_id.clone(),
        title: r.title.clone(),
        description: r.description.clone(),
        department_id: r.department_id.clone(),
        content_creator_id: r.creator_id.clone(),
        instructor_id: r.instructor_id.clone(),
        approval_required: r.approval_required,
        revenue_split: r.split()?.into(),
        available_from: r.available_from,
        available_until: r.available_until,
        available: domain::available(r.published, r.availability()?, now),
        published: r.published,
        price: current.map(price).transpose()?,
        display_price: match current {
            Some(p) => display_price(p, d, now)?,
            None => None,
        },
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// Courses with their current prices.
pub async fn courses(
    conn: &impl ConnectionTrait,
    rows: Vec<CourseRow>,
    d: Option<&Display>,
    now: DateTime<Utc>,
) -> Result<Vec<CourseView>, CatalogError> {
    let ids: Vec<_> = rows.iter().map(|r| r.id).collect();
    let prices = storage::current_prices(conn, Priced::Course, &ids, now).await?;
    rows.iter()
        .map(|r| course(r, prices.get(&r.id), d, now))
        .collect()
}

/// Programs with their bundle prices; `with_courses` adds the member courses (detail), only
/// published ones when `public_only`.
pub async fn programs(
    conn: &impl ConnectionTrait,
    rows: Vec<ProgramRow>,
    d: Option<&Display>,
    with_courses: bool,
    public_only: bool,
    now: DateTime<Utc>,
) -> Result<Vec<ProgramView>, CatalogError> {
    let ids: Vec<_> = rows.iter().map(|r| r.id).collect();
    let members = storage::program_course_ids(conn, &ids).await?;
    let bundle_prices = storage::current_prices(conn, Priced::Program, &ids, now).await?;
    let all_courses: Vec<_> = members.values().flatten().copied().collect();
    let course_rows = storage::courses_by_ids(conn, &all_courses).await?;
    let course_prices = storage::current_prices(conn, Priced::Course, &all_courses, now).await?;
    let by_id: HashMap<_, _> = course_rows.into_iter().map(|c| (c.id, c)).collect();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let course_ids = members.get(&r.id).cloned().unwrap_or_default();
        let bundle = bundle_prices.get(&r.id);
        let individual_total = bundle.and_then(|bp| {
            course_ids.iter().try_fold(0i64, |acc, c| {
                let p = course_prices.get(c)?;
                (p.currency == bp.currency).then_some(())?;
                acc.checked_add(p.amount_minor)
            })
        });
        let courses = if with_courses {
            let members = course_ids
                .iter()
                .filter_map(|c| by_id.get(c))
                .filter(|c| !public_only || c.published)
                .map(|c| course(c, course_prices.get(&c.id), d, now))
                .collect::<Result<Vec<_>, _>>()?;
            Some(members)
        } else {
            None
        };
        let mut view = program(&r, course_ids, now)?;
        view.courses = courses;
        view.price = bundle.map(price).transpose()?;
        view.display_price = match bundle {
            Some(p) => display_price(p, d, now)?,
            None => None,
        };
        view.individual_total = individual_total;
        out.push(view);
    }
    Ok(out)
}

/// A program without prices or member details (as answered to the admin who wrote it).
pub fn program(
    r: &ProgramRow,
    course_ids: Vec<Uuid>,
    now: DateTime<Utc>,
) -> Result<ProgramView, CatalogError> {
    Ok(ProgramView {
        id: r.id,
        title: r.title.clone(),
        description: r.description.clone(),
        department_id: r.department_id.clone(),
        available_from: r.available_from,
        available_until: r.available_until,
        available: domain::available(r.published, r.availability()?, now),
        published: r.published,
        courses: None,
        course_ids,
        price: None,
        display_price: None,
        individual_total: None,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// A department: its row if it has one, its sub-departments, current plans and course count.
pub fn department(
    id: &str,
    row: Option<&DepartmentRow>,
    sub_department_ids: Vec<String>,
    plans: &[PriceRow],
    published_course_count: i64,
) -> Result<DepartmentView, DbErr> {
    Ok(DepartmentView {
        id: id.to_string(),
        name: row.map(|d| d.name.clone()),
        parent_id: row.and_then(|d| d.parent_id.clone()),
        sub_department_ids,
        plans: prices(plans)?,
        published_course_count,
    })
}

pub fn exchange_rate(r: &RateRow, settlement: Currency) -> Result<ExchangeRateView, DbErr> {
    Ok(ExchangeRateView {
        currency: r.currency()?.code().to_string(),
        settlement_currency: settlement.code().to_string(),
        rate: r.rate()?.to_string(),
        updated_at: r.updated_at,
    })
}

/// A price as the internal item endpoint answers it (cart-order's snapshot).
pub fn item_price(p: &PriceRow) -> Result<CatalogPrice, DbErr> {
    Ok(CatalogPrice {
        id: p.id,
        price_type: p.price_type()?.as_str().to_string(),
        currency: p.currency()?.code().to_string(),
        amount: p.amount_minor,
        interval: p.interval()?.map(|i| i.as_str().to_string()),
        // Read strictly first: a negative trial is an error, not passed on.
        trial_days: p.trial_days()?.and(p.trial_days),
    })
}

/// A course as the internal item endpoint answers it, with its own current price.
pub fn item_course(c: &CourseRow, own_price: Option<i64>) -> Result<CatalogCourse, DbErr> {
    let s = c.split()?;
    Ok(CatalogCourse {
        course_id: c.id,
        lms_course_id: c.lms_course_id.clone(),
        title: c.title.clone(),
        department_id: c.department_id.clone(),
        creator_id: c.creator_id.clone(),
        instructor_id: c.instructor_id.clone(),
        approval_required: c.approval_required,
        platform_bps: s.platform_bps(),
        creator_bps: s.creator_bps(),
        instructor_bps: s.instructor_bps(),
        own_price,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::courses::tests::row as course_row;
    use crate::storage::prices::tests::row as price_row;
    use std::str::FromStr;
    use web::ApiError;

    fn now() -> DateTime<Utc> {
        course_row().created_at + chrono::Duration::days(30)
    }

    fn one_time(amount: i64, currency: &str) -> PriceRow {
        PriceRow {
            course_id: Some(kernel::new_id()),
            price_type: "one-time".into(),
            currency: currency.into(),
            amount_minor: amount,
            billing_interval: None,
            trial_days: None,
            ..price_row()
        }
    }

    fn eur(rate: &str) -> Display {
        let at = course_row().created_at;
        Display {
            currency: Currency::parse("EUR").unwrap(),
            settlement: Currency::USD,
            rate: Some((Rate::from_str(rate).unwrap(), at)),
        }
    }

    #[test]
    fn a_course_with_an_unreadable_split_is_a_500_not_30_40_30() {
        let ok = course(&course_row(), None, None, now()).unwrap();
        assert_eq!(ok.revenue_split.creator, 0.5);
        assert!(ok.available);
        let bad = CourseRow {
            platform_bps: 9000,
            ..course_row()
        };
        let e = ApiError::from(course(&bad, None, None, now()).unwrap_err());
        assert_eq!((e.status.as_u16(), e.code), (500, "internal"));
    }

    #[test]
    fn a_price_with_an_unknown_type_is_a_500_not_one_time() {
        let bad = PriceRow {
            price_type: "lifetime".into(),
            ..one_time(4900, "USD")
        };
        let e = ApiError::from(CatalogError::from(price(&bad).unwrap_err()));
        assert_eq!((e.status.as_u16(), e.code), (500, "internal"));
        let e = course(&course_row(), Some(&bad), None, now()).unwrap_err();
        assert_eq!(e.code(), "internal");
        assert!(item_price(&bad).is_err());
    }

    #[test]
    fn plans_carry_their_terms() {
        let v = price(&price_row()).unwrap();
        assert_eq!(v.price_type, PriceType::Subscription);
        let terms = v.subscription.unwrap();
        assert_eq!(
            (terms.interval, terms.trial_days),
            (crate::domain::Interval::Monthly, Some(14))
        );
        assert!(price(&one_time(100, "USD")).unwrap().subscription.is_none());
        let item = item_price(&price_row()).unwrap();
        assert_eq!(
            (
                item.price_type.as_str(),
                item.interval.as_deref(),
                item.trial_days
            ),
            ("subscription", Some("monthly"), Some(14))
        );
    }

    #[test]
    fn display_prices_convert_through_the_kernel() {
        let now = now();
        let d = eur("0.92");
        let shown = display_price(&one_time(9200, "USD"), Some(&d), now)
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                shown.amount,
                shown.currency.as_str(),
                shown.exchange_rate.as_str()
            ),
            (8464, "EUR", "0.92")
        );
        assert_eq!(shown.exchange_rate_timestamp, course_row().created_at);
        // Already in the display currency: rate 1, as of now.
        let same = display_price(&one_time(700, "EUR"), Some(&d), now)
            .unwrap()
            .unwrap();
        assert_eq!((same.amount, same.exchange_rate.as_str()), (700, "1"));
        assert_eq!(same.exchange_rate_timestamp, now);
        // A third currency cannot be shown; no display currency asked, nothing shown.
        assert!(
            display_price(&one_time(700, "GBP"), Some(&d), now)
                .unwrap()
                .is_none()
        );
        assert!(
            display_price(&one_time(700, "USD"), None, now)
                .unwrap()
                .is_none()
        );
        // Shown in the settlement currency itself.
        let usd = Display {
            currency: Currency::USD,
            settlement: Currency::USD,
            rate: None,
        };
        assert!(
            display_price(&one_time(700, "EUR"), Some(&usd), now)
                .unwrap()
                .is_none()
        );
        assert_eq!(
            display_price(&one_time(700, "USD"), Some(&usd), now)
                .unwrap()
                .unwrap()
                .amount,
            700
        );
        // A price whose currency cannot be read is an error.
        assert!(display_price(&one_time(700, "XYZ"), Some(&d), now).is_err());
    }
}
