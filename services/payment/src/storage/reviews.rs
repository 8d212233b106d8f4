//! The velocity check's review queue: declined attempts per learner within a window, and the
//! open review that holds their further attempts until a billing-admin clears it.

use chrono::{DateTime, Utc};
use db::stmt as pg;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

#[derive(Debug, Clone, FromQueryResult, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewRow {
    pub id: Uuid,
    pub user_id: String,
    pub reason: String,
    /// Declined attempts counted when the hold began.
    pub declines: i64,
    /// `open` (attempts on hold) or `cleared`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub cleared_by: Option<String>,
    pub cleared_at: Option<DateTime<Utc>>,
}

const COLS: &str = "id, user_id, reason, declines, status, created_at, cleared_by, cleared_at";

pub async fn review(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<ReviewRow>, DbErr> {
    ReviewRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM payment_reviews WHERE id = $1"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

/// A learner's standing for the velocity check, in one statement: whether a review holds them,
/// and their declined attempts since `since` (none before their last cleared review count).
#[derive(Debug, Clone, Copy, FromQueryResult)]
pub struct Standing {
    pub held: bool,
    pub declines: i64,
}

pub async fn standing(
    c: &impl ConnectionTrait,
    user: &str,
    since: DateTime<Utc>,
) -> Result<Standing, DbErr> {
    Standing::find_by_statement(pg(
        "SELECT EXISTS (SELECT 1 FROM payment_reviews WHERE user_id = $1 AND status = 'open') AS held,
                (SELECT count(*) FROM payment_audit a JOIN payments p ON p.id = a.payment_id
                 WHERE p.user_id = $1 AND a.action = 'declined'
                   AND a.at > GREATEST($2, COALESCE((SELECT max(cleared_at) FROM payment_reviews
                                                     WHERE user_id = $1 AND status = 'cleared'), $2))
                ) AS declines",
        vec![user.into(), since.into()],
    ))
    .one(c)
    .await?
    .ok_or(DbErr::RecordNotFound("velocity standing".into()))
}

/// Opens the learner's review (or finds the one a concurrent attempt opened).
pub async fn open(
    c: &impl ConnectionTrait,
    user: &str,
    declines: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "INSERT INTO payment_reviews (id, user_id, reason, declines, status, created_at)
         VALUES ($1, $2, $3, $4, 'open', $5) ON CONFLICT DO NOTHING",
        vec![
            kernel::new_id().into(),
            user.into(),
            reason.into(),
            declines.into(),
            now.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Clears an open review, once; `None` when it is not open.
pub async fn clear(
    c: &impl ConnectionTrait,
    id: Uuid,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<ReviewRow>, DbErr> {
    ReviewRow::find_by_statement(pg(
        &format!(
            "UPDATE payment_reviews SET status = 'cleared', cleared_by = $2, cleared_at = $3
             WHERE id = $1 AND status = 'open' RETURNING {COLS}"
        ),
        vec![id.into(), by.into(), now.into()],
    ))
    .one(c)
    .await
}

/// Reviews newest first, of one status when given.
pub async fn list(
    c: &impl ConnectionTrait,
    status: Option<&str>,
    cursor: Option<Uuid>,
    limit: u64,
) -> Result<Vec<ReviewRow>, DbErr> {
    let mut w = db::Filters::new();
    w.add_opt("status = ?", status.map(str::to_string))
        .add_opt("id < ?", cursor);
    ReviewRow::find_by_statement(w.query(
        &format!("{COLS} FROM payment_reviews"),
        "ORDER BY id DESC",
        limit + 1,
    ))
    .all(c)
    .await
}
