//! Durable outbound delivery to systems we do not control (the LMS today; the Payout Platform and
//! email providers next): a table of requests claimed by lease, sent with no lock held, retried
//! with exponential backoff, parked after a limit, and redriven by an operator.
//!
//! ```text
//!  schedule ──▶ pending ──claim (lease, SKIP LOCKED)──▶ send ── Delivered ──▶ delivered
//!                  ▲  │ Retry: attempts+1, next = base·2^attempts (≤ cap)
//!                  │  └─ attempts = max, or Permanent ──▶ failed ── redrive ──┘
//! ```
//!
//! Each row carries one idempotency id sent with every attempt, so the receiver can de-duplicate
//! a request whose answer we lost. A worker that dies mid-send leaves the row to come back when
//! its lease ends.
//!
//! The table's shape, for any service ([`OutboundTable::create_sql`]): a key column (the row's
//! owner, e.g. `registration_id`), `idempotency_id`, `status`, `attempts`, `next_attempt_at`,
//! `last_error`, a result column (what the receiver answered, e.g. an enrollment id),
//! `delivered_at`, `updated_at`.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult, Statement, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tracing::Instrument;
use uuid::Uuid;

/// Where a service keeps its outbound requests. Names are compile-time constants, never input.
#[derive(Debug, Clone, Copy)]
pub struct OutboundTable {
    pub table: &'static str,
    /// The primary key, one request per owner row.
    pub key: &'static str,
    /// Where a receiver's answer (an id it assigned) is kept.
    pub result: &'static str,
}

/// The numbers of a delivery policy, named.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts before a request is parked as failed.
    pub max_attempts: u32,
    /// The first retry delay; each further one doubles.
    pub base: Duration,
    /// No retry waits longer than this.
    pub cap: Duration,
    /// How long a claim keeps other workers away: longer than one send can take.
    pub lease: Duration,
    /// Requests claimed per pass (sent concurrently).
    pub batch: u64,
    /// The idle poll when nothing wakes the worker.
    pub idle: Duration,
}

/// One request of an HTTP connector may take this long before it counts as failed.
pub const CONNECTOR_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECTOR_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The HTTP client of a connector: each request bounded by [`CONNECTOR_TIMEOUT`].
pub fn connector_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(CONNECTOR_TIMEOUT)
        .connect_timeout(CONNECTOR_CONNECT_TIMEOUT)
        .build()
}

impl RetryPolicy {
    /// The policy of an HTTP connector (the LMS, the Payout Platform): parked after
    /// `max_attempts`, retries from `base` doubling up to 5 minutes, a claim that outlives three
    /// request timeouts (a worker that died mid-call is retried), 16 requests sent at once, and
    /// asleep at most 1 s when nothing wakes the worker.
    pub fn connector(max_attempts: u32, base: Duration) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base,
            cap: Duration::from_secs(300),
            lease: CONNECTOR_TIMEOUT * 3,
            batch: 16,
            idle: Duration::from_secs(1),
        }
    }

    /// The wait after the `attempts`-th failure: `base · 2^attempts`, at most `cap`.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.min(16));
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// Whether a failure at this attempt count parks the request.
    pub fn parks_after(&self, attempts_before: u32) -> bool {
        attempts_before.saturating_add(1) >= self.max_attempts
    }
}

/// A request claimed for sending.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Due {
    pub key: Uuid,
    pub idempotency_id: Uuid,
    pub attempts: i32,
    /// The trace of the work that scheduled the request: its sending continues it.
    pub traceparent: Option<String>,
}

/// How one attempt went, as the sender classifies the receiver's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Accepted; with the receiver's id for it, if any.
    Delivered(Option<String>),
    /// Worth retrying (unreachable, timeout, 5xx, 429).
    Retry(String),
    /// Never going to succeed as sent (4xx, refused): park it at once.
    Permanent(String),
    /// Not sendable yet (it must follow another request that is still on its way): tried again
    /// after the base delay, without counting an attempt.
    Wait(String),
}

/// A receiver's non-2xx answer as an attempt: 408, 429 and 5xx are worth retrying; any other
/// refusal would be refused again (parked for an operator).
pub fn refused(status: u16, body: &str) -> Attempt {
    if status == 408 || status == 429 || (500..600).contains(&status) {
        Attempt::Retry(format!("status {status}"))
    } else {
        Attempt::Permanent(format!("status {status}: {body}"))
    }
}

