//! Department admins: certificates of their departments, issued by hand (with a reason, audited)
//! and revoked (with a reason). Billing-admins administer every department.

use crate::Certificates;
use crate::domain::CertificateError;
use crate::issue::{self, CourseIssue};
use crate::storage;
use crate::views::*;
use ::web::{ApiError, Authorized, Json, Role, roles};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::TransactionTrait;
use serde::Deserialize;
use uuid::Uuid;

#[utoipa::path(get, path = "/api/v2/admin/certificates", tag = "certificates", security(("bearer" = [])),
    params(super::DepartmentPageQuery),
    responses((status = 200, body = CertificatePage, description = "Certificates of the caller's departments, newest first"),
        (status = 400, description = "invalid_query"), (status = 401), (status = 403)))]
pub async fn list(
    state: web::Data<Certificates>,
    caller: Authorized<roles::CatalogAdmin>,
    q: web::Query<super::DepartmentPageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = q.page();
    let limit = page.limit()?;
    let departments = q.scope(&caller)?;
    let rows = storage::page(
        &state.db,
        None,
        departments.as_deref(),
        page.cursor()?,
        limit,
    )
    .await?;
    Ok(HttpResponse::Ok().json(state.page(rows, limit).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManualIssue {
    pub user_id: String,
    /// The name printed on the certificate.
    pub recipient_name: String,
    #[schema(format = Uuid)]
    pub course_id: Uuid,
    /// Why it is issued by hand (kept in the audit trail).
    pub reason: String,
    /// When the learner completed the course; default now.
    pub completed_at: Option<DateTime<Utc>>,
}

#[utoipa::path(post, path = "/api/v2/admin/certificates", tag = "certificates", security(("bearer" = [])),
    request_body = ManualIssue,
    responses((status = 201, body = CertificateView), (status = 400, description = "invalid_body"),
        (status = 401), (status = 403, description = "Not an admin of the course's department"),
        (status = 404, description = "Unknown course"),
        (status = 409, description = "already_issued"),
        (status = 422, description = "validation_failed (names the field)")))]
pub async fn issue(
    state: web::Data<Certificates>,
    caller: Authorized<roles::CatalogAdmin>,
    body: Json<ManualIssue>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let course = storage::course(&state.db, b.course_id)
        .await?
        .ok_or_else(|| CertificateError::NotFound(format!("no course `{}`", b.course_id)))?;
    caller.require_department(Role::DeptAdmin, &course.department_id)?;
    for (field, v) in [
        ("userId", &b.user_id),
        ("recipientName", &b.recipient_name),
        ("reason", &b.reason),
    ] {
        if v.trim().is_empty() || v.chars().count() > 500 {
            return Err(CertificateError::invalid(
                field,
                format!("{field} must be 1 to 500 characters"),
            )
            .into());
        }
    }
    let now = state.clock.now();
    let completed_at = b.completed_at.unwrap_or(now);
    if completed_at > now {
        return Err(
            CertificateError::invalid("completedAt", "completedAt is in the future").into(),
        );
    }
    let txn = state.db.begin().await.map_err(ApiError::from)?;
    let criteria = storage::criteria(&txn, b.course_id)
        .await?
        .unwrap_or_default();
    let issued = issue::course(
        &txn,
        &CourseIssue {
            user_id: b.user_id.trim(),
            recipient_name: b.recipient_name.trim(),
            course_id: course.course_id,
            course_title: &course.title,
            department_id: &course.department_id,
            completed_at,
            percentage: None,
            valid_for_days: criteria.validity_days(),
            issued_by: &caller.user_id,
            reason: Some(b.reason.trim()),
            now,
        },
    )
    .await?
    .ok_or(CertificateError::AlreadyIssued("course"))?;
    txn.commit().await.map_err(ApiError::from)?;
    state.wake_relay();
    Ok(HttpResponse::Created().json(state.view(&issued).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Revoke {
    pub reason: String,
}

#[utoipa::path(post, path = "/api/v2/admin/certificates/{id}/revoke", tag = "certificates", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    request_body = Revoke,
    responses((status = 200, body = CertificateView, description = "Revoked (program certificates that depended on it too)"),
        (status = 400, description = "invalid_body"), (status = 401),
        (status = 403, description = "Not an admin of the certificate's department"),
        (status = 404), (status = 409, description = "already_revoked"),
        (status = 422, description = "validation_failed: a reason is required")))]
pub async fn revoke(
    state: web::Data<Certificates>,
    caller: Authorized<roles::CatalogAdmin>,
    id: web::Path<String>,
    body: Json<Revoke>,
) -> Result<HttpResponse, ApiError> {
    let missing = || CertificateError::NotFound(format!("no certificate `{id}`"));
    let cid = Uuid::parse_str(&id).map_err(|_| missing())?;
    let reason = body.into_inner().reason;
    let txn = state.db.begin().await.map_err(ApiError::from)?;
    let owner = storage::get(&txn, cid).await?.ok_or_else(missing)?.user_id;
    // The learner's lock first, as completions take it: a program certificate cannot be issued
    // on the strength of a course certificate revoked meanwhile.
    issue::lock_learner(&txn, &owner).await?;
    let cert = storage::lock(&txn, cid).await?.ok_or_else(missing)?;
    caller.require_department(Role::DeptAdmin, &cert.department_id)?;
    if reason.trim().is_empty() || reason.chars().count() > 500 {
        return Err(CertificateError::invalid("reason", "a reason of 1 to 500 characters").into());
    }
    let now = state.clock.now();
    let revoked = issue::revoke(&txn, cid, reason.trim(), &caller.user_id, now)
        .await?
        .ok_or(CertificateError::AlreadyRevoked)?;
    txn.commit().await.map_err(ApiError::from)?;
    state.wake_relay();
    Ok(HttpResponse::Ok().json(state.view(&revoked).await?))
}
