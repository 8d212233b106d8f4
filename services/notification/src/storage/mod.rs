//! Notification persistence: SQL only.

use bus::outbound::OutboundTable;
use chrono::{DateTime, Utc};
use db::stmt as pg;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

/// One delivery to the mail provider per send.
pub const DELIVERIES: OutboundTable = OutboundTable {
    table: "deliveries",
    key: "send_id",
    result: "provider_message_id",
};

/// Keeps the learner's address and name as of their newest checkout (a checkout without them
/// keeps what was known). The row also says the learner is known.
pub async fn remember(
    c: &impl ConnectionTrait,
    user_id: &str,
    email: &str,
    name: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    c.execute_raw(pg(
        "INSERT INTO recipients (user_id, email, name, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id) DO UPDATE SET email = COALESCE(EXCLUDED.email, recipients.email),
             name = COALESCE(EXCLUDED.name, recipients.name), updated_at = EXCLUDED.updated_at
         WHERE recipients.updated_at <= EXCLUDED.updated_at",
        vec![
            user_id.into(),
            opt(email).into(),
            opt(name).into(),
            at.into(),
        ],
    ))
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct Recipient {
    pub email: Option<String>,
    pub name: Option<String>,
}

/// Everything an email to a learner depends on, read at once.
#[derive(Debug, Clone)]
pub struct Addressee {
    /// What orders told of the learner; `None` while no order of theirs has been seen.
    pub recipient: Option<Recipient>,
    /// Why sends to the learner's address are suppressed, if they are.
    pub suppressed: Option<String>,
    /// The department's own wording of the template, if it saved one.
    pub wording: Option<crate::domain::templates::Override>,
}

/// The learner, their address's suppression and the department's wording of `template`, in
/// one statement.
pub async fn addressee(
    c: &impl ConnectionTrait,
    user_id: &str,
    department_id: Option<&str>,
    template: &str,
) -> Result<Addressee, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        known: bool,
        email: Option<String>,
        name: Option<String>,
        suppressed: Option<String>,
        subject: Option<String>,
        html: Option<String>,
        text: Option<String>,
    }
    let r = Row::find_by_statement(pg(
        "SELECT r.user_id IS NOT NULL AS known, r.email, r.name,
             (SELECT s.reason FROM suppressions s WHERE s.email = lower(r.email)) AS suppressed,
             o.subject, o.html, o.text
         FROM (VALUES (1)) AS one (x)
         LEFT JOIN recipients r ON r.user_id = $1
         LEFT JOIN template_overrides o ON o.department_id = $2 AND o.template = $3",
        vec![
            user_id.into(),
            department_id.map(str::to_string).into(),
            template.into(),
        ],
    ))
    .one(c)
    .await?
    .ok_or_else(|| DbErr::Custom("the addressee query returned no row".into()))?;
    let wording = match (r.subject, r.html, r.text) {
        (Some(subject), Some(html), Some(text)) => Some(crate::domain::templates::Override {
            subject,
            html,
            text,
        }),
        _ => None,
    };
    Ok(Addressee {
        recipient: r.known.then_some(Recipient {
            email: r.email,
            name: r.name,
        }),
        suppressed: r.suppressed,
        wording,
    })
}

pub struct OrderCourse<'a> {
    pub department_id: &'a str,
    pub course_id: Uuid,
    pub lms_course_id: &'a str,
    pub title: &'a str,
    pub approval_required: bool,
}

