//! Sends (billing-admins): the list by status, a resend of a parked one, template previews.

use crate::Notifier;
use crate::domain::NotificationError;
use crate::domain::templates::{self, Override, Rendered, Template};
use crate::storage::{self, DELIVERIES, SendRow};
use ::web::page::{Page, PageQuery};
use ::web::{ApiError, Authorized, roles};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendView {
    pub id: Uuid,
    pub template: String,
    pub user_id: String,
    pub recipient: Option<String>,
    pub subject: String,
    /// `queued` | `sent` | `failed` (parked) | `skipped`
    pub status: String,
    /// Why it was skipped, or the provider's last error.
    pub reason: Option<String>,
    pub attempts: i32,
    /// What the provider's webhooks said since: `delivered`, `bounced`, `dropped`, `complained`.
    pub provider_status: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendPage {
    pub items: Vec<SendView>,
    pub next_cursor: Option<String>,
}

fn view(s: SendRow) -> SendView {
    SendView {
        id: s.id,
        template: s.template,
        user_id: s.user_id,
        recipient: s.recipient,
        subject: s.subject,
        status: s.status,
        reason: s.reason.or(s.last_error),
        attempts: s.attempts.unwrap_or(0),
        provider_status: s.provider_status,
        created_at: s.created_at,
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SendQuery {
    /// Only sends in this status.
    #[param(nullable = false, schema_with = send_status)]
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

const SEND_STATUSES: &[&str] = &["queued", "sent", "failed", "skipped"];

fn send_status() -> utoipa::openapi::Object {
    ::web::openapi::words(SEND_STATUSES)
}

#[utoipa::path(get, path = "/api/v2/admin/notifications", tag = "notifications", security(("bearer" = [])),
    params(SendQuery),
    responses((status = 200, body = SendPage, description = "Sends, newest first"),
        (status = 400, description = "invalid_query"), (status = 401), (status = 403)))]
pub async fn list(
    state: web::Data<Notifier>,
    _caller: Authorized<roles::BillingAdmin>,
    q: web::Query<SendQuery>,
) -> Result<HttpResponse, ApiError> {
    if let Some(s) = &q.status
        && !SEND_STATUSES.contains(&s.as_str())
    {
        return Err(NotificationError::InvalidQuery(format!("unknown status `{s}`")).into());
    }
    let page = PageQuery {
        cursor: q.cursor.clone(),
        limit: q.limit,
    };
    let limit = page.limit()?;
    let rows = storage::page(&state.db, q.status.as_deref(), page.cursor()?, limit).await?;
    let p = Page::from_rows(
        rows.into_iter().map(view).collect(),
        limit,
        |s: &SendView| s.id.to_string(),
    );
    Ok(HttpResponse::Ok().json(SendPage {
        items: p.items,
        next_cursor: p.next_cursor,
    }))
}

#[utoipa::path(post, path = "/api/v2/admin/notifications/{id}/resend", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 202, description = "Scheduled again"), (status = 401), (status = 403),
        (status = 404), (status = 409, description = "illegal_transition: the send is not parked")))]
pub async fn resend(
    state: web::Data<Notifier>,
    _caller: Authorized<roles::BillingAdmin>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let missing = || NotificationError::NotFound(format!("no send `{id}`"));
    let sid = Uuid::parse_str(&id).map_err(|_| missing())?;
    if !DELIVERIES
        .redrive(&state.db, sid, state.clock.now())
        .await?
    {
        return Err(match storage::get(&state.db, sid).await? {
            Some(_) => NotificationError::NotResendable,
            None => missing(),
        }
        .into());
    }
    state.wake.notify_one();
    Ok(HttpResponse::Accepted().finish())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct PreviewQuery {
    /// Preview this department's wording, if it has one.
    #[param(nullable = false)]
    pub department_id: Option<String>,
}

#[utoipa::path(get, path = "/api/v2/admin/notification-templates/{name}/preview", tag = "notifications", security(("bearer" = [])),
    params(PreviewQuery, ("name" = String, Path, description = "order-confirmation, payment-failed, registration-pending, registration-approved, registration-rejected, enrollment-welcome, refund-requested, refund-approved, refund-rejected, certificate-earned")),
    responses((status = 200, body = Rendered, description = "Subject, HTML and text rendered with sample data"),
        (status = 401), (status = 403), (status = 404, description = "Unknown template")))]
