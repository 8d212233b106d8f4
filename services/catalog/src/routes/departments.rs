//! Departments: public subscription information (plans, sub-departments) and admin naming and
//! placement in the department tree.

use crate::domain::{CatalogError, ValidDepartment};
use crate::events as published;
use crate::model::DepartmentInput;
use crate::routes::public_cache::json;
use crate::storage;
use crate::views::{self, DepartmentView};
use crate::{Catalog, NAME};
use ::events::subjects;
use ::web::idempotency::{self, MaybeIdempotencyKey};
use ::web::{ApiError, Authorized, Json, Reply, Role, roles};
use actix_web::{HttpRequest, HttpResponse, web};

/// Department subscription information: its plans and sub-departments.
#[utoipa::path(get, path = "/api/v2/catalog/departments/{id}", tag = "catalog", params(("If-None-Match" = Option<String>, Header, nullable = false, description = "An ETag of an earlier answer"), ("id" = String, Path, description = "The department id, e.g. `cs`")),
    responses((status = 304, description = "Not modified: the `If-None-Match` ETag is current"), (status = 200, body = DepartmentView), (status = 404, description = "Unknown department")))]
pub async fn get_department(
    req: HttpRequest,
    state: web::Data<Catalog>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state
        .public
        .serve(&req, || async {
            let now = state.clock.now();
            let dept = storage::department(&state.db, &id).await?;
            let plans = storage::current_plans(&state.db, &id, now).await?;
            let count = storage::published_course_count(&state.db, &id).await?;
            if dept.is_none() && plans.is_empty() && count == 0 {
                return Err(CatalogError::NotFound(format!("no department `{id}`")).into());
            }
            let subs = storage::sub_departments(&state.db, &id).await?;
            json(&views::department(&id, dept.as_ref(), subs, &plans, count)?)
        })
        .await
}

/// Create or rename a department (and set its parent, for sub-departments).
#[utoipa::path(put, path = "/api/v2/admin/catalog/departments/{id}", tag = "catalog", security(("bearer" = [])), request_body = DepartmentInput,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,255}$", description = "Makes a retry safe: the same key and request answer the first answer again (1 to 255 visible ASCII characters)"), ("id" = String, Path, description = "The department id, e.g. `cs`")),
    responses((status = 200, body = DepartmentView), (status = 400), (status = 401), (status = 403), (status = 422)))]
pub async fn put_department(
    caller: Authorized<roles::CatalogAdmin>,
    req: HttpRequest,
    state: web::Data<Catalog>,
    key: MaybeIdempotencyKey,
    id: web::Path<String>,
    body: Json<DepartmentInput>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    caller.require_department(Role::DeptAdmin, &id)?;
    let v = ValidDepartment::parse(&body.value)?;
    let now = state.clock.now();
    let fp = idempotency::fingerprint(&req, &body.raw);
    let user = caller.user_id.clone();
    let resp = idempotency::run(&state.db, &user, key.0.as_ref(), &fp, |txn| async move {
        if let Some(p) = &v.parent_id
            && storage::creates_cycle(&txn, &id, p).await?
        {
            return Err(CatalogError::DepartmentCycle.into());
        }
        let row =
            storage::upsert_department(&txn, &id, &v.name, v.parent_id.as_deref(), now).await?;
        let event = published::department_changed(&row);
        bus::enqueue(&txn, NAME, subjects::DEPARTMENT_UPDATED, &event).await?;
        let plans = storage::current_plans(&txn, &id, now).await?;
        let subs = storage::sub_departments(&txn, &id).await?;
        let count = storage::published_course_count(&txn, &id).await?;
        let view = views::department(&row.id, Some(&row), subs, &plans, count)?;
        Ok((txn, Reply::ok(view)?))
    })
    .await?;
    state.committed();
    Ok(resp)
}
