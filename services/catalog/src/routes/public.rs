//! Public browsing: courses, programs, department plans, exchange rates. No login needed; only
//! published items whose availability window has not ended are shown.

use super::{course_views, display, parse_id, program_views};
use crate::Catalog;
use crate::model::*;
use crate::storage::{self, ListFilter};
use ::web::page::PageQuery;
use ::web::{ApiError, Page};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct BrowseQuery {
    /// Only this department.
    pub department: Option<String>,
    /// Case-insensitive title search.
    pub q: Option<String>,
    /// Also show prices in this display currency.
    pub currency: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u64>,
}

impl BrowseQuery {
    pub(crate) fn filter(&self, public_only: bool) -> Result<ListFilter, ApiError> {
        let page = PageQuery {
            cursor: self.cursor.clone(),
            limit: self.limit,
        };
        if self.q.as_deref().is_some_and(|q| q.len() > 200) {
            return Err(
                ApiError::bad_request("invalid_query", "search text too long").with_field("q"),
            );
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
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CurrencyQuery {
    /// Also show prices in this display currency.
    pub currency: Option<String>,
}

/// List purchasable courses.
#[utoipa::path(get, path = "/api/v2/catalog/courses", tag = "catalog", params(BrowseQuery),
    responses((status = 200, description = "A page of courses (`items`, `nextCursor`)", body = [CourseView])))]
pub async fn list_courses(
    state: web::Data<Catalog>,
    q: web::Query<BrowseQuery>,
) -> Result<HttpResponse, ApiError> {
    let f = q.filter(true)?;
    let d = display(&state, q.currency.as_deref()).await?;
    let rows = storage::list_courses(&state.db, &f, state.clock.now()).await?;
    let page = Page::from_rows(rows, f.limit, |r| r.id.to_string());
    let items = course_views(&state, page.items, d.as_ref()).await?;
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// Course details with its current price.
#[utoipa::path(get, path = "/api/v2/catalog/courses/{id}", tag = "catalog", params(("id" = String, Path), CurrencyQuery),
    responses((status = 200, body = CourseView), (status = 404, description = "Unknown or unpublished")))]
pub async fn get_course(
    state: web::Data<Catalog>,
    id: web::Path<String>,
    q: web::Query<CurrencyQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id, "course")?;
    let d = display(&state, q.currency.as_deref()).await?;
    let row = storage::course(&state.db, id)
        .await?
        .filter(|c| c.published)
        .ok_or_else(|| ApiError::not_found(format!("no course `{id}`")))?;
    let mut views = course_views(&state, vec![row], d.as_ref()).await?;
    let view = views
        .pop()
        .ok_or_else(|| ApiError::not_found(format!("no course `{id}`")))?;
    Ok(HttpResponse::Ok().json(view))
}

/// List purchasable programs.
#[utoipa::path(get, path = "/api/v2/catalog/programs", tag = "catalog", params(BrowseQuery),
    responses((status = 200, description = "A page of programs (`items`, `nextCursor`)", body = [ProgramView])))]
pub async fn list_programs(
    state: web::Data<Catalog>,
    q: web::Query<BrowseQuery>,
) -> Result<HttpResponse, ApiError> {
    let f = q.filter(true)?;
    let d = display(&state, q.currency.as_deref()).await?;
    let rows = storage::list_programs(&state.db, &f, state.clock.now()).await?;
    let page = Page::from_rows(rows, f.limit, |r| r.id.to_string());
    let items = program_views(&state, page.items, d.as_ref(), false, true).await?;
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// Program details with its courses in order and the bundle price.
#[utoipa::path(get, path = "/api/v2/catalog/programs/{id}", tag = "catalog", params(("id" = String, Path), CurrencyQuery),
    responses((status = 200, body = ProgramView), (status = 404, description = "Unknown or unpublished")))]
pub async fn get_program(
    state: web::Data<Catalog>,
    id: web::Path<String>,
    q: web::Query<CurrencyQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id, "program")?;
    let d = display(&state, q.currency.as_deref()).await?;
    let row = storage::program(&state.db, id)
        .await?
        .filter(|p| p.published)
        .ok_or_else(|| ApiError::not_found(format!("no program `{id}`")))?;
    let mut views = program_views(&state, vec![row], d.as_ref(), true, true).await?;
    let view = views
        .pop()
        .ok_or_else(|| ApiError::not_found(format!("no program `{id}`")))?;
    Ok(HttpResponse::Ok().json(view))
}

/// Department subscription information: its plans and sub-departments.
#[utoipa::path(get, path = "/api/v2/catalog/departments/{id}", tag = "catalog", params(("id" = String, Path)),
    responses((status = 200, body = DepartmentView), (status = 404, description = "Unknown department")))]
pub async fn get_department(
    state: web::Data<Catalog>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let now = state.clock.now();
    let dept = storage::department(&state.db, &id).await?;
    let plans = storage::current_plans(&state.db, &id, now).await?;
    let count = storage::published_course_count(&state.db, &id).await?;
    if dept.is_none() && plans.is_empty() && count == 0 {
        return Err(ApiError::not_found(format!("no department `{id}`")));
    }
    let subs = storage::sub_departments(&state.db, &id).await?;
    Ok(HttpResponse::Ok().json(DepartmentView {
        id: id.clone(),
        name: dept.as_ref().map(|d| d.name.clone()),
        parent_id: dept.and_then(|d| d.parent_id),
        sub_department_ids: subs,
        plans: plans.iter().map(|p| p.view()).collect(),
        published_course_count: count,
    }))
}

/// Exchange rates for display currencies.
#[utoipa::path(get, path = "/api/v2/catalog/exchange-rates", tag = "catalog",
    responses((status = 200, body = [ExchangeRateView])))]
pub async fn list_rates(state: web::Data<Catalog>) -> Result<HttpResponse, ApiError> {
    let rows = storage::rates(&state.db).await?;
    let items: Vec<_> = rows
        .into_iter()
        .map(|r| ExchangeRateView {
            currency: r.currency.trim().to_string(),
            settlement_currency: state.settlement.code().to_string(),
            rate: r.rate.normalize().to_string(),
            updated_at: r.updated_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items, "nextCursor": null })))
}
