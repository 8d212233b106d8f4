//! The event backbone on NATS JetStream, with Postgres as the record.
//!
//! # Layout
//! - [`Bus`]: the connection, the deployment's subject prefix, and the streams declared in code.
//! - [`outbox`]: a service writes its state change and its event in one transaction; the
//!   [`outbox::OutboxRelay`] publishes unsent rows in order, awaits the JetStream ack, marks them
//!   sent, and retries with backoff. Re-publishing a row is harmless: `Nats-Msg-Id` de-duplicates.
//! - [`inbox`]: durable pull consumers with explicit acks; each handler runs in a transaction that
//!   also records the event id, so a redelivery is a no-op. Failures are retried with backoff up to
//!   a limit, then the message goes to `deadletter.<consumer>` where an operator can list and
//!   replay it.
//! - [`outbound`]: durable delivery to outside systems: a table claimed by lease, retries with
//!   backoff, parking and redrive (the LMS connector is its first user).
//!
//! ```text
//!  handler tx ─┬─ state change        relay ── publish(Nats-Msg-Id) ──▶ COMMERCE stream
//!              └─ outbox row ───────────┘  ◀── ack ── mark sent
//!  COMMERCE ──▶ consumer ── tx { inbox row + effect } ── commit ── ack
//!                  └── failed max_deliver times ──▶ DEADLETTER stream (list / replay)
//! ```

pub mod gauges;
pub mod inbox;
pub mod outbound;
pub mod outbox;

use async_nats::jetstream::{self, stream};
use async_nats::{HeaderMap, connection::State};
use bytes::Bytes;
use std::time::Duration;

pub use inbox::{
    ConsumerSpec, DeadLetter, Delivery, FaultPlan, Handler, HandlerError, HandlerFuture,
    PrepareFuture, Prepared, PreparedHandler, RELAYED_HEADER_PREFIX, TuneConsumer, TwoPhase,
    wake_after_commit,
};
pub use outbox::{OutboxRelay, enqueue};

/// Messages a purchase-pipeline consumer handles at once (its handler must not depend on the
/// order of its events: see [`ConsumerSpec::concurrency`]).
pub const PIPELINE_CONCURRENCY: usize = 8;

/// Messages a consumer applies in one transaction at most, when that many are waiting (see
/// [`ConsumerSpec::batch`]).
pub const CONSUMER_BATCH: usize = 16;

/// Every stream the platform declares: (base name, subjects relative to the prefix).
pub const STREAMS: &[(&str, &str)] = &[
    ("COMMERCE", "commerce.>"),
    ("INBOUND", "inbound.>"),
    ("DEADLETTER", "deadletter.>"),
];

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("NATS: {0}")]
    Nats(String),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

impl BusError {
    pub(crate) fn nats(e: impl std::fmt::Display) -> Self {
        BusError::Nats(e.to_string())
    }
}

#[derive(Debug, Clone)]
pub struct BusSettings {
    pub url: String,
    /// Prepended to every subject (`""` in production; unique per test so runs never mix).
    pub subject_prefix: String,
    /// Appended to every stream name, for the same reason.
    pub stream_suffix: String,
    /// JetStream's de-duplication window for `Nats-Msg-Id`.
    pub duplicate_window: Duration,
    /// How long a publish waits for its ack.
    pub request_timeout: Duration,
}

impl Default for BusSettings {
    fn default() -> Self {
        BusSettings {
            url: "nats://127.0.0.1:4222".into(),
            subject_prefix: String::new(),
            stream_suffix: String::new(),
            duplicate_window: Duration::from_secs(20 * 60),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// A connection to NATS with the deployment's naming. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    client: async_nats::Client,
    js: jetstream::Context,
    settings: BusSettings,
}

impl Bus {
    /// Connects without waiting for the server: a service starts while NATS is down and the
    /// client keeps reconnecting; the outbox holds events meanwhile.
    pub async fn connect(settings: &BusSettings) -> Result<Bus, BusError> {
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .max_reconnects(None)
            .connect(settings.url.as_str())
            .await
            .map_err(BusError::nats)?;
        let mut js = jetstream::new(client.clone());
        js.set_timeout(settings.request_timeout);
        Ok(Bus {
            client,
            js,
            settings: settings.clone(),
        })
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    /// The absolute subject for a relative one (`commerce.order.completed`).
    pub fn subject(&self, relative: &str) -> String {
        format!("{}{}", self.settings.subject_prefix, relative)
    }

    /// The relative subject of an absolute one received from the server.
    pub fn relative<'a>(&self, absolute: &'a str) -> &'a str {
        absolute
            .strip_prefix(self.settings.subject_prefix.as_str())
            .unwrap_or(absolute)
    }

    pub fn stream_name(&self, base: &str) -> String {
        format!("{}{}", base, self.settings.stream_suffix)
    }

    /// Declares every stream; safe to call at every start and again after an outage.
    pub async fn ensure_streams(&self) -> Result<(), BusError> {
        for (name, subjects) in STREAMS {
            self.js
                .get_or_create_stream(stream::Config {
                    name: self.stream_name(name),
                    subjects: vec![self.subject(subjects)],
                    duplicate_window: self.settings.duplicate_window,
                    storage: stream::StorageType::File,
                    max_age: Duration::from_secs(30 * 24 * 3600),
                    ..Default::default()
                })
                .await
                .map_err(BusError::nats)?;
        }
        Ok(())
    }

    /// Publishes to a relative subject and waits for the stream's ack.
    /// Returns whether JetStream saw the `Nats-Msg-Id` before (a duplicate it dropped).
    pub async fn publish(
        &self,
        relative: &str,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<bool, BusError> {
        let ack = self
            .js
            .publish_with_headers(self.subject(relative), headers, payload)
            .await
            .map_err(BusError::nats)?
            .await
            .map_err(BusError::nats)?;
        Ok(ack.duplicate)
    }

    /// Messages currently held by a stream (used by tests and operators).
    pub async fn stream_messages(&self, base: &str) -> Result<u64, BusError> {
        let mut s = self
            .js
            .get_stream(self.stream_name(base))
            .await
            .map_err(BusError::nats)?;
        let info = s.info().await.map_err(BusError::nats)?;
        Ok(info.state.messages)
    }
}
