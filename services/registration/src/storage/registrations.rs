//! Registrations, their transitions (each one publishes `commerce.v1.RegistrationChanged`), and
//! the enrollment-request deliveries.

use crate::NAME;
use crate::domain::{RegistrationEvent, RegistrationStatus};
use crate::events as published;
use ::events::subjects;
use bus::outbound::OutboundTable;
use chrono::{DateTime, Utc};
use kernel::Lifecycle;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Value};
use uuid::Uuid;

use db::stmt as pg;

#[derive(Debug, Clone, FromQueryResult)]
pub struct RegistrationRow {
    pub id: Uuid,
    pub user_id: String,
    pub registration_type: String,
    pub course_id: Uuid,
    pub lms_course_id: String,
    pub course_title: String,
    pub program_id: Option<Uuid>,
    pub department_id: String,
    pub order_id: Uuid,
    pub order_number: String,
    pub order_item_index: i32,
    pub approval_required: bool,
    pub status: String,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub rejection_reason: Option<String>,
    pub enrollment_id: Option<String>,
    pub instructor_id: String,
    pub creator_id: String,
    pub gross_minor: i64,
    pub currency: String,
    pub purchased_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub delivery_status: Option<String>,
    pub delivery_attempts: Option<i32>,
    pub delivery_error: Option<String>,
    /// The order line it came from (refunds name lines).
    pub order_item_id: Option<Uuid>,
}

const COLS: &str = "r.id, r.user_id, r.registration_type, r.course_id, r.lms_course_id, r.course_title, r.program_id, \
    r.department_id, r.order_id, r.order_number, r.order_item_index, r.approval_required, r.status, r.reviewed_by, \
    r.reviewed_at, r.rejection_reason, r.enrollment_id, r.instructor_id, r.creator_id, r.gross_minor, r.currency, \
    r.purchased_at, r.created_at, r.updated_at, d.status AS delivery_status, d.attempts AS delivery_attempts, \
    d.last_error AS delivery_error, r.order_item_id";
const FROM: &str = "registrations r LEFT JOIN deliveries d ON d.registration_id = r.id";

pub struct NewRegistration {
    pub id: Uuid,
    pub user_id: String,
    pub registration_type: String,
    pub course_id: Uuid,
    pub lms_course_id: String,
    pub course_title: String,
    pub program_id: Option<Uuid>,
    pub department_id: String,
    pub order_id: Uuid,
    pub order_number: String,
    pub order_item_index: i32,
    pub approval_required: bool,
    pub instructor_id: String,
    pub creator_id: String,
    pub gross_minor: i64,
    pub currency: String,
    pub purchased_at: DateTime<Utc>,
    pub order_item_id: Uuid,
    /// The subscription the course was enrolled in through (registration type `subscription`).
    pub subscription_id: Option<Uuid>,
}

/// Inserts a registration (pending, or approved when no approval is required, with its
/// delivery). Returns None when it already exists (a redelivered order event).
pub async fn insert(
    c: &impl ConnectionTrait,
    r: &NewRegistration,
    now: DateTime<Utc>,
) -> Result<Option<RegistrationRow>, DbErr> {
    let status = RegistrationStatus::initial(r.approval_required).as_str();
    let reviewer: Option<String> = (!r.approval_required).then(|| "auto-approval".to_string());
    let n = c
        .execute_raw(pg(
            "INSERT INTO registrations (id, user_id, registration_type, course_id, lms_course_id, course_title, program_id,
                 department_id, order_id, order_number, order_item_index, approval_required, status, reviewed_by,
                 reviewed_at, instructor_id, creator_id, gross_minor, currency, purchased_at, created_at, updated_at,
                 order_item_id, subscription_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $21, $22,
                 $23)
             ON CONFLICT DO NOTHING",
            vec![
                r.id.into(),
                r.user_id.clone().into(),
                r.registration_type.clone().into(),
                r.course_id.into(),
                r.lms_course_id.clone().into(),
                r.course_title.clone().into(),
                r.program_id.into(),
                r.department_id.clone().into(),
                r.order_id.into(),
                r.order_number.clone().into(),
                r.order_item_index.into(),
                r.approval_required.into(),
                status.into(),
                reviewer.clone().into(),
                Value::ChronoDateTimeUtc(reviewer.as_ref().map(|_| now)),
                r.instructor_id.clone().into(),
                r.creator_id.clone().into(),
                r.gross_minor.into(),
                r.currency.clone().into(),
                r.purchased_at.into(),
                now.into(),
                r.order_item_id.into(),
                r.subscription_id.into(),
            ],
        ))
        .await?
        .rows_affected();
    if n == 0 {
        return Ok(None);
    }
    if !r.approval_required {
        schedule_delivery(c, r.id, now).await?;
    }
    let row = get(c, r.id).await?.ok_or(DbErr::RecordNotInserted)?;
    bus::enqueue(
        c,
        NAME,
        &subjects::registration(&row.status),
        &published::registration_changed(&row),
    )
    .await?;
    Ok(Some(row))
}

