//! The velocity check's review queue: declined attempts within a window per learner, per card
//! fingerprint and per client address, and the open review that holds further attempts until a
//! billing-admin clears it. A held card holds every learner who was declined with it in the
//! window (its fingerprint is known only once a processor has seen it).

use chrono::{DateTime, Utc};
use db::stmt as pg;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

#[derive(Debug, Clone, FromQueryResult, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewRow {
    pub id: Uuid,
    /// What is held: `learner`, `card` (a fingerprint) or `ip` (a client address).
    pub kind: String,
    /// The learner id, the card fingerprint or the address.
    pub subject: String,
    /// The learner whose attempt tripped the check.
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

const COLS: &str =
    "id, kind, subject, user_id, reason, declines, status, created_at, cleared_by, cleared_at";

pub async fn review(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<ReviewRow>, DbErr> {
    ReviewRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM payment_reviews WHERE id = $1"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

/// What the velocity check holds or counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Learner,
    Card,
    Ip,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Learner => "learner",
            Subject::Card => "card",
            Subject::Ip => "ip",
        }
    }
}

/// A learner's standing for the velocity check, in one statement: whether a review holds them
/// (as a learner, by their address, or by a card they were declined with), and the declines
/// since `since` per learner, per address and for their worst card (none before the last
/// cleared review of that subject count).
#[derive(Debug, Clone, FromQueryResult)]
pub struct Standing {
    pub held: bool,
    pub learner_declines: i64,
    pub ip_declines: i64,
    pub card: Option<String>,
    pub card_declines: i64,
}

pub async fn standing(
    c: &impl ConnectionTrait,
    user: &str,
    ip: Option<&str>,
    since: DateTime<Utc>,
) -> Result<Standing, DbErr> {
    Standing::find_by_statement(pg(
        "WITH cards AS (
             SELECT DISTINCT card_fingerprint AS f FROM payment_declines
             WHERE user_id = $1 AND card_fingerprint IS NOT NULL AND at > $3),
         counted AS (
             SELECT c.f, (SELECT count(*) FROM payment_declines d
                          WHERE d.card_fingerprint = c.f
                            AND d.at > GREATEST($3, COALESCE((SELECT max(cleared_at) FROM payment_reviews
                                 WHERE kind = 'card' AND subject = c.f AND status = 'cleared'), $3))) AS n
             FROM cards c)
         SELECT
           EXISTS (SELECT 1 FROM payment_reviews r WHERE r.status = 'open'
                   AND ((r.kind = 'learner' AND r.subject = $1)
                     OR (r.kind = 'ip' AND r.subject = $2)
                     OR (r.kind = 'card' AND r.subject IN (SELECT f FROM cards)))) AS held,
           (SELECT count(*) FROM payment_declines d WHERE d.user_id = $1
              AND d.at > GREATEST($3, COALESCE((SELECT max(cleared_at) FROM payment_reviews
                   WHERE kind = 'learner' AND subject = $1 AND status = 'cleared'), $3))) AS learner_declines,
           (SELECT count(*) FROM payment_declines d WHERE $2::text IS NOT NULL AND d.client_ip = $2
              AND d.at > GREATEST($3, COALESCE((SELECT max(cleared_at) FROM payment_reviews
                   WHERE kind = 'ip' AND subject = $2 AND status = 'cleared'), $3))) AS ip_declines,
           (SELECT f FROM counted ORDER BY n DESC, f LIMIT 1) AS card,
           COALESCE((SELECT max(n) FROM counted), 0) AS card_declines",
        vec![user.into(), ip.map(str::to_string).into(), since.into()],
    ))
    .one(c)
    .await?
    .ok_or(DbErr::RecordNotFound("velocity standing".into()))
}

/// Opens a review of `subject` (or finds the one a concurrent attempt opened); `user` is the
/// learner whose attempt tripped it.
pub async fn open(
    c: &impl ConnectionTrait,
    kind: Subject,
    subject: &str,
    user: &str,
    declines: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "INSERT INTO payment_reviews (id, kind, subject, user_id, reason, declines, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'open', $7) ON CONFLICT DO NOTHING",
        vec![
            kernel::new_id().into(),
            kind.as_str().into(),
            subject.into(),
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
