//! `Idempotency-Key` (IETF draft-ietf-httpapi-idempotency-key-header).
//!
//! - same key + same request → the stored response, replayed (`Idempotent-Replayed: true`);
//! - same key + another request → 422 `idempotency_key_reused`;
//! - same key while the first is still running → 409 `idempotency_key_in_use`;
//! - keys are scoped to the caller, so one caller never sees another's stored response.
//!
//! The response is stored in the same transaction as the business effect, so either both exist
//! or neither does. A failed request releases its key. A key left claimed by a crashed process
//! is taken over after [`STALE_AFTER_SECS`].

use crate::problem::ApiError;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use futures_util::future::{Ready, ready};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, FromQueryResult, Statement,
    TransactionTrait,
};
use sha2::{Digest, Sha256};
use std::future::Future;

pub const HEADER: &str = "Idempotency-Key";
pub const STALE_AFTER_SECS: i64 = 60;

/// DDL for the key store; every service that takes keys runs it in its first migration.
pub const MIGRATION_SQL: &[&str] = &["CREATE TABLE IF NOT EXISTS idempotency_keys (
        caller          TEXT NOT NULL,
        key             TEXT NOT NULL,
        fingerprint     TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('in_progress', 'completed')),
        response_status INT,
        response_body   BYTEA,
        created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
        locked_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (caller, key)
    )"];

/// The header's value, checked: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            ));
        }
        Ok(IdempotencyKey(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Extracts the optional header (a malformed one is a 400).
pub struct MaybeIdempotencyKey(pub Option<IdempotencyKey>);

impl FromRequest for MaybeIdempotencyKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match req.headers().get(HEADER) {
            None => Ok(MaybeIdempotencyKey(None)),
            Some(v) => v
                .to_str()
                .map_err(|_| {
                    ApiError::bad_request("invalid_idempotency_key", "Idempotency-Key is not ASCII")
                })
                .and_then(IdempotencyKey::parse)
                .map(|k| MaybeIdempotencyKey(Some(k))),
        })
    }
}

/// A successful answer: status and JSON body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl Reply {
    pub fn ok(body: impl serde::Serialize) -> Result<Reply, ApiError> {
        Self::with_status(StatusCode::OK, body)
    }
    pub fn created(body: impl serde::Serialize) -> Result<Reply, ApiError> {
        Self::with_status(StatusCode::CREATED, body)
    }
    pub fn with_status(status: StatusCode, body: impl serde::Serialize) -> Result<Reply, ApiError> {
        Ok(Reply {
            status,
            body: serde_json::to_value(body).map_err(ApiError::internal)?,
        })
    }
    pub fn into_response(self) -> HttpResponse {
        HttpResponse::build(self.status).json(self.body)
    }
}

fn pg(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(sea_orm::DatabaseBackend::Postgres, sql, values)
}