/// The enrollment requests to the LMS: one per approved registration (`bus::outbound`).
pub const DELIVERIES: OutboundTable = OutboundTable {
    table: "deliveries",
    key: "registration_id",
    result: "lms_enrollment_id",
};

/// The unenrollment requests to the LMS: one per registration cancelled by a full refund after
/// its enrollment request was delivered.
pub const UNENROLLMENTS: OutboundTable = OutboundTable {
    table: "unenrollments",
    key: "registration_id",
    result: "lms_result",
};

/// The registrations of one order line, locked.
pub async fn lock_of_line(
    c: &impl ConnectionTrait,
    order: Uuid,
    line: Uuid,
) -> Result<Vec<RegistrationRow>, DbErr> {
    RegistrationRow::find_by_statement(pg(
        &format!(
            "SELECT {COLS} FROM {FROM} WHERE r.order_id = $1 AND r.order_item_id = $2
             ORDER BY r.id FOR UPDATE OF r"
        ),
        vec![order.into(), line.into()],
    ))
    .all(c)
    .await
}

/// The registrations made through a subscription, locked.
pub async fn lock_of_subscription(
    c: &impl ConnectionTrait,
    subscription: Uuid,
) -> Result<Vec<RegistrationRow>, DbErr> {
    RegistrationRow::find_by_statement(pg(
        &format!(
            "SELECT {COLS} FROM {FROM} WHERE r.subscription_id = $1 ORDER BY r.id FOR UPDATE OF r"
        ),
        vec![subscription.into()],
    ))
    .all(c)
    .await
}

/// Serializes the handlers that touch one subscription's registrations until the transaction
/// ends (its end, and an enrollment through it completing concurrently).
pub async fn lock_subscription_events(
    c: &impl ConnectionTrait,
    subscription: Uuid,
) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "SELECT pg_advisory_xact_lock(hashtext('registration.subscription:' || $1::text))",
        vec![subscription.into()],
    ))
    .await?;
    Ok(())
}

/// Remembers that a subscription's access ended.
pub async fn mark_subscription_ended(
    c: &impl ConnectionTrait,
    subscription: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "INSERT INTO ended_subscriptions (subscription_id, ended_at) VALUES ($1, $2)
         ON CONFLICT DO NOTHING",
        vec![subscription.into(), now.into()],
    ))
    .await?;
    Ok(())
}

/// Whether a subscription's access ended.
pub async fn subscription_ended(
    c: &impl ConnectionTrait,
    subscription: Uuid,
) -> Result<bool, DbErr> {
    Ok(c.query_one_raw(pg(
        "SELECT 1 AS one FROM ended_subscriptions WHERE subscription_id = $1",
        vec![subscription.into()],
    ))
    .await?
    .is_some())
}

/// Serializes the handlers of one order's events (its completion and its refunds) until the
/// transaction ends, so a line refunded concurrently with its registration is never missed.
pub async fn lock_order_events(c: &impl ConnectionTrait, order: Uuid) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "SELECT pg_advisory_xact_lock(hashtext('registration.order:' || $1::text))",
        vec![order.into()],
    ))
    .await?;
    Ok(())
}

/// Remembers that a line was wholly refunded (a refund may overtake the order's completion).
pub async fn mark_line_refunded(
    c: &impl ConnectionTrait,
    order: Uuid,
    line: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "INSERT INTO refunded_lines (order_item_id, order_id, refunded_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        vec![line.into(), order.into(), now.into()],
    ))
    .await?;
    Ok(())
}

/// Which of `lines` were wholly refunded before their registrations were made (one read for
/// the whole order).
pub async fn refunded_lines(c: &impl ConnectionTrait, lines: &[Uuid]) -> Result<Vec<Uuid>, DbErr> {
    #[derive(FromQueryResult)]
    struct L {
        order_item_id: Uuid,
    }
    Ok(L::find_by_statement(pg(
        "SELECT order_item_id FROM refunded_lines WHERE order_item_id = ANY($1)",
        vec![lines.to_vec().into()],
    ))
    .all(c)
    .await?
    .into_iter()
    .map(|l| l.order_item_id)
    .collect())
}

