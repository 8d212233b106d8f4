//! Learners see their own registrations; enrollment-admins work the approval queue of their
//! departments (single and bulk approve/reject, redrive of parked enrollment requests).

use crate::Registration;
use crate::domain::{RegistrationError, RegistrationEvent};
use crate::storage::{self, Filter, MoveBy, RegistrationRow, TransitionError};
use ::web::page::PageQuery;
use ::web::{ApiError, Authorized, Caller, Json, Page, Role, roles};
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

fn parse(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| RegistrationError::NotFound(format!("no registration `{raw}`")).into())
}

#[utoipa::path(get, path = "/api/v2/registrations", tag = "registrations", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = ::web::Page<crate::views::RegistrationView>, description = "The caller's registrations, newest first")))]
pub async fn list_own(
    state: web::Data<Registration>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = q.into_inner();
    let f = Filter {
        user_id: Some(caller.user_id.clone()),
        cursor: page.cursor()?,
        limit: page.limit()?,
        ..Default::default()
    };
    let rows = storage::list(&state.db, &f).await?;
    let page = Page::from_rows(rows, f.limit, |r| r.id.to_string());
    Ok(HttpResponse::Ok().json(Page {
        items: page.items.iter().map(RegistrationRow::view).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/v2/registrations/{id}", tag = "registrations", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), responses((status = 200, body = crate::views::RegistrationView, description = "Registration details"), (status = 404, description = "Unknown or another learner's")))]
pub async fn get_own(
    state: web::Data<Registration>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse(&id)?;
    let r = storage::get(&state.db, id)
        .await?
        .filter(|r| r.user_id == caller.user_id)
        .ok_or_else(|| ApiError::not_found(format!("no registration `{id}`")))?;
    Ok(HttpResponse::Ok().json(r.view()))
}

/// Enrollment-admins act only within their departments.
fn in_scope(caller: &Caller, department: &str) -> bool {
    caller.has(Role::EnrollmentAdmin) && caller.departments.iter().any(|d| d == department)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct AdminQuery {
    /// Defaults to `pending` (the approval queue); `all` for every status.
    #[param(nullable = false)]
    pub status: Option<String>,
    /// One of the admin's departments.
    #[param(nullable = false)]
    pub department_id: Option<String>,
    #[param(nullable = false)]
    pub course_id: Option<Uuid>,
    /// `failed` lists parked enrollment requests.
    #[param(nullable = false)]
    pub delivery_status: Option<String>,
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

#[utoipa::path(get, path = "/api/v2/admin/registrations", tag = "registrations", security(("bearer" = [])), params(AdminQuery),
    responses((status = 200, body = ::web::Page<crate::views::RegistrationView>, description = "The approval queue of the admin's departments"), (status = 403, description = "Not an enrollment-admin, or a department not the admin's")))]
pub async fn admin_list(
    caller: Authorized<roles::EnrollmentAdmin>,
    state: web::Data<Registration>,
    q: web::Query<AdminQuery>,
) -> Result<HttpResponse, ApiError> {
    if let Some(d) = &q.department_id
        && !in_scope(&caller, d)
    {
        return Err(RegistrationError::OutOfScope(d.clone()).into());
    }
    let status = match (&q.status, &q.delivery_status) {
        (Some(s), _) if s == "all" => None,
        (Some(s), _) => Some(s.clone()),
        (None, Some(_)) => None,
        (None, None) => Some("pending".to_string()),
    };
    let page = PageQuery {
        cursor: q.cursor.clone(),
        limit: q.limit,
    };
    let f = Filter {
        status,
        departments_in: Some(caller.departments.clone()),
        department: q.department_id.clone(),
        course_id: q.course_id,
        delivery_status: q.delivery_status.clone(),
        cursor: page.cursor()?,
        limit: page.limit()?,
        ..Default::default()
    };
    let rows = storage::list(&state.db, &f).await?;
    let page = Page::from_rows(rows, f.limit, |r| r.id.to_string());
    Ok(HttpResponse::Ok().json(Page {
        items: page.items.iter().map(RegistrationRow::view).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Approve,
    Reject,
}

/// Applies one admin action to one registration, in its own transaction.
async fn act(
    state: &Registration,
    caller: &Caller,
    id: Uuid,
    action: Action,
    reason: Option<&str>,
) -> Result<RegistrationRow, ApiError> {
    use sea_orm::TransactionTrait;
    let txn = state.db.begin().await?;
    let current = storage::get(&txn, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no registration `{id}`")))?;
    if !in_scope(caller, &current.department_id) {
        // Outside the admin's departments the registration does not exist for them.
        return Err(ApiError::not_found(format!("no registration `{id}`")));
    }
    let event = match action {
        Action::Approve => RegistrationEvent::Approve,
        Action::Reject => RegistrationEvent::Reject,
    };
    let moved = storage::transition(
        &txn,
        id,
        event,
        MoveBy {
            by: &caller.user_id,
            reason,
            enrollment: None,
        },
        state.clock.now(),
    )
    .await?;
    let row = match moved {
        Ok(row) => row,
        Err(TransitionError::Illegal(e)) => return Err(RegistrationError::from(e).into()),
        Err(TransitionError::NotFound) => {
            return Err(RegistrationError::NotFound(format!("no registration `{id}`")).into());
        }
    };
    txn.commit().await?;
    if action == Action::Approve {
        state.wake.notify_one();
    }
    state.outbox.notify_one();
    Ok(row)
}

#[utoipa::path(post, path = "/api/v2/admin/registrations/{id}/approve", tag = "registrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = crate::views::RegistrationView, description = "Approved; the enrollment request is scheduled"),
        (status = 401), (status = 403, description = "Not an enrollment-admin"),
        (status = 404, description = "Unknown, or outside the admin's departments"),
        (status = 409, description = "illegal_transition")))]
pub async fn approve(
    caller: Authorized<roles::EnrollmentAdmin>,
    state: web::Data<Registration>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = act(&state, &caller, parse(&id)?, Action::Approve, None).await?;
    Ok(HttpResponse::Ok().json(row.view()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = RegistrationRejection)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    pub reason: String,
}

fn reason(r: &str) -> Result<String, ApiError> {
    let r = r.trim();
    if r.is_empty() || r.chars().count() > 1000 {
        return Err(RegistrationError::InvalidReason.into());
    }
    Ok(r.to_string())
}

#[utoipa::path(post, path = "/api/v2/admin/registrations/{id}/reject", tag = "registrations", security(("bearer" = [])),
    request_body = RejectBody, params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = crate::views::RegistrationView, description = "Rejected, the reason kept"),
        (status = 400, description = "invalid_body"), (status = 401),
        (status = 403, description = "Not an enrollment-admin"),
        (status = 404, description = "Unknown, or outside the admin's departments"),
        (status = 409, description = "illegal_transition"),
        (status = 422, description = "invalid_reason, card_data_refused")))]
pub async fn reject(
    caller: Authorized<roles::EnrollmentAdmin>,
    state: web::Data<Registration>,
    id: web::Path<String>,
    body: Json<RejectBody>,
) -> Result<HttpResponse, ApiError> {
    let why = reason(&body.value.reason)?;
    let row = act(&state, &caller, parse(&id)?, Action::Reject, Some(&why)).await?;
    Ok(HttpResponse::Ok().json(row.view()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    pub action: Action,
    pub ids: Vec<Uuid>,
    pub reason: Option<String>,
}

/// The answer of a bulk action.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkResults {
    pub results: Vec<BulkResult>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkResult {
    pub id: Uuid,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Bulk approve/reject: each id is applied on its own; the answer has one result per id.
#[utoipa::path(post, path = "/api/v2/admin/registrations/bulk", tag = "registrations", security(("bearer" = [])),
    request_body = BulkBody,
    responses((status = 200, body = BulkResults, description = "One result per id"),
        (status = 400, description = "invalid_body"), (status = 401),
        (status = 403, description = "Not an enrollment-admin"),
        (status = 422, description = "invalid_bulk, invalid_reason, card_data_refused")))]
pub async fn bulk(
    caller: Authorized<roles::EnrollmentAdmin>,
    state: web::Data<Registration>,
    body: Json<BulkBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    if b.ids.is_empty() || b.ids.len() > 200 {
        return Err(RegistrationError::InvalidBulk.into());
    }
    let why = match b.action {
        Action::Reject => Some(reason(b.reason.as_deref().unwrap_or_default())?),
        Action::Approve => None,
    };
    let mut results = Vec::with_capacity(b.ids.len());
    for id in b.ids {
        results.push(
            match act(&state, &caller, id, b.action, why.as_deref()).await {
                Ok(row) => BulkResult {
                    id,
                    ok: true,
                    status: Some(row.status),
                    code: None,
                    detail: None,
                },
                Err(e) => BulkResult {
                    id,
                    ok: false,
                    status: None,
                    code: Some(e.code.to_string()),
                    detail: Some(e.detail),
                },
            },
        );
    }
    Ok(HttpResponse::Ok().json(BulkResults { results }))
}

/// Sends a parked (failed) enrollment request again.
#[utoipa::path(post, path = "/api/v2/admin/registrations/{id}/redrive", tag = "registrations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = crate::views::RegistrationView, description = "The parked enrollment request is pending again"),
        (status = 401), (status = 403, description = "Not an enrollment-admin"),
        (status = 404), (status = 409, description = "illegal_transition: not parked")))]
pub async fn redrive(
    caller: Authorized<roles::EnrollmentAdmin>,
    state: web::Data<Registration>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse(&id)?;
    let r = storage::get(&state.db, id)
        .await?
        .filter(|r| in_scope(&caller, &r.department_id))
        .ok_or_else(|| ApiError::not_found(format!("no registration `{id}`")))?;
    if !storage::DELIVERIES
        .redrive(&state.db, id, state.clock.now())
        .await?
    {
        return Err(RegistrationError::NotRedrivable.into());
    }
    state.wake.notify_one();
    let r = storage::get(&state.db, r.id)
        .await?
        .ok_or_else(|| ApiError::internal("registration vanished"))?;
    Ok(HttpResponse::Ok().json(r.view()))
}
