//! Completion criteria per course, set by admins of the course's department.

use crate::Certificates;
use crate::domain::CertificateError;
use crate::domain::criteria::Criteria;
use crate::storage::{self, CourseRow};
use crate::views::CriteriaView;
use ::web::{ApiError, Authorized, Caller, Json, Role, roles};
use actix_web::{HttpResponse, web};
use uuid::Uuid;

async fn course_of(state: &Certificates, caller: &Caller, id: &str) -> Result<CourseRow, ApiError> {
    let missing = || CertificateError::NotFound(format!("no course `{id}`"));
    let id = Uuid::parse_str(id).map_err(|_| missing())?;
    let course = storage::course(&state.db, id).await?.ok_or_else(missing)?;
    caller.require_department(Role::DeptAdmin, &course.department_id)?;
    Ok(course)
}

#[utoipa::path(get, path = "/api/v2/admin/completion-criteria/{courseId}", tag = "certificates", security(("bearer" = [])),
    params(("courseId" = String, Path, format = Uuid)),
    responses((status = 200, body = CriteriaView, description = "The course's criteria, or the default (all modules) with isSet false"),
        (status = 401), (status = 403), (status = 404, description = "Unknown course")))]
pub async fn get(
    state: web::Data<Certificates>,
    caller: Authorized<roles::CatalogAdmin>,
    course_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let course = course_of(&state, &caller, &course_id).await?;
    let set = storage::criteria(&state.db, course.course_id).await?;
    Ok(HttpResponse::Ok().json(CriteriaView {
        course_id: course.course_id,
        department_id: course.department_id,
        is_set: set.is_some(),
        criteria: set.unwrap_or_default(),
    }))
}

#[utoipa::path(put, path = "/api/v2/admin/completion-criteria/{courseId}", tag = "certificates", security(("bearer" = [])),
    params(("courseId" = String, Path, format = Uuid)),
    request_body = Criteria,
    responses((status = 200, body = CriteriaView), (status = 400, description = "invalid_body"),
        (status = 401), (status = 403), (status = 404, description = "Unknown course"),
        (status = 422, description = "validation_failed (names the field)")))]
pub async fn put(
    state: web::Data<Certificates>,
    caller: Authorized<roles::CatalogAdmin>,
    course_id: web::Path<String>,
    body: Json<Criteria>,
) -> Result<HttpResponse, ApiError> {
    let course = course_of(&state, &caller, &course_id).await?;
    let criteria = body.into_inner();
    criteria
        .validate()
        .map_err(|i| CertificateError::invalid(i.field, i.reason))?;
    storage::put_criteria(
        &state.db,
        course.course_id,
        &course.department_id,
        &criteria,
        &caller.user_id,
        state.clock.now(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(CriteriaView {
        course_id: course.course_id,
        department_id: course.department_id,
        is_set: true,
        criteria,
    }))
}
