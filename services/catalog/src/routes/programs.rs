//! Programs (ordered bundles of courses): public browsing and admin management. A program's
//! price is set with `/admin/pricing`.

use crate::domain::{CatalogError, ValidProgram};
use crate::events as published;
use crate::model::{BrowseQuery, CurrencyQuery, ProgramInput, parse_id};
use crate::routes::public_cache::json;
use crate::storage;
use crate::views::{self, Display, ProgramView};
use crate::{Catalog, NAME};
use ::events::subjects;
use ::web::idempotency::{self, MaybeIdempotencyKey};
use ::web::{ApiError, Authorized, Json, Page, Reply, Role, roles};
use actix_web::{HttpRequest, HttpResponse, web};

/// Every member course must exist.
async fn check_courses(
    txn: &impl sea_orm::ConnectionTrait,
    v: &ValidProgram,
) -> Result<(), CatalogError> {
    let found = storage::courses_by_ids(txn, &v.course_ids).await?;
    if let Some(missing) = v
        .course_ids
        .iter()
        .find(|c| !found.iter().any(|f| f.id == **c))
    {
        return Err(CatalogError::UnknownCourse {
            id: *missing,
            field: "courseIds",
        });
    }
    Ok(())
}

/// List purchasable programs.
#[utoipa::path(get, path = "/api/v2/catalog/programs", tag = "catalog", params(BrowseQuery, ("If-None-Match" = Option<String>, Header, nullable = false, description = "An ETag of an earlier answer")),
    responses((status = 304, description = "Not modified: the `If-None-Match` ETag is current"), (status = 200, description = "A page of programs", body = ::web::Page<ProgramView>), (status = 422, description = "no_exchange_rate: the display currency has no rate")))]
pub async fn list_programs(
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
            let rows = storage::list_programs(&state.db, &f, now).await?;
            let page = Page::from_rows(rows, f.limit, |r| r.id.to_string());
            let items =
                views::programs(&state.db, page.items, d.as_ref(), false, true, now).await?;
            json(&Page {
                items,
                next_cursor: page.next_cursor,
            })
        })
        .await
}

/// Program details with its courses in order and the bundle price.
#[utoipa::path(get, path = "/api/v2/catalog/programs/{id}", tag = "catalog", params(("If-None-Match" = Option<String>, Header, nullable = false, description = "An ETag of an earlier answer"), ("id" = uuid::Uuid, Path), CurrencyQuery),
    responses((status = 304, description = "Not modified: the `If-None-Match` ETag is current"), (status = 200, body = ProgramView), (status = 404, description = "Unknown or unpublished"), (status = 422, description = "no_exchange_rate: the display currency has no rate")))]
pub async fn get_program(
    req: HttpRequest,
    state: web::Data<Catalog>,
    id: web::Path<String>,
    q: web::Query<CurrencyQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id, "program")?;
    state
        .public
        .serve(&req, || async {
            let d = Display::resolve(&state.db, state.settlement, q.currency.as_deref()).await?;
            let not_found = || CatalogError::NotFound(format!("no program `{id}`"));
            let row = storage::program(&state.db, id)
                .await?
                .filter(|p| p.published)
                .ok_or_else(not_found)?;
            let now = state.clock.now();
            let view = views::programs(&state.db, vec![row], d.as_ref(), true, true, now)
                .await?
                .pop()
                .ok_or_else(not_found)?;
            json(&view)
        })
        .await
}

/// Create a program bundle of ordered courses (its price is set with `/admin/pricing`).
#[utoipa::path(post, path = "/api/v2/admin/catalog/programs", tag = "catalog", security(("bearer" = [])), request_body = ProgramInput,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,255}$", description = "Makes a retry safe: the same key and request answer the first answer again (1 to 255 visible ASCII characters)")),
    responses((status = 201, body = ProgramView), (status = 400), (status = 401), (status = 403), (status = 422)))]