pub async fn preview(
    state: web::Data<Notifier>,
    _caller: Authorized<roles::BillingAdmin>,
    name: web::Path<String>,
    q: web::Query<PreviewQuery>,
) -> Result<HttpResponse, ApiError> {
    let t = template_of(&name)?;
    let over = match &q.department_id {
        Some(d) => storage::override_of(&state.db, d, t.name()).await?,
        None => None,
    };
    let r = templates::render_with(
        t,
        over.as_ref(),
        &t.sample(),
        &state.platform_name,
        &state.base_url,
    )
    .map_err(NotificationError::from)?;
    Ok(HttpResponse::Ok().json(r))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OverrideView {
    pub template: String,
    pub department_id: String,
    /// False when the department has none and these are the platform's own.
    pub is_set: bool,
    pub subject: String,
    pub html: String,
    pub text: String,
    /// What the template may use.
    pub variables: Vec<String>,
}

fn template_of(name: &str) -> Result<Template, ApiError> {
    Template::parse(name)
        .ok_or_else(|| NotificationError::NotFound(format!("no template `{name}`")).into())
}

#[utoipa::path(get, path = "/api/v2/admin/notification-templates/{name}/departments/{departmentId}", tag = "notifications", security(("bearer" = [])),
    params(("name" = String, Path), ("departmentId" = String, Path)),
    responses((status = 200, body = OverrideView, description = "The department's wording, or the platform's"),
        (status = 401), (status = 403, description = "Not an admin of the department"), (status = 404)))]
pub async fn get_override(
    state: web::Data<Notifier>,
    caller: Authorized<roles::CatalogAdmin>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, department) = path.into_inner();
    caller.require_department(::web::Role::DeptAdmin, &department)?;
    let t = template_of(&name)?;
    let saved = storage::override_of(&state.db, &department, t.name()).await?;
    let (subject, html, text) = t.sources();
    let o = saved.clone().unwrap_or(templates::Override {
        subject: subject.into(),
        html: html.into(),
        text: text.into(),
    });
    Ok(HttpResponse::Ok().json(OverrideView {
        template: t.name().into(),
        department_id: department,
        is_set: saved.is_some(),
        subject: o.subject,
        html: o.html,
        text: o.text,
        variables: templates::variables(t),
    }))
}

#[utoipa::path(put, path = "/api/v2/admin/notification-templates/{name}/departments/{departmentId}", tag = "notifications", security(("bearer" = [])),
    params(("name" = String, Path), ("departmentId" = String, Path)),
    request_body = Override,
    responses((status = 200, body = OverrideView), (status = 400, description = "invalid_body"),
        (status = 401), (status = 403, description = "Not an admin of the department"), (status = 404),
        (status = 422, description = "validation_failed: does not parse, or an unknown variable (names the part)")))]
pub async fn put_override(
    state: web::Data<Notifier>,
    caller: Authorized<roles::CatalogAdmin>,
    path: web::Path<(String, String)>,
    body: bytes::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (name, department) = path.into_inner();
    // The department decides who may write, before the body is read.
    caller.require_department(::web::Role::DeptAdmin, &department)?;
    let t = template_of(&name)?;
    let o: Override = ::web::json::parse(&body)?;
    templates::validate(t, &o)
        .map_err(|(part, why)| ApiError::rule("validation_failed", why).with_field(part))?;
    storage::put_override(
        &state.db,
        &department,
        t.name(),
        &o,
        &caller.user_id,
        state.clock.now(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(OverrideView {
        template: t.name().into(),
        department_id: department,
        is_set: true,
        subject: o.subject,
        html: o.html,
        text: o.text,
        variables: templates::variables(t),
    }))
}
