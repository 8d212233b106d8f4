//! Manual tax rates (dept-admins for their departments, billing-admins for all and for rates of
//! every department) and tax exemptions (submitted by a learner for their own orders or by a
//! dept-admin for their department; approved or rejected once by a billing-admin).

use super::may_manage;
use crate::CartOrder;
use crate::domain::CartOrderError;
use crate::domain::tax::{ManualRate, valid_rate};
use crate::storage::tax_exemptions::{self, NewExemption as NewRow};
use crate::storage::tax_rates::{self, TaxRateRow};
use ::web::page::{Page, PageQuery};
use ::web::{ApiError, Authorized, Caller, Json, Role, roles};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

fn invalid(field: &'static str, reason: impl Into<String>) -> ApiError {
    CartOrderError::invalid(field, reason).into()
}

fn parse_id(id: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| CartOrderError::NotFound(format!("no {what} `{id}`")).into())
}

/// `?cursor=&limit=` (and `status` for exemptions).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// Only exemptions in this status.
    #[param(nullable = false, schema_with = exemption_status)]
    pub status: Option<String>,
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

const EXEMPTION_STATUSES: &[&str] = &["pending", "approved", "rejected"];

fn exemption_status() -> utoipa::openapi::Object {
    ::web::openapi::words(EXEMPTION_STATUSES)
}

