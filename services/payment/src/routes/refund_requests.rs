//! The billing-admins' refund queue (ADR-001): `GET /api/v2/admin/refunds?status=`, and
//! `POST /api/v2/admin/refunds/{id}/approve` (the whole request or a partial `amount`) or
//! `/reject` (with a reason). A request is decided once; approving it makes the refund exactly as
//! `POST /api/v2/admin/payments/{id}/refund` does (capped at the capture).

use super::refunds::{IssueRefund, issue};
use crate::NAME;
use crate::Payment;
use crate::domain::PaymentError;
use crate::domain::refund_request::RequestEvent;
use crate::events as published;
use crate::storage::refund_requests::{self, RequestRow};
use ::web::page::PageQuery;
use ::web::{ApiError, Authorized, Json, Page, roles};
use actix_web::{HttpResponse, web};
use events::subjects;
use sea_orm::TransactionTrait;
use serde::Deserialize;
use uuid::Uuid;

const STATUSES: &[&str] = &["requested", "approved", "rejected"];

fn status_schema() -> utoipa::openapi::Object {
    ::web::openapi::words(STATUSES)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// `requested` (the queue), `approved` or `rejected`; absent = all.
    #[param(nullable = false, schema_with = status_schema)]
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

#[utoipa::path(get, path = "/api/v2/admin/refunds", tag = "payments", security(("bearer" = [])), params(QueueQuery),
    responses((status = 200, body = ::web::Page<crate::views::RefundRequestView>, description = "Refund requests, oldest first"),
        (status = 403)))]
pub async fn list(
    _: Authorized<roles::BillingAdmin>,
    state: web::Data<Payment>,
    q: web::Query<QueueQuery>,
) -> Result<HttpResponse, ApiError> {
    if let Some(s) = &q.status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("status must be one of {}", STATUSES.join(", ")),
        )
        .with_field("status"));
    }
    let page = PageQuery {
        cursor: q.cursor.clone(),
        limit: q.limit,
    };
    let limit = page.limit()?;
    let rows = refund_requests::list(&state.db, q.status.as_deref(), page.cursor()?, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id.to_string());
    Ok(HttpResponse::Ok().json(Page {
        items: page.items.iter().map(RequestRow::view).collect(),
        next_cursor: page.next_cursor,
    }))
}

fn request_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| PaymentError::NotFound(format!("no refund request `{raw}`")).into())
}

/// Moves the request for `event` under its row lock and answers it as it now stands; 409 when it
/// was already decided.
async fn decide(
    state: &Payment,
    id: Uuid,
    event: RequestEvent,
    by: &str,
    reason: Option<&str>,
) -> Result<RequestRow, ApiError> {
    let txn = state.db.begin().await?;
    let r = refund_requests::lock(&txn, id)
        .await?
        .ok_or_else(|| PaymentError::NotFound(format!("no refund request `{id}`")))?;
    let now = state.clock.now();
    let Some(decided) = refund_requests::decide(&txn, &r, event, by, reason, now).await? else {
        return Err(ApiError::conflict(
            "illegal_transition",
            format!("the refund request is {}", r.status),
        ));
    };
    if event == RequestEvent::Reject {
        let e = published::refund_rejected(&r, by, reason.unwrap_or_default(), now);
        bus::enqueue(&txn, NAME, subjects::REFUND_REJECTED, &e).await?;
    }
    txn.commit().await?;
    Ok(decided)
}

/// An approved request and the refund it made.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Approved {
    pub request: crate::views::RefundRequestView,
    pub refund: crate::views::RefundView,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApproveBody {
    /// A partial amount in minor units; absent = the amount requested.
    pub amount: Option<i64>,
}

#[utoipa::path(post, path = "/api/v2/admin/refunds/{id}/approve", tag = "payments", security(("bearer" = [])),
    request_body = ApproveBody, params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Approved, description = "Approved, with the refund it made (`succeeded` or `failed`)"),
        (status = 400), (status = 401), (status = 403), (status = 404),
        (status = 409, description = "illegal_transition: already decided"),
        (status = 422, description = "refund_exceeds_captured, invalid_refund")))]
pub async fn approve(
    caller: Authorized<roles::BillingAdmin>,
    state: web::Data<Payment>,
    id: web::Path<String>,
    body: Json<ApproveBody>,
) -> Result<HttpResponse, ApiError> {
    let id = request_id(&id)?;
    let requested = decide(&state, id, RequestEvent::Approve, &caller.user_id, None).await?;
    let amount = body.value.amount.unwrap_or(requested.amount_minor);
    if amount > requested.amount_minor {
        reopen(&state, id, &caller.user_id).await?;
        return Err(PaymentError::InvalidRefund(format!(
            "the request is for {} at most",
            requested.amount_minor
        ))
        .into());
    }
    let made = issue(
        &state,
        IssueRefund {
            payment_id: requested.payment_id,
            amount: Some(amount),
            reason: &requested.reason,
            by: &caller.user_id,
            idempotency_key: None,
            lines: &requested.order_item_ids,
        },
    )
    .await;
    let refund = match made {
        Ok(r) => r,
        Err(e) => {
            // Nothing was refunded: the request goes back to the queue.
            reopen(&state, id, &caller.user_id).await?;
            return Err(e);
        }
    };
    let now = refund_requests::set_refund(&state.db, id, refund.id)
        .await?
        .ok_or_else(|| PaymentError::Corrupt(format!("refund request {id} vanished")))?;
    Ok(HttpResponse::Ok().json(Approved {
        request: now.view(),
        refund: refund.view(),
    }))
}

async fn reopen(state: &Payment, id: Uuid, by: &str) -> Result<(), ApiError> {
    let txn = state.db.begin().await?;
    if let Some(r) = refund_requests::lock(&txn, id).await? {
        refund_requests::decide(&txn, &r, RequestEvent::Reopen, by, None, state.clock.now())
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = RefundRejection)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    /// Why the refund is refused (1 to 1000 characters); the learner is told.
    pub reason: String,
}

#[utoipa::path(post, path = "/api/v2/admin/refunds/{id}/reject", tag = "payments", security(("bearer" = [])),
    request_body = RejectBody, params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = crate::views::RefundRequestView, description = "Rejected"), (status = 400), (status = 401),
        (status = 403), (status = 404), (status = 409, description = "illegal_transition"),
        (status = 422, description = "invalid_refund: no reason")))]
pub async fn reject(
    caller: Authorized<roles::BillingAdmin>,
    state: web::Data<Payment>,
    id: web::Path<String>,
    body: Json<RejectBody>,
) -> Result<HttpResponse, ApiError> {
    let id = request_id(&id)?;
    let reason = body.value.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(ApiError::from(PaymentError::InvalidRefund(
            "a rejection needs a reason of 1 to 1000 characters".into(),
        ))
        .with_field("reason"));
    }
    let now = decide(
        &state,
        id,
        RequestEvent::Reject,
        &caller.user_id,
        Some(&reason),
    )
    .await?;
    state.outbox.notify_one();
    Ok(HttpResponse::Ok().json(now.view()))
}