pub async fn create_program(
    caller: Authorized<roles::CatalogAdmin>,
    req: HttpRequest,
    state: web::Data<Catalog>,
    key: MaybeIdempotencyKey,
    body: Json<ProgramInput>,
) -> Result<HttpResponse, ApiError> {
    let v = ValidProgram::parse(body.value.clone())?;
    caller.require_department(Role::DeptAdmin, &v.department_id)?;
    let now = state.clock.now();
    let fp = idempotency::fingerprint(&req, &body.raw);
    let user = caller.user_id.clone();
    let resp = idempotency::run(&state.db, &user, key.0.as_ref(), &fp, |txn| async move {
        check_courses(&txn, &v).await?;
        let row = storage::insert_program(&txn, kernel::new_id(), &v, &caller.user_id, now).await?;
        let event = published::program_changed(&row, &v.course_ids);
        bus::enqueue(&txn, NAME, subjects::PROGRAM_CREATED, &event).await?;
        let view = views::program(&row, v.course_ids.clone(), now)?;
        Ok((txn, Reply::created(view)?))
    })
    .await?;
    state.committed();
    Ok(resp)
}

/// Replace a program's details and course list.
#[utoipa::path(put, path = "/api/v2/admin/catalog/programs/{id}", tag = "catalog", security(("bearer" = [])), request_body = ProgramInput,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,255}$", description = "Makes a retry safe: the same key and request answer the first answer again (1 to 255 visible ASCII characters)"), ("id" = uuid::Uuid, Path)),
    responses((status = 200, body = ProgramView), (status = 400), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn update_program(
    caller: Authorized<roles::CatalogAdmin>,
    req: HttpRequest,
    state: web::Data<Catalog>,
    key: MaybeIdempotencyKey,
    id: web::Path<String>,
    body: Json<ProgramInput>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id, "program")?;
    let v = ValidProgram::parse(body.value.clone())?;
    let now = state.clock.now();
    let fp = idempotency::fingerprint(&req, &body.raw);
    let user = caller.user_id.clone();
    let resp = idempotency::run(&state.db, &user, key.0.as_ref(), &fp, |txn| async move {
        let not_found = || CatalogError::NotFound(format!("no program `{id}`"));
        let old = storage::program(&txn, id).await?.ok_or_else(not_found)?;
        caller.require_department(Role::DeptAdmin, &old.department_id)?;
        caller.require_department(Role::DeptAdmin, &v.department_id)?;
        check_courses(&txn, &v).await?;
        let row = storage::update_program(&txn, id, &v, now)
            .await?
            .ok_or_else(not_found)?;
        let event = published::program_changed(&row, &v.course_ids);
        bus::enqueue(&txn, NAME, subjects::PROGRAM_UPDATED, &event).await?;
        let view = views::program(&row, v.course_ids.clone(), now)?;
        Ok((txn, Reply::ok(view)?))
    })
    .await?;
    state.committed();
    Ok(resp)
}

/// List programs, unpublished ones included (scoped to the admin's departments).
#[utoipa::path(get, path = "/api/v2/admin/catalog/programs", tag = "catalog", security(("bearer" = [])), params(BrowseQuery),
    operation_id = "list_programs",
    responses((status = 200, body = ::web::Page<ProgramView>, description = "A page of programs"), (status = 403)))]
pub async fn admin_list_programs(
    caller: Authorized<roles::CatalogAdmin>,
    state: web::Data<Catalog>,
    q: web::Query<BrowseQuery>,
) -> Result<HttpResponse, ApiError> {
    let f = q.scoped(&caller)?;
    let now = state.clock.now();
    let rows = storage::list_programs(&state.db, &f, now).await?;
    let page = Page::from_rows(rows, f.limit, |r| r.id.to_string());
    let items = views::programs(&state.db, page.items, None, false, false, now).await?;
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: page.next_cursor,
    }))
}
