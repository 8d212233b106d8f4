//! What the catalog and orders told us: courses, and the courses each learner holds.

use chrono::{DateTime, Utc};
use db::stmt as pg;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

pub struct Course<'a> {
    pub course_id: Uuid,
    pub lms_course_id: &'a str,
    pub title: &'a str,
    pub department_id: &'a str,
    pub changed_at: DateTime<Utc>,
}

/// Keeps the newest announcement of a course.
pub async fn upsert_course(c: &impl ConnectionTrait, course: &Course<'_>) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "INSERT INTO courses (course_id, lms_course_id, title, department_id, changed_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (course_id) DO UPDATE SET lms_course_id = EXCLUDED.lms_course_id,
             title = EXCLUDED.title, department_id = EXCLUDED.department_id,
             changed_at = EXCLUDED.changed_at
         WHERE courses.changed_at <= EXCLUDED.changed_at",
        vec![
            course.course_id.into(),
            course.lms_course_id.into(),
            course.title.into(),
            course.department_id.into(),
            course.changed_at.into(),
        ],
    ))
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct CourseRow {
    pub course_id: Uuid,
    pub lms_course_id: String,
    pub title: String,
    pub department_id: String,
}

pub async fn course(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<CourseRow>, DbErr> {
    CourseRow::find_by_statement(pg(
        "SELECT course_id, lms_course_id, title, department_id FROM courses WHERE course_id = $1",
        vec![id.into()],
    ))
    .one(c)
    .await
}

#[derive(Debug, Clone)]
pub struct NewHolding<'a> {
    pub order_item_id: Uuid,
    pub course_id: Uuid,
    pub order_id: Uuid,
    pub user_id: &'a str,
    pub lms_course_id: &'a str,
    pub course_title: &'a str,
    pub department_id: &'a str,
    pub program: Option<(Uuid, &'a str, Vec<Uuid>)>,
    pub acquired_at: DateTime<Utc>,
}

/// Records a held course once (a redelivered order changes nothing).
pub async fn insert_holding(c: &impl ConnectionTrait, h: &NewHolding<'_>) -> Result<(), DbErr> {
    let (program_id, program_title, program_courses) = match &h.program {
        Some((id, title, courses)) => (
            Some(*id),
            Some(title.to_string()),
            Some(serde_json::json!(courses)),
        ),
        None => (None, None, None),
    };
    c.execute_raw(pg(
        "INSERT INTO holdings (order_item_id, course_id, order_id, user_id, lms_course_id,
             course_title, department_id, program_id, program_title, program_courses, acquired_at,
             status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
             CASE WHEN EXISTS (SELECT 1 FROM refunded_lines WHERE order_item_id = $1)
                  THEN 'refunded' ELSE 'active' END)
         ON CONFLICT (order_item_id, course_id) DO NOTHING",
        vec![
            h.order_item_id.into(),
            h.course_id.into(),
            h.order_id.into(),
            h.user_id.into(),
            h.lms_course_id.into(),
            h.course_title.into(),
            h.department_id.into(),
            program_id.into(),
            program_title.into(),
            program_courses.into(),
            h.acquired_at.into(),
        ],
    ))
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct HoldingRow {
    pub order_item_id: Uuid,
    pub course_id: Uuid,
    pub user_id: String,
    pub lms_course_id: String,
    pub course_title: String,
    pub department_id: String,
    pub program_id: Option<Uuid>,
    pub program_title: Option<String>,
    pub program_courses: Option<serde_json::Value>,
    pub status: String,
}

impl HoldingRow {
    /// The program's member courses, as the order line froze them.
    pub fn program_courses(&self) -> Vec<Uuid> {
        self.program_courses
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }
}

const HOLDING: &str = "order_item_id, course_id, user_id, lms_course_id, course_title,
    department_id, program_id, program_title, program_courses, status";

/// The learner's active holdings of the LMS course (a course bought alone and in a program
/// gives two).
pub async fn active_holdings(
    c: &impl ConnectionTrait,
    user_id: &str,
    lms_course_id: &str,
) -> Result<Vec<HoldingRow>, DbErr> {
    HoldingRow::find_by_statement(pg(
        &format!(
            "SELECT {HOLDING} FROM holdings
             WHERE user_id = $1 AND lms_course_id = $2 AND status = 'active'
             ORDER BY acquired_at"
        ),
        vec![user_id.into(), lms_course_id.into()],
    ))
    .all(c)
    .await
}

/// The learner's active holdings of a course, by our id.
pub async fn active_holdings_of_course(
    c: &impl ConnectionTrait,
    user_id: &str,
    course_id: Uuid,
) -> Result<Vec<HoldingRow>, DbErr> {
    HoldingRow::find_by_statement(pg(
        &format!(
            "SELECT {HOLDING} FROM holdings
             WHERE user_id = $1 AND course_id = $2 AND status = 'active' ORDER BY acquired_at"
        ),
        vec![user_id.into(), course_id.into()],
    ))
    .all(c)
    .await
}

/// The learner's active holdings that came with a program.
pub async fn program_holdings(
    c: &impl ConnectionTrait,
    user_id: &str,
    program_id: Uuid,
) -> Result<Vec<HoldingRow>, DbErr> {
    HoldingRow::find_by_statement(pg(
        &format!(
            "SELECT {HOLDING} FROM holdings
             WHERE user_id = $1 AND program_id = $2 AND status = 'active' ORDER BY acquired_at"
        ),
        vec![user_id.into(), program_id.into()],
    ))
    .all(c)
    .await
}

/// Marks the line's active holdings (one course, or every course of a program line) with
/// `status`, returning those it changed.
pub async fn end_holdings(
    c: &impl ConnectionTrait,
    order_item_id: Uuid,
    course_id: Option<Uuid>,
    status: &str,
) -> Result<Vec<HoldingRow>, DbErr> {
    HoldingRow::find_by_statement(pg(
        &format!(
            "UPDATE holdings SET status = $3
             WHERE order_item_id = $1 AND ($2::uuid IS NULL OR course_id = $2) AND status = 'active'
             RETURNING {HOLDING}"
        ),
        vec![order_item_id.into(), course_id.into(), status.into()],
    ))
    .all(c)
    .await
}

pub struct NewCompletion<'a> {
    pub id: Uuid,
    pub user_id: &'a str,
    pub user_name: &'a str,
    pub lms_course_id: &'a str,
    pub enrollment_id: &'a str,
    pub completed_at: DateTime<Utc>,
    pub modules_completed: u32,
    pub modules_total: u32,
    pub completed_module_ids: &'a [String],
    pub assessment_id: Option<&'a str>,
    pub assessment_score: Option<u32>,
    pub minutes_spent: u32,
    pub outcome: &'a str,
    pub detail: Option<String>,
    pub certificate_id: Option<Uuid>,
    pub received_at: DateTime<Utc>,
}

