//! Courses: public browsing (published courses whose availability has not ended) and admin
//! management (a billing-admin acts on every department, a dept-admin only on its own).

use crate::domain::{CatalogError, ValidCourse};
use crate::events as published;
use crate::model::{BrowseQuery, CourseInput, CurrencyQuery, parse_id};
use crate::routes::public_cache::json;
use crate::storage::{self, Priced};
use crate::views::{self, CourseView, Display};
use crate::{Catalog, NAME};
use ::events::subjects;
use ::web::idempotency::{self, MaybeIdempotencyKey};
use ::web::{ApiError, Authorized, Json, Page, Reply, Role, roles};
use actix_web::{HttpRequest, HttpResponse, web};

/// A unique violation of a course write can only be its LMS course id.
fn duplicate_lms(e: sea_orm::DbErr) -> CatalogError {
    if db::is_unique_violation(&e) {
        CatalogError::DuplicateLmsCourseId
    } else {
        e.into()
    }
}

/// List purchasable courses.
#[utoipa::path(get, path = "/api/v2/catalog/courses", tag = "catalog", params(BrowseQuery, ("If-None-Match" = Option<String>, Header, nullable = false, description = "An ETag of an earlier answer")),
    responses((status = 304, description = "Not modified: the `If-None-Match` ETag is current"), (status = 200, description = "A page of courses", body = ::web::Page<CourseView>), (status = 422, description = "no_exchange_rate: the display currency has no rate")))]
pub async fn list_courses(
    req: HttpRequest,
    state: web::Data<Catalog>,
    q: web::Query<BrowseQuery>,
) -> Result<HttpResponse, ApiError> {
    let f = q.filter(true)?;
    state
        .public
        .serve(&req, || async {
            let d = Display::resolve(&state.db, state.settlement, q.currency.as_deref()).await?;
            let now = state.clock.now();
            let rows = storage::list_courses(&state.db, &f, now).await?;
            let page = Page::from_rows(rows, f.limit, |r| r.id.to_string());
            let items = views::courses(&state.db, page.items, d.as_ref(), now).await?;
            json(&Page {
                items,
                next_cursor: page.next_cursor,
            })
        })
        .await
}

/// Course details with its current price.
#[utoipa::path(get, path = "/api/v2/catalog/courses/{id}", tag = "catalog", params(("If-None-Match" = Option<String>, Header, nullable = false, description = "An ETag of an earlier answer"), ("id" = uuid::Uuid, Path), CurrencyQuery),
    responses((status = 304, description = "Not modified: the `If-None-Match` ETag is current"), (status = 200, body = CourseView), (status = 404, description = "Unknown or unpublished"), (status = 422, description = "no_exchange_rate: the display currency has no rate")))]
pub async fn get_course(
    req: HttpRequest,
    state: web::Data<Catalog>,
    id: web::Path<String>,
    q: web::Query<CurrencyQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id, "course")?;
    state
        .public
        .serve(&req, || async {
            let d = Display::resolve(&state.db, state.settlement, q.currency.as_deref()).await?;
            let not_found = || CatalogError::NotFound(format!("no course `{id}`"));
            let row = storage::course(&state.db, id)
                .await?
                .filter(|c| c.published)
                .ok_or_else(not_found)?;
            let view = views::courses(&state.db, vec![row], d.as_ref(), state.clock.now())
                .await?
                .pop()
                .ok_or_else(not_found)?;
            json(&view)
        })
        .await
}

/// Create a course.
#[utoipa::path(post, path = "/api/v2/admin/catalog/courses", tag = "catalog", security(("bearer" = [])), request_body = CourseInput,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,255}$", description = "Makes a retry safe: the same key and request answer the first answer again (1 to 255 visible ASCII characters)")),
    responses((status = 201, body = CourseView), (status = 400), (status = 401), (status = 403), (status = 409), (status = 422)))]