async fn schedule_delivery(
    c: &impl ConnectionTrait,
    registration: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    DELIVERIES
        .schedule(c, registration, kernel::new_id(), now)
        .await
}

pub async fn get(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<RegistrationRow>, DbErr> {
    RegistrationRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM {FROM} WHERE r.id = $1"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

pub async fn lock(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<RegistrationRow>, DbErr> {
    RegistrationRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM {FROM} WHERE r.id = $1 FOR UPDATE OF r"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

impl RegistrationRow {
    /// The row's status as the domain knows it; an unknown value is corrupt data.
    pub fn state(&self) -> Result<RegistrationStatus, DbErr> {
        RegistrationStatus::parse(&self.status).map_err(|e| DbErr::Custom(e.to_string()))
    }
}

/// Who moved a registration and what came with the move.
pub struct MoveBy<'a> {
    /// An admin id or the LMS's `processedBy`.
    pub by: &'a str,
    pub reason: Option<&'a str>,
    pub enrollment: Option<&'a str>,
}

/// Applies the domain's move for `event` under the row lock, as a guarded update, schedules the
/// enrollment request of an approval, and publishes the change. `Ok(Err(_))` when the move is
/// illegal from the current state (nothing changes).
pub async fn transition(
    c: &impl ConnectionTrait,
    id: Uuid,
    event: RegistrationEvent,
    m: MoveBy<'_>,
    now: DateTime<Utc>,
) -> Result<Result<RegistrationRow, TransitionError>, DbErr> {
    let Some(current) = lock(c, id).await? else {
        return Ok(Err(TransitionError::NotFound));
    };
    let to = match current.state()?.apply(&event) {
        Ok(to) => to,
        Err(e) => return Ok(Err(TransitionError::Illegal(e))),
    };
    // The moved row comes back with the update (and its delivery, unchanged by it).
    let moved = RegistrationRow::find_by_statement(pg(
        &format!(
            "WITH r AS (
                 UPDATE registrations SET status = $3, updated_at = $4,
                     reviewed_by = CASE WHEN $5 THEN $6 ELSE reviewed_by END,
                     reviewed_at = CASE WHEN $5 THEN $4 ELSE reviewed_at END,
                     rejection_reason = COALESCE($7, rejection_reason),
                     enrollment_id = COALESCE($8, enrollment_id)
                 WHERE id = $1 AND status = ANY($2)
                 RETURNING *)
             SELECT {COLS} FROM r LEFT JOIN deliveries d ON d.registration_id = r.id"
        ),
        vec![
            id.into(),
            RegistrationStatus::sources(&event).into(),
            to.as_str().into(),
            now.into(),
            event.is_review().into(),
            m.by.into(),
            m.reason.map(str::to_string).into(),
            m.enrollment.map(str::to_string).into(),
        ],
    ))
    .one(c)
    .await?;
    let Some(mut row) = moved else {
        return Err(DbErr::Custom(format!(
            "registration {id} moved under its row lock"
        )));
    };
    if to == RegistrationStatus::Approved {
        schedule_delivery(c, id, now).await?;
        row = get(c, id)
            .await?
            .ok_or(DbErr::RecordNotFound("registration".into()))?;
    }
    bus::enqueue(
        c,
        NAME,
        &subjects::registration(to.as_str()),
        &published::registration_changed(&row),
    )
    .await?;
    Ok(Ok(row))
}

/// Why a transition did not happen.
#[derive(Debug)]
pub enum TransitionError {
    NotFound,
    Illegal(kernel::IllegalTransition),
}

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub user_id: Option<String>,
    pub status: Option<String>,
    pub departments_in: Option<Vec<String>>,
    pub department: Option<String>,
    pub course_id: Option<Uuid>,
    pub delivery_status: Option<String>,
    pub cursor: Option<Uuid>,
    pub limit: u64,
}

pub async fn list(c: &impl ConnectionTrait, f: &Filter) -> Result<Vec<RegistrationRow>, DbErr> {
    let mut w = db::Filters::new();
    w.add_opt("r.user_id = ?", f.user_id.clone())
        .add_opt("r.status = ?", f.status.clone())
        .add_opt("r.department_id = ANY(?)", f.departments_in.clone())
        .add_opt("r.department_id = ?", f.department.clone())
        .add_opt("r.course_id = ?", f.course_id)
        .add_opt("d.status = ?", f.delivery_status.clone())
        .add_opt("r.id > ?", f.cursor);
    RegistrationRow::find_by_statement(w.query(
        &format!("{COLS} FROM {FROM}"),
        "ORDER BY r.id",
        f.limit + 1,
    ))
    .all(c)
    .await
}
