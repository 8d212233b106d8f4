//! HTTP routes of the catalog, one file per resource, and the OpenAPI document.

pub mod admin;
pub mod internal;
pub mod pricing;
pub mod public;

use crate::Catalog;
use crate::model::*;
use crate::storage::{self, CourseRow, PriceRow, ProgramRow, RateRow};
use ::web::ApiError;
use actix_web::web;
use chrono::{DateTime, Utc};
use kernel::Currency;
use utoipa::OpenApi;

pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<Catalog>) {
    cfg.app_data(state)
        .route(
            "/api/v2/catalog/courses",
            web::get().to(public::list_courses),
        )
        .route(
            "/api/v2/catalog/courses/{id}",
            web::get().to(public::get_course),
        )
        .route(
            "/api/v2/catalog/programs",
            web::get().to(public::list_programs),
        )
        .route(
            "/api/v2/catalog/programs/{id}",
            web::get().to(public::get_program),
        )
        .route(
            "/api/v2/catalog/departments/{id}",
            web::get().to(public::get_department),
        )
        .route(
            "/api/v2/catalog/exchange-rates",
            web::get().to(public::list_rates),
        )
        .route("/api/v2/admin/pricing", web::post().to(pricing::create))
        .route("/api/v2/admin/pricing", web::get().to(pricing::list))
        .route(
            "/api/v2/admin/pricing/{id}",
            web::delete().to(pricing::deactivate),
        )
        .route(
            "/api/v2/admin/catalog/courses",
            web::post().to(admin::create_course),
        )
        .route(
            "/api/v2/admin/catalog/courses",
            web::get().to(admin::list_courses),
        )
        .route(
            "/api/v2/admin/catalog/courses/{id}",
            web::put().to(admin::update_course),
        )
        .route(
            "/api/v2/admin/catalog/programs",
            web::post().to(admin::create_program),
        )
        .route(
            "/api/v2/admin/catalog/programs",
            web::get().to(admin::list_programs),
        )
        .route(
            "/api/v2/admin/catalog/programs/{id}",
            web::put().to(admin::update_program),
        )
        .route(
            "/api/v2/admin/catalog/departments/{id}",
            web::put().to(admin::put_department),
        )
        .route(
            "/api/v2/admin/catalog/exchange-rates/{currency}",
            web::put().to(admin::put_rate),
        )
        .route(
            "/internal/v1/catalog/items/{kind}/{id}",
            web::get().to(internal::item),
        );
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Cadence Commerce — catalog", version = "2"),
    paths(
        public::list_courses, public::get_course, public::list_programs, public::get_program,
        public::get_department, public::list_rates,
        pricing::create, pricing::list, pricing::deactivate,
        admin::create_course, admin::list_courses, admin::update_course,
        admin::create_program, admin::list_programs, admin::update_program,
        admin::put_department, admin::put_rate,
    ),
    components(schemas(
        CourseInput, CourseView, ProgramInput, ProgramView, PriceInput, PriceView, DepartmentInput,
        DepartmentView, ExchangeRateInput, ExchangeRateView, DisplayPrice, SplitInput, SplitView,
        PriceType, Interval, SubscriptionTerms,
    )),
    tags((name = "catalog", description = "Courses, programs, plans and prices"))
)]
struct CatalogApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    CatalogApi::openapi()
}

/// A display currency chosen with `?currency=` and its rate.
pub(crate) struct Display {
    currency: Currency,
    rate: Option<RateRow>,
}

pub(crate) async fn display(
    state: &Catalog,
    currency: Option<&str>,
) -> Result<Option<Display>, ApiError> {
    let Some(code) = currency.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let currency = Currency::parse(code).map_err(|e| {
        ApiError::bad_request("unknown_currency", e.to_string()).with_field("currency")
    })?;
    let rate = if currency == state.settlement {
        None
    } else {
        storage::rate(&state.db, currency.code()).await?
    };
    if currency != state.settlement && rate.is_none() {
        return Err(ApiError::rule(
            "no_exchange_rate",
            format!("no exchange rate for {currency}"),
        )
        .with_field("currency"));
    }
    Ok(Some(Display { currency, rate }))
}