impl ListQuery {
    fn page(&self) -> PageQuery {
        PageQuery {
            cursor: self.cursor.clone(),
            limit: self.limit,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewRate {
    /// Absent: every department (billing-admins only).
    pub department_id: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Absent: the whole country.
    pub region: Option<String>,
    /// A decimal fraction as a string, 0 to 1 with at most 6 decimals: `"0.0725"` is 7.25 %.
    pub rate: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateUpdate {
    pub rate: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateView {
    pub id: Uuid,
    pub department_id: Option<String>,
    pub country: String,
    pub region: Option<String>,
    pub rate: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RateView {
    fn of(r: &TaxRateRow) -> RateView {
        RateView {
            id: r.id,
            department_id: r.department_id.clone(),
            country: r.country.clone(),
            region: r.region.clone(),
            rate: r.rate.normalize().to_string(),
            created_by: r.created_by.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RatePage {
    pub items: Vec<RateView>,
    pub next_cursor: Option<String>,
}

fn rate_of(s: &str) -> Result<Decimal, ApiError> {
    s.parse::<Decimal>()
        .ok()
        .filter(|r| valid_rate(*r))
        .ok_or_else(|| {
            invalid(
                "rate",
                "a decimal fraction from 0 to 1 with at most 6 decimals",
            )
        })
}

/// A rate's or an exemption's place: a country and, optionally, a region.
fn place(country: &str, region: Option<&str>) -> Result<(), ApiError> {
    match crate::domain::tax::place_error(country, region) {
        Some((field, why)) => Err(invalid(field, why)),
        None => Ok(()),
    }
}

#[utoipa::path(get, path = "/api/v2/admin/tax-rates", tag = "tax", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = RatePage), (status = 400, description = "invalid_query"), (status = 401), (status = 403)))]
pub async fn list_rates(
    state: web::Data<CartOrder>,
    caller: Authorized<roles::CatalogAdmin>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = q.page();
    let limit = page.limit()?;
    let scope = caller.department_scope(Role::DeptAdmin, None)?;
    let rows = tax_rates::list_rates(&state.db, scope.as_deref(), page.cursor()?, limit).await?;
    let p = Page::from_rows(
        rows.iter().map(RateView::of).collect(),
        limit,
        |r: &RateView| r.id.to_string(),
    );
    Ok(HttpResponse::Ok().json(RatePage {
        items: p.items,
        next_cursor: p.next_cursor,
    }))
}

#[utoipa::path(post, path = "/api/v2/admin/tax-rates", tag = "tax", security(("bearer" = [])), request_body = NewRate,
    responses((status = 201, body = RateView), (status = 400, description = "invalid_body"), (status = 401),
        (status = 403), (status = 409, description = "tax_rate_exists: one rate per department, country and region"),
        (status = 422, description = "validation_failed (names the field)")))]
pub async fn create_rate(
    state: web::Data<CartOrder>,
    caller: Authorized<roles::CatalogAdmin>,
    body: Json<NewRate>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    may_manage(&caller, b.department_id.as_deref())?;
    place(&b.country, b.region.as_deref())?;
    let r = ManualRate {
        department_id: b.department_id,
        country: b.country,
        region: b.region,
        rate: rate_of(&b.rate)?,
    };
    let row = tax_rates::insert_rate(&state.db, &r, &caller.user_id, state.clock.now())
        .await
        .map_err(|e| {
            if db::is_unique_violation(&e) {
                ApiError::conflict(
                    "tax_rate_exists",
                    "a rate for this department, country and region exists; change it instead",
                )
            } else {
                e.into()
            }
        })?;
    Ok(HttpResponse::Created().json(RateView::of(&row)))
}

async fn rate_row(state: &CartOrder, caller: &Caller, id: &str) -> Result<TaxRateRow, ApiError> {
    let row = tax_rates::rate(&state.db, parse_id(id, "tax rate")?)
        .await?
        .ok_or_else(|| CartOrderError::NotFound(format!("no tax rate `{id}`")))?;
    may_manage(caller, row.department_id.as_deref())?;
    Ok(row)
}

#[utoipa::path(put, path = "/api/v2/admin/tax-rates/{id}", tag = "tax", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)), request_body = RateUpdate,
    responses((status = 200, body = RateView), (status = 400, description = "invalid_body"), (status = 401),
        (status = 403), (status = 404), (status = 422, description = "validation_failed (rate)")))]
pub async fn update_rate(
    state: web::Data<CartOrder>,
    caller: Authorized<roles::CatalogAdmin>,
    id: web::Path<String>,
    body: Json<RateUpdate>,
) -> Result<HttpResponse, ApiError> {
    let row = rate_row(&state, &caller, &id).await?;
    let rate = rate_of(&body.into_inner().rate)?;
    let saved = tax_rates::set_rate(&state.db, row.id, rate, state.clock.now())
        .await?
        .ok_or_else(|| CartOrderError::NotFound(format!("no tax rate `{id}`")))?;
    Ok(HttpResponse::Ok().json(RateView::of(&saved)))
}

#[utoipa::path(delete, path = "/api/v2/admin/tax-rates/{id}", tag = "tax", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 401), (status = 403), (status = 404)))]
pub async fn delete_rate(
    state: web::Data<CartOrder>,
    caller: Authorized<roles::CatalogAdmin>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = rate_row(&state, &caller, &id).await?;
    tax_rates::delete_rate(&state.db, row.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// TaxJar's exemption types that exempt fully.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExemptionType {
    Wholesale,
    Government,
    Other,
}

impl ExemptionType {
    fn as_str(self) -> &'static str {
        match self {
            ExemptionType::Wholesale => "wholesale",
            ExemptionType::Government => "government",
            ExemptionType::Other => "other",
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewExemption {
    /// A department's exemption (its dept-admin submits it); absent: the caller's own.
    pub department_id: Option<String>,
    pub organisation: String,
    pub exemption_type: ExemptionType,
    /// Where it holds: ISO 3166-1 alpha-2, and optionally a region.
    pub country: String,
    pub region: Option<String>,
    /// The exemption certificate's number or reference.
    pub certificate_ref: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Review {
    /// Required to reject.
    pub reason: Option<String>,
}

pub use crate::storage::tax_exemptions::ExemptionRow as ExemptionView;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExemptionPage {
    pub items: Vec<ExemptionView>,
    pub next_cursor: Option<String>,
}

fn text(field: &'static str, v: &str, max: usize) -> Result<String, ApiError> {
    let t = v.trim();
    if t.is_empty() || t.len() > max || t.chars().any(char::is_control) {
        return Err(invalid(field, format!("1 to {max} characters")));
    }
    Ok(t.to_string())
}

#[utoipa::path(post, path = "/api/v2/tax-exemptions", tag = "tax", security(("bearer" = [])), request_body = NewExemption,
    responses((status = 201, body = ExemptionView, description = "Submitted; applies once a billing-admin approves it"),
        (status = 400, description = "invalid_body"), (status = 401), (status = 403, description = "Not an admin of the department"),
        (status = 422, description = "validation_failed (names the field)")))]
pub async fn submit_exemption(
    state: web::Data<CartOrder>,
    caller: Caller,
    body: Json<NewExemption>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    if let Some(d) = &b.department_id {
        caller.require_department(Role::DeptAdmin, d)?;
    }
    place(&b.country, b.region.as_deref())?;
    let now = state.clock.now();
    if b.expires_at <= now {
        return Err(invalid("expiresAt", "must be in the future"));
    }
    let row = NewRow {
        user_id: b.department_id.is_none().then(|| caller.user_id.clone()),
        department_id: b.department_id,
        organisation: text("organisation", &b.organisation, 200)?,
        exemption_type: b.exemption_type.as_str().to_string(),
        country: b.country,
        region: b.region,
        certificate_ref: text("certificateRef", &b.certificate_ref, 100)?,
        expires_at: b.expires_at,
    };
    let saved = tax_exemptions::insert(&state.db, &row, &caller.user_id, now).await?;
    Ok(HttpResponse::Created().json(saved))
}

async fn exemption_page(
    state: &CartOrder,
    submitted_by: Option<&str>,
    q: &ListQuery,
) -> Result<HttpResponse, ApiError> {
    let page = q.page();
    let limit = page.limit()?;
    if let Some(s) = &q.status
        && !EXEMPTION_STATUSES.contains(&s.as_str())
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            "status: pending, approved or rejected",
        )
        .with_field("status"));
    }
    let rows = tax_exemptions::list(
        &state.db,
        submitted_by,
        q.status.as_deref(),
        page.cursor()?,
        limit,
    )
    .await?;
    let p = Page::from_rows(rows, limit, |e: &ExemptionView| e.id.to_string());
    Ok(HttpResponse::Ok().json(ExemptionPage {
        items: p.items,
        next_cursor: p.next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/v2/tax-exemptions", tag = "tax", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = ExemptionPage, description = "The exemptions the caller submitted"),
        (status = 400, description = "invalid_query"), (status = 401)))]
pub async fn own_exemptions(
    state: web::Data<CartOrder>,
    caller: Caller,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    exemption_page(&state, Some(&caller.user_id), &q).await
}

#[utoipa::path(get, path = "/api/v2/admin/tax-exemptions", tag = "tax", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = ExemptionPage), (status = 400, description = "invalid_query"),
        (status = 401), (status = 403)))]
pub async fn admin_exemptions(
    state: web::Data<CartOrder>,
    _caller: Authorized<roles::BillingAdmin>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    exemption_page(&state, None, &q).await
}

async fn review(
    state: &CartOrder,
    caller: &Caller,
    id: &str,
    approve: bool,
    reason: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(id, "tax exemption")?;
    if tax_exemptions::exemption(&state.db, id).await?.is_none() {
        return Err(CartOrderError::NotFound(format!("no tax exemption `{id}`")).into());
    }
    let reason = match (approve, reason) {
        (false, None) => return Err(invalid("reason", "a rejection needs a reason")),
        (_, Some(r)) => Some(text("reason", &r, 500)?),
        (true, None) => None,
    };
    let row = tax_exemptions::review(
        &state.db,
        id,
        approve,
        &caller.user_id,
        reason.as_deref(),
        state.clock.now(),
    )
    .await?
    .ok_or_else(|| {
        ApiError::conflict("exemption_reviewed", "the exemption was already reviewed")
    })?;
    Ok(HttpResponse::Ok().json(row))
}

#[utoipa::path(post, path = "/api/v2/admin/tax-exemptions/{id}/approve", tag = "tax", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)), request_body(content = Option<Review>, description = "Empty, or a `Review`"),
    responses((status = 200, body = ExemptionView), (status = 400, description = "invalid_body"),
        (status = 401), (status = 403), (status = 404), (status = 409, description = "exemption_reviewed")))]
pub async fn approve_exemption(
    state: web::Data<CartOrder>,
    caller: Authorized<roles::BillingAdmin>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // Empty, or a `Review`: anything else is refused, never read as "no reason".
    let reason = ::web::json::parse_optional::<Review>(&body)?.and_then(|r| r.reason);
    review(&state, &caller, &id, true, reason).await
}

#[utoipa::path(post, path = "/api/v2/admin/tax-exemptions/{id}/reject", tag = "tax", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)), request_body = Review,
    responses((status = 200, body = ExemptionView), (status = 400, description = "invalid_body"),
        (status = 401), (status = 403), (status = 404), (status = 409, description = "exemption_reviewed"),
        (status = 422, description = "validation_failed (reason)")))]
pub async fn reject_exemption(
    state: web::Data<CartOrder>,
    caller: Authorized<roles::BillingAdmin>,
    id: web::Path<String>,
    body: Json<Review>,
) -> Result<HttpResponse, ApiError> {
    review(&state, &caller, &id, false, body.into_inner().reason).await
}