/// Sends one HTTP request to a receiver and classifies the answer, the same for every
/// connector: unreachable or a timeout is retried, a 2xx body is judged by `accept`, anything
/// else by [`refused`].
pub async fn send_http(
    req: reqwest::RequestBuilder,
    accept: impl FnOnce(&[u8]) -> Attempt,
) -> Attempt {
    match req.send().await {
        Err(e) => Attempt::Retry(format!("unreachable: {e}")),
        Ok(resp) => {
            let status = resp.status();
            match resp.bytes().await {
                Err(e) if status.is_success() => Attempt::Retry(format!("unreadable answer: {e}")),
                Ok(body) if status.is_success() => accept(&body),
                body => {
                    let text = body
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_else(|e| format!("(unreadable body: {e})"));
                    refused(status.as_u16(), &text)
                }
            }
        }
    }
}

/// Sends one due request. Implemented by each connector (the LMS client, …).
pub trait Sender: Send + Sync + 'static {
    /// A short name for logs and metrics (`lms`).
    fn name(&self) -> &'static str;
    fn send<'a>(&'a self, due: &'a Due) -> BoxFuture<'a, Attempt>;
}

fn stmt(sql: String, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(sea_orm::DatabaseBackend::Postgres, sql, values)
}

impl OutboundTable {
    /// The DDL of a table of this shape; `owner` is the referenced table, if any.
    pub fn create_sql(&self, owner: Option<&str>) -> Vec<String> {
        let (t, k, r) = (self.table, self.key, self.result);
        let reference = owner
            .map(|o| format!(" REFERENCES {o} (id)"))
            .unwrap_or_default();
        vec![
            format!(
                "CREATE TABLE {t} (
                    {k}              UUID PRIMARY KEY{reference},
                    idempotency_id   UUID NOT NULL UNIQUE,
                    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
                    attempts         INT NOT NULL DEFAULT 0,
                    next_attempt_at  TIMESTAMPTZ NOT NULL,
                    last_error       TEXT,
                    {r}              TEXT,
                    delivered_at     TIMESTAMPTZ,
                    updated_at       TIMESTAMPTZ NOT NULL,
                    traceparent      TEXT
                )"
            ),
            format!("CREATE INDEX {t}_due ON {t} (next_attempt_at) WHERE status = 'pending'"),
            self.observability_sql()[0].clone(),
        ]
    }

    /// What tables made before them get from a later migration of their service: the index
    /// behind the count of parked requests (`outbound_parked`), and the trace each request
    /// continues when it is sent.
    pub fn observability_sql(&self) -> [String; 2] {
        let t = self.table;
        [
            format!(
                "CREATE INDEX IF NOT EXISTS {t}_parked ON {t} (updated_at) WHERE status = 'failed'"
            ),
            format!("ALTER TABLE {t} ADD COLUMN IF NOT EXISTS traceparent TEXT"),
        ]
    }

    /// Schedules the request of `key` (once: a second call changes nothing), in the trace of the
    /// current span.
    pub async fn schedule(
        &self,
        c: &impl ConnectionTrait,
        key: Uuid,
        idempotency_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        c.execute_raw(stmt(
            format!(
                "INSERT INTO {} ({}, idempotency_id, status, next_attempt_at, updated_at, traceparent)
                 VALUES ($1, $2, 'pending', $3, $3, $4) ON CONFLICT DO NOTHING",
                self.table, self.key
            ),
            vec![
                key.into(),
                idempotency_id.into(),
                now.into(),
                telemetry::current_traceparent().into(),
            ],
        ))
        .await?;
        Ok(())
    }

    /// Claims up to `limit` due requests until `now + lease`: their next attempt moves past the
    /// lease, so other workers skip them, and no lock is held while they are sent.
    pub async fn claim_due(
        &self,
        c: &impl ConnectionTrait,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: u64,
    ) -> Result<Vec<Due>, DbErr> {
        let (t, k) = (self.table, self.key);
        let limit = i64::try_from(limit).map_err(|e| DbErr::Custom(e.to_string()))?;
        Due::find_by_statement(stmt(
            format!(
                "UPDATE {t} SET next_attempt_at = $2, updated_at = $1
                 WHERE {k} IN (
                     SELECT {k} FROM {t} WHERE status = 'pending' AND next_attempt_at <= $1
                     ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
                 RETURNING {k} AS key, idempotency_id, attempts, traceparent"
            ),
            vec![now.into(), (now + lease).into(), limit.into()],
        ))
        .all(c)
        .await
    }

    /// When the next pending request falls due, if any.
    pub async fn next_due(&self, c: &impl ConnectionTrait) -> Result<Option<DateTime<Utc>>, DbErr> {
        #[derive(FromQueryResult)]
        struct Next {
            at: Option<DateTime<Utc>>,
        }
        Ok(Next::find_by_statement(stmt(
            format!(
                "SELECT min(next_attempt_at) AS at FROM {} WHERE status = 'pending'",
                self.table
            ),
            vec![],
        ))
        .one(c)
        .await?
        .and_then(|n| n.at))
    }

    /// Records a failed attempt: retried at `next`, or parked when `park`.
    pub async fn attempt_failed(
        &self,
        c: &impl ConnectionTrait,
        key: Uuid,
        error: &str,
        park: bool,
        next: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        c.execute_raw(stmt(
            format!(
                "UPDATE {} SET attempts = attempts + 1, last_error = $2,
                     status = CASE WHEN $3 THEN 'failed' ELSE status END,
                     next_attempt_at = $4, updated_at = $5
                 WHERE {} = $1 AND status <> 'delivered'",
                self.table, self.key
            ),
            vec![
                key.into(),
                error.into(),
                park.into(),
                next.into(),
                now.into(),
            ],
        ))
        .await?;
        Ok(())
    }

    /// Puts a request back without counting an attempt; it is tried again at `next`.
    pub async fn deferred(
        &self,
        c: &impl ConnectionTrait,
        key: Uuid,
        why: &str,
        next: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        c.execute_raw(stmt(
            format!(
                "UPDATE {} SET last_error = $2, next_attempt_at = $3, updated_at = $4
                 WHERE {} = $1 AND status = 'pending'",
                self.table, self.key
            ),
            vec![key.into(), why.into(), next.into(), now.into()],
        ))
        .await?;
        Ok(())
    }

    /// Marks a request delivered (by its answer, or because the receiver's callback came first);
    /// `counts_attempt` adds the attempt that got the answer.
    pub async fn delivered(
        &self,
        c: &impl ConnectionTrait,
        key: Uuid,
        result: Option<&str>,
        counts_attempt: bool,
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        c.execute_raw(stmt(
            format!(
                "UPDATE {t} SET status = 'delivered', delivered_at = COALESCE(delivered_at, $2),
                     updated_at = $2, {r} = COALESCE($3, {r}),
                     attempts = attempts + CASE WHEN $4 THEN 1 ELSE 0 END
                 WHERE {k} = $1 AND (status <> 'delivered' OR $4)",
                t = self.table,
                r = self.result,
                k = self.key
            ),
            vec![
                key.into(),
                now.into(),
                result.map(str::to_string).into(),
                counts_attempt.into(),
            ],
        ))
        .await?;
        Ok(())
    }

    /// A parked request back to pending with its attempts reset; false unless it was parked.
    pub async fn redrive(
        &self,
        c: &impl ConnectionTrait,
        key: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, DbErr> {
        Ok(c.execute_raw(stmt(
            format!(
                "UPDATE {} SET status = 'pending', attempts = 0, next_attempt_at = $2,
                         last_error = NULL, updated_at = $2
                     WHERE {} = $1 AND status = 'failed'",
                self.table, self.key
            ),
            vec![key.into(), now.into()],
        ))
        .await?
        .rows_affected()
            == 1)
    }
}

/// Sends due requests until `shutdown`; `wake` is nudged when one is scheduled. Up to
/// `policy.batch` requests are in flight at once, each outcome is recorded as soon as its own
/// send ends, and a request scheduled meanwhile is claimed at once: it does not wait for the
/// slowest send of the requests claimed before it.
pub async fn run_worker(
    db: DatabaseConnection,
    table: OutboundTable,
    sender: Arc<dyn Sender>,
    policy: RetryPolicy,
    clock: Arc<dyn kernel::Clock>,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    // The earliest retry this worker knows of: what its own sends recorded, or what the table
    // said when a look found nothing due.
    let mut soonest: Option<DateTime<Utc>> = None;
    // Whether something may be due: after a wake, a timer, or a claim that filled the room.
    let mut look = true;
    // Each send is a task of its own: a send holding a pooled connection to record its outcome
    // must not wait for this loop (waiting for a connection to claim more) to poll it.
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        let room = policy
            .batch
            .saturating_sub(u64::try_from(in_flight.len()).unwrap_or(u64::MAX));
        if look && room > 0 {
            look = false;
            match claim(&db, &table, &policy, clock.as_ref(), room).await {
                Ok(due) => {
                    if due.is_empty() {
                        // Nothing due: learn when something will be (another worker's retries,
                        // a lease that runs out).
                        soonest = table.next_due(&db).await.ok().flatten();
                    }
                    look = due.len() as u64 >= room;
                    for d in due {
                        in_flight.spawn(deliver(
                            db.clone(),
                            table,
                            sender.clone(),
                            policy,
                            clock.clone(),
                            d,
                        ));
                    }
                }
                Err(e) => {
                    tracing::warn!(sender = sender.name(), error = %e, "outbound claim failed");
                }
            }
        }
        // Asleep until the next retry falls due (at most `idle`), a send ends or a new request
        // wakes it.
        let until_due = soonest
            .map(|at| (at - clock.now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(policy.idle);
        tokio::select! {
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                match done {
                    Ok(Ok(retry)) => soonest = soonest.into_iter().chain(retry).min(),
                    Ok(Err(e)) => {
                        tracing::warn!(sender = sender.name(), error = %e, "outbound outcome not recorded");
                    }
                    Err(e) => {
                        tracing::error!(sender = sender.name(), error = %e, "outbound send ended abnormally");
                    }
                }
            }
            _ = tokio::time::sleep(until_due.min(policy.idle)) => look = true,
            _ = wake.notified() => look = true,
            _ = shutdown.changed() => {
                // What was sent is recorded before the worker ends.
                while in_flight.join_next().await.is_some() {}
                return;
            }
        }
    }
}

/// Claims up to `room` due requests under a lease.
async fn claim(
    db: &DatabaseConnection,
    table: &OutboundTable,
    policy: &RetryPolicy,
    clock: &dyn kernel::Clock,
    room: u64,
) -> Result<Vec<Due>, DbErr> {
    let lease =
        chrono::Duration::from_std(policy.lease).map_err(|e| DbErr::Custom(e.to_string()))?;
    table.claim_due(db, clock.now(), lease, room).await
}

/// Sends one claimed request and records its outcome. Returns when it is to be tried again, if
/// it is.
async fn deliver(
    db: DatabaseConnection,
    table: OutboundTable,
    sender: Arc<dyn Sender>,
    policy: RetryPolicy,
    clock: Arc<dyn kernel::Clock>,
    d: Due,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let db = &db;
    let name = sender.name();
    // Each request is sent in a span of the trace that scheduled it (the sender passes the
    // context on in its `traceparent` header).
    let span =
        tracing::info_span!("deliver", sender = name, key = %d.key, attempt = d.attempts + 1);
    if let Some(tp) = &d.traceparent {
        telemetry::continue_trace(&span, tp);
    }
    let outcome = sender.send(&d).instrument(span).await;
    let now = clock.now();
    let attempts = u32::try_from(d.attempts).unwrap_or(u32::MAX);
    match outcome {
        Attempt::Delivered(result) => {
            table
                .delivered(db, d.key, result.as_deref(), true, now)
                .await?;
            metrics::counter!("outbound_requests_total", "sender" => name, "outcome" => "delivered")
                .increment(1);
            Ok(None)
        }
        Attempt::Retry(e) => {
            let park = policy.parks_after(attempts);
            let wait = chrono::Duration::from_std(policy.backoff(attempts))
                .map_err(|e| DbErr::Custom(e.to_string()))?;
            if park {
                tracing::error!(sender = name, key = %d.key, error = %e, "outbound request parked after the retry limit");
            } else {
                tracing::warn!(sender = name, key = %d.key, error = %e, "outbound request failed; will retry");
            }
            table
                .attempt_failed(db, d.key, &e, park, now + wait, now)
                .await?;
            let outcome = if park { "parked" } else { "retry" };
            metrics::counter!("outbound_requests_total", "sender" => name, "outcome" => outcome)
                .increment(1);
            Ok((!park).then_some(now + wait))
        }
        Attempt::Wait(why) => {
            let next = chrono::Duration::from_std(policy.base)
                .map_err(|e| DbErr::Custom(e.to_string()))?;
            table.deferred(db, d.key, &why, now + next, now).await?;
            metrics::counter!("outbound_requests_total", "sender" => name, "outcome" => "waiting")
                .increment(1);
            Ok(Some(now + next))
        }
        Attempt::Permanent(e) => {
            tracing::error!(sender = name, key = %d.key, error = %e, "outbound request refused; parked");
            table.attempt_failed(db, d.key, &e, true, now, now).await?;
            metrics::counter!("outbound_requests_total", "sender" => name, "outcome" => "parked")
                .increment(1);
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(300),
            lease: Duration::from_secs(30),
            batch: 16,
            idle: Duration::from_millis(100),
        }
    }

    #[test]
    fn backs_off_exponentially_up_to_the_cap_and_parks_at_the_limit() {
        let p = policy();
        assert_eq!(p.backoff(0), Duration::from_millis(500));
        assert_eq!(p.backoff(1), Duration::from_secs(1));
        assert_eq!(p.backoff(3), Duration::from_secs(4));
        assert_eq!(p.backoff(40), Duration::from_secs(300));
        assert!(!p.parks_after(0));
        assert!(!p.parks_after(1));
        assert!(p.parks_after(2));
    }
}
