//! Refund requests: created from `refund.requested` (one open request per order), decided once by
//! a guarded update derived from [`RequestStatus`].

use crate::domain::refund_request::{RequestEvent, RequestStatus};
use chrono::{DateTime, Utc};
use kernel::Lifecycle;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

use db::stmt as pg;

#[derive(Debug, Clone, FromQueryResult)]
pub struct RequestRow {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub order_id: Uuid,
    pub user_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: String,
    pub status: String,
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
    pub refund_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set when a rejected registration asked for its line's refund (REG-009).
    pub registration_id: Option<Uuid>,
    /// The lines asked about; empty = the whole order.
    pub order_item_ids: Vec<Uuid>,
}

const COLS: &str = "id, payment_id, order_id, user_id, amount_minor, currency, reason, status, \
    requested_by, decided_by, decision_reason, refund_id, created_at, updated_at, registration_id, \
    order_item_ids";

impl RequestRow {
    pub fn state(&self) -> Result<RequestStatus, DbErr> {
        RequestStatus::parse(&self.status).map_err(|e| DbErr::Custom(e.to_string()))
    }
}

pub struct NewRequest {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub order_id: Uuid,
    pub user_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: String,
    pub requested_by: String,
    pub registration_id: Option<Uuid>,
    pub order_item_ids: Vec<Uuid>,
}

/// Records a request; false when it exists or the order already has an open one.
pub async fn insert(
    c: &impl ConnectionTrait,
    r: &NewRequest,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    Ok(c.execute_raw(pg(
        "INSERT INTO refund_requests (id, payment_id, order_id, user_id, amount_minor, currency, reason,
             status, requested_by, created_at, updated_at, registration_id, order_item_ids)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12) ON CONFLICT DO NOTHING",
        vec![
            r.id.into(),
            r.payment_id.into(),
            r.order_id.into(),
            r.user_id.clone().into(),
            r.amount_minor.into(),
            r.currency.clone().into(),
            r.reason.clone().into(),
            RequestStatus::Requested.as_str().into(),
            r.requested_by.clone().into(),
            now.into(),
            r.registration_id.into(),
            r.order_item_ids.clone().into(),
        ],
    ))
    .await?
    .rows_affected()
        == 1)
}

pub async fn lock(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<RequestRow>, DbErr> {
    RequestRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM refund_requests WHERE id = $1 FOR UPDATE"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

/// The queue: oldest first, optionally of one status; the cursor is the last id seen.
pub async fn list(
    c: &impl ConnectionTrait,
    status: Option<&str>,
    cursor: Option<Uuid>,
    limit: u64,
) -> Result<Vec<RequestRow>, DbErr> {
    let mut w = db::Filters::new();
    w.add_opt("status = ?", status.map(str::to_string))
        .add_opt("id > ?", cursor);
    RequestRow::find_by_statement(w.query(
        &format!("{COLS} FROM refund_requests"),
        "ORDER BY id",
        limit + 1,
    ))
    .all(c)
    .await
}

/// Persists a decision and answers the request as it now stands; `None` when it was already
/// decided.
pub async fn decide(
    c: &impl ConnectionTrait,
    r: &RequestRow,
    event: RequestEvent,
    by: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<RequestRow>, DbErr> {
    let Ok(to) = r.state()?.apply(&event) else {
        return Ok(None);
    };
    RequestRow::find_by_statement(pg(
        &format!(
            "UPDATE refund_requests SET status = $3, decided_by = $4, decision_reason = $5, updated_at = $6
             WHERE id = $1 AND status = ANY($2) RETURNING {COLS}"
        ),
        vec![
            r.id.into(),
            RequestStatus::sources(&event).into(),
            to.as_str().into(),
            by.into(),
            reason.map(str::to_string).into(),
            now.into(),
        ],
    ))
    .one(c)
    .await
}

/// Links an approved request to the refund it made; answers the request as it now stands.
pub async fn set_refund(
    c: &impl ConnectionTrait,
    id: Uuid,
    refund: Uuid,
) -> Result<Option<RequestRow>, DbErr> {
    RequestRow::find_by_statement(pg(
        &format!("UPDATE refund_requests SET refund_id = $2 WHERE id = $1 RETURNING {COLS}"),
        vec![id.into(), refund.into()],
    ))
    .one(c)
    .await
}