pub async fn create_course(
    caller: Authorized<roles::CatalogAdmin>,
    req: HttpRequest,
    state: web::Data<Catalog>,
    key: MaybeIdempotencyKey,
    body: Json<CourseInput>,
) -> Result<HttpResponse, ApiError> {
    let v = ValidCourse::parse(body.value.clone())?;
    caller.require_department(Role::DeptAdmin, &v.department_id)?;
    let now = state.clock.now();
    let fp = idempotency::fingerprint(&req, &body.raw);
    let user = caller.user_id.clone();
    let resp = idempotency::run(&state.db, &user, key.0.as_ref(), &fp, |txn| async move {
        let row = storage::insert_course(&txn, kernel::new_id(), &v, &caller.user_id, now)
            .await
            .map_err(duplicate_lms)?;
        let event = published::course_changed(&row)?;
        bus::enqueue(&txn, NAME, subjects::COURSE_CREATED, &event).await?;
        let view = views::course(&row, None, None, now)?;
        Ok((txn, Reply::created(view)?))
    })
    .await?;
    state.committed();
    Ok(resp)
}

/// Replace a course's details.
#[utoipa::path(put, path = "/api/v2/admin/catalog/courses/{id}", tag = "catalog", security(("bearer" = [])), request_body = CourseInput,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,255}$", description = "Makes a retry safe: the same key and request answer the first answer again (1 to 255 visible ASCII characters)"), ("id" = uuid::Uuid, Path)),
    responses((status = 200, body = CourseView), (status = 400), (status = 401), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn update_course(
    caller: Authorized<roles::CatalogAdmin>,
    req: HttpRequest,
    state: web::Data<Catalog>,
    key: MaybeIdempotencyKey,
    id: web::Path<String>,
    body: Json<CourseInput>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id, "course")?;
    let v = ValidCourse::parse(body.value.clone())?;
    let now = state.clock.now();
    let fp = idempotency::fingerprint(&req, &body.raw);
    let user = caller.user_id.clone();
    let resp = idempotency::run(&state.db, &user, key.0.as_ref(), &fp, |txn| async move {
        let not_found = || CatalogError::NotFound(format!("no course `{id}`"));
        let old = storage::course(&txn, id).await?.ok_or_else(not_found)?;
        caller.require_department(Role::DeptAdmin, &old.department_id)?;
        caller.require_department(Role::DeptAdmin, &v.department_id)?;
        let row = storage::update_course(&txn, id, &v, now)
            .await
            .map_err(duplicate_lms)?
            .ok_or_else(not_found)?;
        let event = published::course_changed(&row)?;
        bus::enqueue(&txn, NAME, subjects::COURSE_UPDATED, &event).await?;
        let price = storage::current_prices(&txn, Priced::Course, &[id], now)
            .await?
            .remove(&id);
        let view = views::course(&row, price.as_ref(), None, now)?;
        Ok((txn, Reply::ok(view)?))
    })
    .await?;
    state.committed();
    Ok(resp)
}

/// List courses, unpublished ones included (scoped to the admin's departments).
#[utoipa::path(get, path = "/api/v2/admin/catalog/courses", tag = "catalog", security(("bearer" = [])), params(BrowseQuery),
    operation_id = "list_courses",
    responses((status = 200, body = ::web::Page<CourseView>, description = "A page of courses"), (status = 403)))]
pub async fn admin_list_courses(
    caller: Authorized<roles::CatalogAdmin>,
    state: web::Data<Catalog>,
    q: web::Query<BrowseQuery>,
) -> Result<HttpResponse, ApiError> {
    let f = q.scoped(&caller)?;
    let now = state.clock.now();
    let rows = storage::list_courses(&state.db, &f, now).await?;
    let page = Page::from_rows(rows, f.limit, |r| r.id.to_string());
    let items = views::courses(&state.db, page.items, None, now).await?;
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: page.next_cursor,
    }))
}
