//! Transactional outbox: events are rows written in the same transaction as the state change
//! they describe, and a relay moves them to JetStream.

use crate::{Bus, BusError};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use events::{Envelope, Event};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult, Statement, TransactionTrait,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use uuid::Uuid;

/// DDL for the outbox and inbox tables; every service's first migration runs it.
pub const MIGRATION_SQL: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS outbox (
        seq          BIGSERIAL PRIMARY KEY,
        event_id     UUID NOT NULL UNIQUE,
        subject      TEXT NOT NULL,
        event_type   TEXT NOT NULL,
        source       TEXT NOT NULL,
        occurred_at  TIMESTAMPTZ NOT NULL,
        traceparent  TEXT,
        payload      BYTEA NOT NULL,
        published_at TIMESTAMPTZ,
        attempts     INT NOT NULL DEFAULT 0,
        last_error   TEXT
    )",
    "CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (seq) WHERE published_at IS NULL",
    HORIZON_SQL[0],
    HORIZON_SQL[1],
    HORIZON_SQL[2],
    HORIZON_SQL[3],
    "CREATE TABLE IF NOT EXISTS inbox (
        consumer    TEXT NOT NULL,
        event_id    UUID NOT NULL,
        event_type  TEXT NOT NULL,
        received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, event_id)
    )",
];

/// The transaction that wrote each row, and an index of the unpublished rows by it: the relay
/// reads only rows written since its last complete pass began (see [`OutboxRelay`]), instead of
/// walking every index entry a published row leaves behind until a vacuum removes it. Part of
/// [`MIGRATION_SQL`]; a schema made before it runs these in a migration of its own, in one
/// transaction: the column is added without a default and the default set after, so a week of
/// retained rows is not rewritten under an exclusive lock, and the rows still unsent are marked
/// as written by the migration (sent rows keep NULL: only a replay, which marks them, sends
/// them again).
pub const HORIZON_SQL: [&str; 4] = [
    "ALTER TABLE outbox ADD COLUMN IF NOT EXISTS written_xid xid8",
    "ALTER TABLE outbox ALTER COLUMN written_xid SET DEFAULT pg_current_xact_id()",
    "UPDATE outbox SET written_xid = pg_current_xact_id()
     WHERE published_at IS NULL AND written_xid IS NULL",
    "CREATE INDEX IF NOT EXISTS outbox_unpublished_xid ON outbox (written_xid) WHERE published_at IS NULL",
];

fn pg(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(sea_orm::DatabaseBackend::Postgres, sql, values)
}

/// Writes `event` to the outbox through `conn`, which should be the transaction that also writes
/// the state change. The trace context of the current span travels with it.
pub async fn enqueue<E: Event>(
    conn: &impl ConnectionTrait,
    source: &str,
    subject: &str,
    event: &E,
) -> Result<Uuid, DbErr> {
    let env = Envelope::new(
        E::TYPE,
        source,
        // The event's time is when it was written, read through the kernel's clock seam.
        kernel::Clock::now(&kernel::SystemClock),
        telemetry::current_traceparent(),
    );
    conn.execute_raw(pg(
        "INSERT INTO outbox (event_id, subject, event_type, source, occurred_at, traceparent, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        vec![
            env.id.into(),
            subject.into(),
            env.event_type.clone().into(),
            env.source.clone().into(),
            env.time.into(),
            env.traceparent.clone().into(),
            event.encode_to_vec().into(),
        ],
    ))
    .await?;
    crate::inbox::note_enqueued();
    Ok(env.id)
}

/// One pass's read: whether this relay leads, its snapshot's horizon, and an unsent row (none
/// when nothing waits or another relay leads).
#[derive(Debug, FromQueryResult)]
struct OutboxRow {
    leading: bool,
    horizon: String,
    seq: Option<i64>,
    event_id: Option<Uuid>,
    subject: Option<String>,
    event_type: Option<String>,
    source: Option<String>,
    occurred_at: Option<DateTime<Utc>>,
    traceparent: Option<String>,
    payload: Option<Vec<u8>>,
}

/// Marks rows `from..=to` unsent so the relay publishes them again (operator replay). Consumers
/// are idempotent, so a replay only fills gaps. The rows count as written by this transaction,
/// so they are past every relay's horizon.
pub async fn replay(conn: &impl ConnectionTrait, from_seq: i64, to_seq: i64) -> Result<u64, DbErr> {
    let r = conn
        .execute_raw(pg(
            "UPDATE outbox SET published_at = NULL, written_xid = pg_current_xact_id()
             WHERE seq BETWEEN $1 AND $2",
            vec![from_seq.into(), to_seq.into()],
        ))
        .await?;
    Ok(r.rows_affected())
}

