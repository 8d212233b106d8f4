//! Registrations as their events tell them, for the reports' enrollment and learner counts.

use chrono::{DateTime, Utc};
use db::stmt as pg;
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

pub struct Change<'a> {
    pub registration_id: Uuid,
    pub user_id: &'a str,
    pub course_id: Uuid,
    pub department_id: &'a str,
    pub status: &'a str,
    pub at: DateTime<Utc>,
}

/// Applies a registration's change. Its enrollment time is kept from the first `enrolled`; a
/// cancellation is kept once made; an older change never overwrites a newer one.
pub async fn apply(c: &impl ConnectionTrait, ch: &Change<'_>) -> Result<(), DbErr> {
    let enrolled = (ch.status == "enrolled").then_some(ch.at);
    let cancelled = (ch.status == "cancelled").then_some(ch.at);
    c.execute_raw(pg(
        "INSERT INTO enrollments (registration_id, user_id, course_id, department_id, status, enrolled_at,
             cancelled_at, changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (registration_id) DO UPDATE SET
             enrolled_at = COALESCE(enrollments.enrolled_at, EXCLUDED.enrolled_at),
             cancelled_at = COALESCE(enrollments.cancelled_at, EXCLUDED.cancelled_at),
             status = CASE WHEN EXCLUDED.changed_at >= enrollments.changed_at
                           THEN EXCLUDED.status ELSE enrollments.status END,
             changed_at = GREATEST(enrollments.changed_at, EXCLUDED.changed_at)",
        vec![
            ch.registration_id.into(),
            ch.user_id.into(),
            ch.course_id.into(),
            ch.department_id.into(),
            ch.status.into(),
            enrolled.into(),
            cancelled.into(),
            ch.at.into(),
        ],
    ))
    .await?;
    Ok(())
}