/// A fingerprint of what makes two requests "the same": method, path and body.
pub fn fingerprint(req: &HttpRequest, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(req.method().as_str().as_bytes());
    h.update(b" ");
    h.update(req.path().as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

#[derive(FromQueryResult)]
struct Stored {
    fingerprint: String,
    state: String,
    response_status: Option<i32>,
    response_body: Option<Vec<u8>>,
    stale: bool,
}

enum Claim {
    Fresh,
    Replay(HttpResponse),
}

async fn claim(
    db: &DatabaseConnection,
    caller: &str,
    key: &str,
    fp: &str,
) -> Result<Claim, ApiError> {
    let inserted = db
        .execute_raw(pg(
            "INSERT INTO idempotency_keys (caller, key, fingerprint, state) VALUES ($1, $2, $3, 'in_progress')
             ON CONFLICT DO NOTHING",
            vec![caller.into(), key.into(), fp.into()],
        ))
        .await?
        .rows_affected();
    if inserted == 1 {
        return Ok(Claim::Fresh);
    }
    let stored = Stored::find_by_statement(pg(
        &format!(
            "SELECT fingerprint, state, response_status, response_body,
                    locked_at < now() - interval '{STALE_AFTER_SECS} seconds' AS stale
             FROM idempotency_keys WHERE caller = $1 AND key = $2"
        ),
        vec![caller.into(), key.into()],
    ))
    .one(db)
    .await?;
    let Some(stored) = stored else {
        // Released between our insert and select: the caller may retry at once.
        return Err(ApiError::conflict(
            "idempotency_key_in_use",
            "a request with this Idempotency-Key just finished; retry",
        ));
    };
    if stored.fingerprint != fp {
        return Err(ApiError::rule(
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
        ));
    }
    if stored.state == "completed" {
        return Ok(Claim::Replay(replayed(stored)));
    }
    if stored.stale {
        let taken = db
            .execute_raw(pg(
                &format!(
                    "UPDATE idempotency_keys SET locked_at = now()
                     WHERE caller = $1 AND key = $2 AND state = 'in_progress'
                       AND locked_at < now() - interval '{STALE_AFTER_SECS} seconds'"
                ),
                vec![caller.into(), key.into()],
            ))
            .await?
            .rows_affected();
        if taken == 1 {
            return Ok(Claim::Fresh);
        }
    }
    Err(ApiError::conflict(
        "idempotency_key_in_use",
        "a request with this Idempotency-Key is still being processed",
    ))
}

/// The stored response of a completed request with this key, if there is one (a retry answered
/// before any business check runs). A different request under the key is the usual 422.
pub async fn replay(
    db: &DatabaseConnection,
    caller: &str,
    key: &IdempotencyKey,
    fingerprint: &str,
) -> Result<Option<HttpResponse>, ApiError> {
    let stored = Stored::find_by_statement(pg(
        "SELECT fingerprint, state, response_status, response_body, false AS stale
         FROM idempotency_keys WHERE caller = $1 AND key = $2 AND state = 'completed'",
        vec![caller.into(), key.as_str().into()],
    ))
    .one(db)
    .await?;
    let Some(stored) = stored else {
        return Ok(None);
    };
    if stored.fingerprint != fingerprint {
        return Err(ApiError::rule(
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
        ));
    }
    Ok(Some(replayed(stored)))
}

fn replayed(stored: Stored) -> HttpResponse {
    let status = stored
        .response_status
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    HttpResponse::build(status)
        .content_type("application/json")
        .insert_header(("Idempotent-Replayed", "true"))
        .body(stored.response_body.unwrap_or_default())
}

async fn release(db: &DatabaseConnection, caller: &str, key: &str) {
    let r = db
        .execute_raw(pg(
            "DELETE FROM idempotency_keys WHERE caller = $1 AND key = $2 AND state = 'in_progress'",
            vec![caller.into(), key.into()],
        ))
        .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, "cannot release an idempotency key; it goes stale instead");
    }
}

/// Runs `work` in one transaction, honouring `key` when there is one. `work` receives the
/// transaction and gives it back with its reply; the reply is stored in that same transaction.
pub async fn run<F, Fut>(
    db: &DatabaseConnection,
    caller: &str,
    key: Option<&IdempotencyKey>,
    fingerprint: &str,
    work: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(DatabaseTransaction) -> Fut,
    Fut: Future<Output = Result<(DatabaseTransaction, Reply), ApiError>>,
{
    if let Some(k) = key
        && let Claim::Replay(resp) = claim(db, caller, k.as_str(), fingerprint).await?
    {
        return Ok(resp);
    }
    let outcome = async {
        let txn = db.begin().await?;
        let (txn, reply) = work(txn).await?;
        if let Some(k) = key {
            let body = serde_json::to_vec(&reply.body).map_err(ApiError::internal)?;
            txn.execute_raw(pg(
                "UPDATE idempotency_keys SET state = 'completed', response_status = $3, response_body = $4
                 WHERE caller = $1 AND key = $2",
                vec![
                    caller.into(),
                    k.as_str().into(),
                    i32::from(reply.status.as_u16()).into(),
                    body.into(),
                ],
            ))
            .await?;
        }
        txn.commit().await?;
        Ok::<Reply, ApiError>(reply)
    }
    .await;
    match outcome {
        Ok(reply) => Ok(reply.into_response()),
        Err(e) => {
            if let Some(k) = key {
                release(db, caller, k.as_str()).await;
            }
            Err(e)
        }
    }
}

/// Removes keys older than `hours` (the draft and Stripe keep them at least 24 hours).
pub async fn prune(conn: &impl ConnectionTrait, hours: i64) -> Result<u64, sea_orm::DbErr> {
    Ok(conn
        .execute_raw(pg(
            "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)",
            vec![(hours as i32).into()],
        ))
        .await?
        .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_key_format() {
        assert!(IdempotencyKey::parse("abc-123").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse(&"x".repeat(256)).is_err());
    }
}