/// Rows not yet acknowledged by JetStream.
pub async fn pending(conn: &impl ConnectionTrait) -> Result<i64, DbErr> {
    #[derive(FromQueryResult)]
    struct Count {
        n: i64,
    }
    let c = Count::find_by_statement(pg(
        "SELECT count(*) AS n FROM outbox WHERE published_at IS NULL",
        vec![],
    ))
    .one(conn)
    .await?;
    Ok(c.map(|c| c.n).unwrap_or(0))
}

/// The oldest transaction whose rows a relay's next pass reads (0: every row).
#[derive(Debug, Default, Clone, Copy)]
pub struct Horizon(u64);

/// A row to send.
struct Unsent {
    seq: i64,
    event_id: Uuid,
    subject: String,
    event_type: String,
    source: String,
    occurred_at: DateTime<Utc>,
    traceparent: Option<String>,
    payload: Vec<u8>,
}

impl TryFrom<OutboxRow> for Unsent {
    type Error = BusError;

    /// A read row with a column missing is corrupt: every column read is `NOT NULL`.
    fn try_from(r: OutboxRow) -> Result<Self, BusError> {
        let OutboxRow {
            seq,
            event_id,
            subject,
            event_type,
            source,
            occurred_at,
            traceparent,
            payload,
            ..
        } = r;
        let missing = || BusError::Db(DbErr::Custom(format!("outbox row {seq:?} incomplete")));
        Ok(Unsent {
            seq: seq.ok_or_else(missing)?,
            event_id: event_id.ok_or_else(missing)?,
            subject: subject.ok_or_else(missing)?,
            event_type: event_type.ok_or_else(missing)?,
            source: source.ok_or_else(missing)?,
            occurred_at: occurred_at.ok_or_else(missing)?,
            traceparent,
            payload: payload.ok_or_else(missing)?,
        })
    }
}

/// Publishes a service's outbox. One relay per schema holds the advisory lock at a time, so rows
/// leave in `seq` order even with several replicas.
///
/// Each pass reads only rows written by transactions at or after its horizon: the oldest
/// transaction still running when its last complete pass took its snapshot. Every row committed
/// before that was visible to that pass and sent by it (a pass that stopped short, at a failure
/// or a full batch, leaves the horizon where it was), and every row committed since was written
/// by a transaction at or after it. So nothing is missed, a row whose transaction commits after
/// later rows were sent included, and a pass does not walk the index entries that sent rows
/// leave behind until a vacuum removes them (at 90 purchases/s, thousands within a minute).
#[derive(Clone)]
pub struct OutboxRelay {
    db: DatabaseConnection,
    bus: Bus,
    batch: u64,
    poll: Duration,
    retention: Duration,
    wake: Arc<Notify>,
}