fn int(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// Keeps a completion webhook for audit, with what it led to.
pub async fn insert_completion(
    c: &impl ConnectionTrait,
    x: &NewCompletion<'_>,
) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "INSERT INTO completions (id, user_id, user_name, lms_course_id, enrollment_id, completed_at,
             modules_completed, modules_total, completed_module_ids, assessment_id, assessment_score,
             minutes_spent, outcome, detail, certificate_id, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         ON CONFLICT (id) DO NOTHING",
        vec![
            x.id.into(),
            x.user_id.into(),
            x.user_name.into(),
            x.lms_course_id.into(),
            x.enrollment_id.into(),
            x.completed_at.into(),
            int(x.modules_completed).into(),
            int(x.modules_total).into(),
            serde_json::json!(x.completed_module_ids).into(),
            x.assessment_id.map(str::to_string).into(),
            x.assessment_score.map(int).into(),
            int(x.minutes_spent).into(),
            x.outcome.into(),
            x.detail.clone().into(),
            x.certificate_id.into(),
            x.received_at.into(),
        ],
    ))
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromQueryResult, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompletionRow {
    pub id: Uuid,
    pub user_id: String,
    pub lms_course_id: String,
    pub completed_at: DateTime<Utc>,
    pub outcome: String,
    pub detail: Option<String>,
    pub certificate_id: Option<Uuid>,
    pub received_at: DateTime<Utc>,
}

/// The completions received for a learner, newest first (admin audit).
pub async fn completions_of(
    c: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<CompletionRow>, DbErr> {
    CompletionRow::find_by_statement(pg(
        "SELECT id, user_id, lms_course_id, completed_at, outcome, detail, certificate_id, received_at
         FROM completions WHERE user_id = $1 ORDER BY received_at DESC LIMIT 100",
        vec![user_id.into()],
    ))
    .all(c)
    .await
}

/// Remembers a line refunded in full (whether or not its holdings are known yet).
pub async fn remember_refunded_line(
    c: &impl ConnectionTrait,
    order_item_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "INSERT INTO refunded_lines (order_item_id, refunded_at) VALUES ($1, $2)
         ON CONFLICT DO NOTHING",
        vec![order_item_id.into(), at.into()],
    ))
    .await?;
    Ok(())
}