pub(crate) fn display_price(
    state: &Catalog,
    price: &PriceRow,
    d: Option<&Display>,
    now: DateTime<Utc>,
) -> Option<DisplayPrice> {
    let d = d?;
    let price_currency = Currency::parse(&price.currency).ok()?;
    if price_currency == d.currency {
        return Some(DisplayPrice {
            amount: price.amount_minor,
            currency: d.currency.code().to_string(),
            exchange_rate: "1".into(),
            exchange_rate_timestamp: now,
        });
    }
    let rate = d.rate.as_ref()?;
    if price_currency != state.settlement {
        return None;
    }
    Some(DisplayPrice {
        amount: convert(price.amount_minor, state.settlement, d.currency, rate.rate)?,
        currency: d.currency.code().to_string(),
        exchange_rate: rate.rate.normalize().to_string(),
        exchange_rate_timestamp: rate.updated_at,
    })
}

pub(crate) async fn course_views(
    state: &Catalog,
    rows: Vec<CourseRow>,
    d: Option<&Display>,
) -> Result<Vec<CourseView>, ApiError> {
    let now = state.clock.now();
    let ids: Vec<_> = rows.iter().map(|r| r.id).collect();
    let prices = storage::current_prices(&state.db, "course_id", &ids, now).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let price = prices.get(&r.id);
            course_view(
                &r,
                price,
                price.and_then(|p| display_price(state, p, d, now)),
                now,
            )
        })
        .collect())
}

pub(crate) fn course_view(
    r: &CourseRow,
    price: Option<&PriceRow>,
    display: Option<DisplayPrice>,
    now: DateTime<Utc>,
) -> CourseView {
    CourseView {
        id: r.id,
        lms_course_id: r.lms_course_id.clone(),
        title: r.title.clone(),
        description: r.description.clone(),
        department_id: r.department_id.clone(),
        content_creator_id: r.creator_id.clone(),
        instructor_id: r.instructor_id.clone(),
        approval_required: r.approval_required,
        revenue_split: r.split().into(),
        available_from: r.available_from,
        available_until: r.available_until,
        available: r.available_at(now),
        published: r.published,
        price: price.map(PriceRow::view),
        display_price: display,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// Program views; `with_courses` adds the member courses (detail).
pub(crate) async fn program_views(
    state: &Catalog,
    rows: Vec<ProgramRow>,
    d: Option<&Display>,
    with_courses: bool,
    public_only: bool,
) -> Result<Vec<ProgramView>, ApiError> {
    let now = state.clock.now();
    let ids: Vec<_> = rows.iter().map(|r| r.id).collect();
    let members = storage::program_course_ids(&state.db, &ids).await?;
    let bundle_prices = storage::current_prices(&state.db, "program_id", &ids, now).await?;
    let all_courses: Vec<_> = members.values().flatten().copied().collect();
    let course_rows = storage::courses_by_ids(&state.db, &all_courses).await?;
    let course_prices = storage::current_prices(&state.db, "course_id", &all_courses, now).await?;
    let by_id: std::collections::HashMap<_, _> =
        course_rows.into_iter().map(|c| (c.id, c)).collect();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let course_ids = members.get(&r.id).cloned().unwrap_or_default();
        let price = bundle_prices.get(&r.id);
        let individual_total = price.and_then(|bp| {
            course_ids.iter().try_fold(0i64, |acc, c| {
                let p = course_prices.get(c)?;
                (p.currency == bp.currency).then_some(())?;
                acc.checked_add(p.amount_minor)
            })
        });
        let courses = with_courses.then(|| {
            course_ids
                .iter()
                .filter_map(|c| by_id.get(c))
                .filter(|c| !public_only || c.published)
                .map(|c| {
                    let p = course_prices.get(&c.id);
                    course_view(c, p, p.and_then(|p| display_price(state, p, d, now)), now)
                })
                .collect()
        });
        out.push(ProgramView {
            id: r.id,
            title: r.title.clone(),
            description: r.description.clone(),
            department_id: r.department_id.clone(),
            available_from: r.available_from,
            available_until: r.available_until,
            available: r.available_at(now),
            published: r.published,
            courses,
            course_ids,
            price: price.map(PriceRow::view),
            display_price: price.and_then(|p| display_price(state, p, d, now)),
            individual_total,
            created_at: r.created_at,
            updated_at: r.updated_at,
        });
    }
    Ok(out)
}

pub(crate) fn parse_id(raw: &str, what: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| ApiError::not_found(format!("no {what} `{raw}`")))
}