impl OutboxRelay {
    pub fn new(db: DatabaseConnection, bus: Bus, poll: Duration, retention: Duration) -> Self {
        OutboxRelay {
            db,
            bus,
            batch: 256,
            poll,
            retention,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Lets a writer nudge the relay right after its commit instead of waiting for the next poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Runs until `shutdown` turns true: publish, back off on failure (100 ms doubling to 10 s),
    /// prune rows older than the retention period once an hour.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(100);
        let mut streams_ready = false;
        let mut last_prune = std::time::Instant::now();
        let mut horizon = Horizon::default();
        loop {
            if *shutdown.borrow() {
                return;
            }
            if !streams_ready {
                streams_ready = self.bus.ensure_streams().await.is_ok();
            }
            let wait = match self.publish_batch(&mut horizon).await {
                Ok(n) => {
                    backoff = Duration::from_millis(100);
                    if n as u64 >= self.batch {
                        Duration::ZERO
                    } else {
                        self.poll
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "outbox publish failed");
                    streams_ready = false;
                    let w = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    w
                }
            };
            if last_prune.elapsed() > Duration::from_secs(3600) {
                last_prune = std::time::Instant::now();
                if let Err(e) = self.prune().await {
                    tracing::warn!(error = %e, "outbox prune failed");
                }
            }
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Publishes up to one batch of unsent rows. Returns how many were acknowledged.
    pub async fn publish_batch(&self, horizon: &mut Horizon) -> Result<usize, BusError> {
        let txn = self.db.begin().await?;
        // One relay at a time per schema keeps the stream in commit order: the transaction-scoped
        // advisory lock is taken by the statement that reads the batch (one round trip), which
        // also reads its snapshot's horizon; when another relay holds the lock, nothing is read.
        // `seq + 0` keeps the planner on the index by transaction, sorting the few rows it finds.
        let read = OutboxRow::find_by_statement(pg(
            "WITH pass AS MATERIALIZED (
                 SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.outbox')) AS leading,
                        pg_snapshot_xmin(pg_current_snapshot())::text AS horizon)
             SELECT pass.leading, pass.horizon, o.*
             FROM pass LEFT JOIN LATERAL (
                 SELECT seq, event_id, subject, event_type, source, occurred_at, traceparent, payload
                 FROM outbox
                 WHERE pass.leading AND published_at IS NULL AND written_xid >= $2::text::xid8
                 ORDER BY seq + 0 LIMIT $1) o ON true",
            vec![(self.batch as i64).into(), horizon.0.to_string().into()],
        ))
        .all(&txn)
        .await?;
        let Some(first) = read.first() else {
            return Err(BusError::Db(DbErr::Custom(
                "the outbox read returned nothing".into(),
            )));
        };
        if !first.leading {
            return Ok(0);
        }
        let next: u64 = first.horizon.parse().map_err(|e| {
            BusError::Db(DbErr::Custom(format!("horizon `{}`: {e}", first.horizon)))
        })?;
        // No `seq`: the pass's own line when nothing waits (the lateral join found no row).
        let rows: Vec<Unsent> = read
            .into_iter()
            .filter(|r| r.seq.is_some())
            .map(Unsent::try_from)
            .collect::<Result<_, _>>()?;
        if rows.is_empty() {
            txn.rollback().await?;
            horizon.0 = next;
            return Ok(0);
        }
        // Send the whole batch, then await the acks in order; stop marking at the first failure.
        let mut acks = Vec::with_capacity(rows.len());
        let mut failure: Option<String> = None;
        for row in &rows {
            let env = Envelope {
                id: row.event_id,
                event_type: row.event_type.clone(),
                source: row.source.clone(),
                time: row.occurred_at,
                traceparent: row.traceparent.clone(),
            };
            match self
                .bus
                .jetstream()
                .publish_with_headers(
                    self.bus.subject(&row.subject),
                    env.to_headers(),
                    Bytes::from(row.payload.clone()),
                )
                .await
            {
                Ok(ack) => acks.push((row.seq, ack)),
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        let mut sent: Vec<i64> = Vec::with_capacity(acks.len());
        let mut failed_seq = None;
        for (seq, ack) in acks {
            if failure.is_some() {
                break;
            }
            match ack.await {
                Ok(_) => sent.push(seq),
                Err(e) => {
                    failure = Some(e.to_string());
                    failed_seq = Some(seq);
                }
            }
        }
        if !sent.is_empty() {
            // The range bounds the scan to the batch through the primary key whatever plan the
            // connection cached (`seq = ANY($1)` alone was planned as a scan of every retained row).
            let (first, last) = (sent[0], sent[sent.len() - 1]);
            txn.execute_raw(pg(
                "UPDATE outbox SET published_at = now() WHERE seq BETWEEN $2 AND $3 AND seq = ANY($1)",
                vec![sent.clone().into(), first.into(), last.into()],
            ))
            .await?;
            metrics::counter!("outbox_published_total").increment(sent.len() as u64);
        }
        if let Some(err) = &failure {
            let seq = failed_seq
                .unwrap_or_else(|| rows.get(sent.len()).map(|r| r.seq).unwrap_or_default());
            txn.execute_raw(pg(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE seq = $1",
                vec![seq.into(), err.clone().into()],
            ))
            .await?;
        }
        txn.commit().await?;
        match failure {
            Some(e) => Err(BusError::Nats(e)),
            None => {
                if (rows.len() as u64) < self.batch {
                    horizon.0 = next;
                }
                Ok(sent.len())
            }
        }
    }

    async fn prune(&self) -> Result<u64, DbErr> {
        let secs = self.retention.as_secs() as i64;
        let r = self
            .db
            .execute_raw(pg(
                "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)",
                vec![(secs as f64).into()],
            ))
            .await?;
        Ok(r.rows_affected())
    }
}