pub async fn remember_order(
    c: &impl ConnectionTrait,
    order_id: Uuid,
    number: &str,
    user_id: &str,
    courses: &[OrderCourse<'_>],
) -> Result<bool, DbErr> {
    let new = c.execute_raw(pg(
        "INSERT INTO orders (order_id, order_number, user_id, department_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (order_id) DO NOTHING",
        vec![
            order_id.into(),
            number.into(),
            user_id.into(),
            courses
                .first()
                .map(|c| c.department_id)
                .unwrap_or_default()
                .into(),
        ],
    ))
    .await?
    .rows_affected()
        == 1;
    for oc in courses {
        c.execute_raw(pg(
            "INSERT INTO order_courses (order_id, course_id, lms_course_id, title, approval_required,
                 department_id)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            vec![
                order_id.into(),
                oc.course_id.into(),
                oc.lms_course_id.into(),
                oc.title.into(),
                oc.approval_required.into(),
                oc.department_id.into(),
            ],
        ))
        .await?;
    }
    Ok(new)
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct OrderRow {
    pub order_number: String,
    pub department_id: String,
}

pub async fn order(c: &impl ConnectionTrait, order_id: Uuid) -> Result<Option<OrderRow>, DbErr> {
    OrderRow::find_by_statement(pg(
        "SELECT order_number, department_id FROM orders WHERE order_id = $1",
        vec![order_id.into()],
    ))
    .one(c)
    .await
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct CourseRow {
    pub lms_course_id: String,
    pub title: String,
    pub approval_required: bool,
}

pub async fn order_course(
    c: &impl ConnectionTrait,
    order_id: Uuid,
    course_id: Uuid,
) -> Result<Option<CourseRow>, DbErr> {
    CourseRow::find_by_statement(pg(
        "SELECT lms_course_id, title, approval_required FROM order_courses
         WHERE order_id = $1 AND course_id = $2",
        vec![order_id.into(), course_id.into()],
    ))
    .one(c)
    .await
}

pub struct NewSend<'a> {
    pub cause: &'a str,
    pub template: &'a str,
    pub user_id: &'a str,
    pub recipient: Option<&'a str>,
    pub subject: &'a str,
    pub html: &'a str,
    pub text: &'a str,
    /// The certificate whose PDF goes with the email.
    pub certificate_id: Option<Uuid>,
    /// `queued`, or `skipped` with the reason.
    pub skipped: Option<&'a str>,
}

/// Records the send once per (cause, template, user) and schedules its delivery; `false` when
/// it was already recorded.
pub async fn record(
    c: &impl ConnectionTrait,
    s: &NewSend<'_>,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let id = kernel::new_id();
    let status = if s.skipped.is_some() {
        "skipped"
    } else {
        "queued"
    };
    let inserted = c
        .execute_raw(pg(
            "INSERT INTO sends (id, cause, template, user_id, recipient, subject, html, text, status,
                 reason, created_at, updated_at, certificate_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)
             ON CONFLICT (cause, template, user_id) DO NOTHING",
            vec![
                id.into(),
                s.cause.into(),
                s.template.into(),
                s.user_id.into(),
                s.recipient.map(str::to_string).into(),
                s.subject.into(),
                s.html.into(),
                s.text.into(),
                status.into(),
                s.skipped.map(str::to_string).into(),
                now.into(),
                s.certificate_id.into(),
            ],
        ))
        .await?
        .rows_affected()
        == 1;
    if inserted && s.skipped.is_none() {
        DELIVERIES.schedule(c, id, kernel::new_id(), now).await?;
    }
    Ok(inserted)
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct SendRow {
    pub id: Uuid,
    pub cause: String,
    pub template: String,
    pub user_id: String,
    pub recipient: Option<String>,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub certificate_id: Option<Uuid>,
    pub status: String,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub attempts: Option<i32>,
    pub last_error: Option<String>,
    pub provider_status: Option<String>,
}

/// A send's status: its delivery's outcome once there is one (`sent`, `failed`), else its own
/// (`queued`, `skipped`).
macro_rules! send_status {
    () => {
        "CASE WHEN d.status = 'delivered' THEN 'sent' WHEN d.status = 'failed' THEN 'failed'
              ELSE s.status END"
    };
}

const SEND: &str = concat!(
    "s.id, s.cause, s.template, s.user_id, s.recipient, s.subject, s.html, s.text,
    s.certificate_id, ",
    send_status!(),
    " AS status, s.reason, s.created_at, s.updated_at, d.attempts, d.last_error, s.provider_status"
);

pub async fn get(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<SendRow>, DbErr> {
    SendRow::find_by_statement(pg(
        &format!(
            "SELECT {SEND} FROM sends s LEFT JOIN deliveries d ON d.send_id = s.id WHERE s.id = $1"
        ),
        vec![id.into()],
    ))
    .one(c)
    .await
}

/// Sends newest first, optionally of one status.
pub async fn page(
    c: &impl ConnectionTrait,
    status: Option<&str>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<SendRow>, DbErr> {
    let mut f = db::Filters::new();
    f.add_opt(
        concat!("(", send_status!(), ") = ?"),
        status.map(str::to_string),
    );
    f.add_opt("s.id < ?", before);
    SendRow::find_by_statement(f.query(
        &format!("{SEND} FROM sends s LEFT JOIN deliveries d ON d.send_id = s.id"),
        "ORDER BY s.id DESC",
        limit + 1,
    ))
    .all(c)
    .await
}

/// Applies one provider event once (`false` when its id was seen): the send's provider status,
/// and the address suppressed when the event says it must be.
pub async fn provider_event(
    c: &impl ConnectionTrait,
    event_id: &str,
    send_id: Option<Uuid>,
    status: &str,
    suppress: Option<(&str, &str)>,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let fresh = c
        .execute_raw(pg(
            "INSERT INTO provider_events (id, at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            vec![event_id.into(), now.into()],
        ))
        .await?
        .rows_affected()
        == 1;
    if !fresh {
        return Ok(false);
    }
    if let Some(id) = send_id {
        c.execute_raw(pg(
            // A late `delivered` never hides an earlier bounce, drop or complaint.
            "UPDATE sends SET provider_status = $2, provider_at = $3, updated_at = $3
             WHERE id = $1 AND (provider_status IS NULL OR $2 <> 'delivered')",
            vec![id.into(), status.into(), now.into()],
        ))
        .await?;
    }
    if let Some((email, reason)) = suppress {
        c.execute_raw(pg(
            "INSERT INTO suppressions (email, reason, at) VALUES (lower($1), $2, $3)
             ON CONFLICT (email) DO NOTHING",
            vec![email.into(), reason.into(), now.into()],
        ))
        .await?;
    }
    Ok(true)
}

/// Why sends to `email` are suppressed, if they are.
pub async fn suppressed(c: &impl ConnectionTrait, email: &str) -> Result<Option<String>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        reason: String,
    }
    Ok(Row::find_by_statement(pg(
        "SELECT reason FROM suppressions WHERE email = lower($1)",
        vec![email.into()],
    ))
    .one(c)
    .await?
    .map(|r| r.reason))
}

/// The department's own wording of `template`, if it saved one.
pub async fn override_of(
    c: &impl ConnectionTrait,
    department_id: &str,
    template: &str,
) -> Result<Option<crate::domain::templates::Override>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        subject: String,
        html: String,
        text: String,
    }
    Ok(Row::find_by_statement(pg(
        "SELECT subject, html, text FROM template_overrides WHERE department_id = $1 AND template = $2",
        vec![department_id.into(), template.into()],
    ))
    .one(c)
    .await?
    .map(|r| crate::domain::templates::Override {
        subject: r.subject,
        html: r.html,
        text: r.text,
    }))
}

pub async fn put_override(
    c: &impl ConnectionTrait,
    department_id: &str,
    template: &str,
    o: &crate::domain::templates::Override,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "INSERT INTO template_overrides (department_id, template, subject, html, text, updated_by, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (department_id, template) DO UPDATE SET subject = EXCLUDED.subject,
             html = EXCLUDED.html, text = EXCLUDED.text, updated_by = EXCLUDED.updated_by,
             updated_at = EXCLUDED.updated_at",
        vec![
            department_id.into(),
            template.into(),
            o.subject.clone().into(),
            o.html.clone().into(),
            o.text.clone().into(),
            by.into(),
            now.into(),
        ],
    ))
    .await?;
    Ok(())
}
