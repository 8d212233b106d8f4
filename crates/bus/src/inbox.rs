//! Idempotent consumers: durable pull consumers, explicit acks, bounded redelivery with backoff,
//! and dead letters an operator can list and replay.

use crate::{Bus, BusError};
use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::{AckKind, Message};
use bytes::Bytes;
use events::Envelope;
use futures_util::{FutureExt, StreamExt};
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, FromQueryResult, Statement, TransactionTrait,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument;

pub const H_DL_REASON: &str = "x-dead-letter-reason";
pub const H_DL_SUBJECT: &str = "x-original-subject";
pub const H_DL_CONSUMER: &str = "x-dead-letter-consumer";
pub const H_DL_DELIVERIES: &str = "x-deliveries";

/// One durable consumer, declared in code and created idempotently at start.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Durable name, unique per service and purpose (`cart-order-prices`).
    pub durable: String,
    /// Base name of the stream (`COMMERCE` or `INBOUND`).
    pub stream: &'static str,
    /// Relative subject filter (`commerce.catalog.price.>`).
    pub filter: String,
    /// Deliveries before a message is dead-lettered.
    pub max_deliver: i64,
    /// How long the server waits for an ack before redelivering.
    pub ack_wait: Duration,
    /// Delay before redelivery after the n-th failure (the last entry repeats).
    pub backoff: Vec<Duration>,
    /// Nudged after each applied event that wrote events: the service's outbox relay, so they
    /// leave at once instead of at the next poll.
    pub wake_after_commit: Option<Arc<tokio::sync::Notify>>,
    /// Messages handled at once. 1 keeps the stream's order; more is for handlers whose effects
    /// do not depend on the order of their events (guarded transitions, inserts, sums), so one
    /// slow transaction does not hold the rest back.
    pub concurrency: usize,
    /// Messages applied in one transaction: what has arrived while the consumer was busy is taken
    /// together (one `BEGIN`, one multi-row inbox insert, one `COMMIT`), as if applied one after
    /// the other. When any of them fails, the batch rolls back and each is applied on its own.
    pub batch: usize,
}

impl ConsumerSpec {
    pub fn new(durable: &str, stream: &'static str, filter: &str) -> Self {
        ConsumerSpec {
            durable: durable.to_string(),
            stream,
            filter: filter.to_string(),
            max_deliver: 5,
            ack_wait: Duration::from_secs(30),
            backoff: vec![
                Duration::from_millis(200),
                Duration::from_secs(1),
                Duration::from_secs(5),
                Duration::from_secs(30),
            ],
            wake_after_commit: None,
            concurrency: 1,
            batch: crate::CONSUMER_BATCH,
        }
    }

    /// Handles up to `n` messages at once (see [`ConsumerSpec::concurrency`]).
    pub fn concurrent(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Applies up to `n` waiting messages in one transaction (see [`ConsumerSpec::batch`]).
    pub fn batched(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }

    /// Wakes `relay` after each applied event.
    pub fn waking(mut self, relay: Arc<tokio::sync::Notify>) -> Self {
        self.wake_after_commit = Some(relay);
        self
    }

    fn delay_after(&self, deliveries: i64) -> Duration {
        let i = usize::try_from(deliveries.saturating_sub(1)).unwrap_or(0);
        self.backoff
            .get(i)
            .or(self.backoff.last())
            .copied()
            .unwrap_or(Duration::from_secs(1))
    }
}

/// Adjusts a consumer's limits (tests shorten ack waits and backoff).
pub type TuneConsumer = Arc<dyn Fn(&mut ConsumerSpec) + Send + Sync>;

/// What a handler sees of one message.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub envelope: Envelope,
    /// Relative subject.
    pub subject: String,
    pub headers: HeaderMap,
    pub payload: Bytes,
    /// 1 for the first delivery.
    pub attempt: i64,
}

/// A relayed webhook's HTTP headers travel behind this prefix (the gateway's relay).
pub const RELAYED_HEADER_PREFIX: &str = "http-";

impl Delivery {
    /// An HTTP header of the webhook the gateway relayed.
    pub fn http_header(&self, name: &str) -> Option<String> {
        self.headers
            .get(format!("{RELAYED_HEADER_PREFIX}{name}").as_str())
            .map(|v| v.as_str().to_string())
    }

    /// Decodes the protobuf body.
    pub fn decode<E: events::Event>(&self) -> Result<E, HandlerError> {
        E::decode(self.payload.as_ref())
            .map_err(|e| HandlerError::permanent(format!("undecodable {}: {e}", E::TYPE)))
    }
}

/// A handler failure. A transient one (the database away, a lock timeout) is retried with
/// backoff and dead-lettered after `max_deliver`; a permanent one (an undecodable message, a
/// field that breaks the contract, an id nobody knows) can never succeed and is dead-lettered
/// at once.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct HandlerError {
    pub message: String,
    pub permanent: bool,
}

impl HandlerError {
    pub fn transient(message: impl Into<String>) -> Self {
        HandlerError {
            message: message.into(),
            permanent: false,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        HandlerError {
            message: message.into(),
            permanent: true,
        }
    }
}

impl From<sea_orm::DbErr> for HandlerError {
    fn from(e: sea_orm::DbErr) -> Self {
        HandlerError::transient(format!("database: {e}"))
    }
}

impl From<events::FieldError> for HandlerError {
    fn from(e: events::FieldError) -> Self {
        HandlerError::permanent(e.to_string())
    }
}

pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send + 'a>>;

/// What a handler learnt before its transaction opened (see [`Handler::prepare`]).
pub type Prepared = Option<Box<dyn std::any::Any + Send + Sync>>;
pub type PrepareFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Prepared, HandlerError>> + Send + 'a>>;

/// The effect of one event. It runs inside `txn`, which already holds the inbox row; it must do
/// all its writes (including outbox rows) through `txn` so they commit or roll back together.
pub trait Handler: Send + Sync + 'static {
    fn handle<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        delivery: &'a Delivery,
    ) -> HandlerFuture<'a>;

    /// Work that must not run inside a transaction (a call to an outside system, such as asking
    /// a payment processor for an object's current state). It runs before the transaction
    /// opens, on every delivery (duplicates included), and its result reaches
    /// [`Handler::handle_prepared`].
    fn prepare<'a>(&'a self, _delivery: &'a Delivery) -> PrepareFuture<'a> {
        Box::pin(async { Ok(None) })
    }

    /// [`Handler::handle`] with what [`Handler::prepare`] learnt.
    fn handle_prepared<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        delivery: &'a Delivery,
        _prepared: Prepared,
    ) -> HandlerFuture<'a> {
        self.handle(txn, delivery)
    }
}

/// A handler in two phases: `prepare` runs with no transaction open (a call to an outside
/// system), `apply` runs in the inbox transaction with what it returned. Wrap it in
/// [`TwoPhase`] to consume with it.
pub trait PreparedHandler: Send + Sync + 'static {
    type Ready: Send + Sync + 'static;
    fn prepare<'a>(
        &'a self,
        delivery: &'a Delivery,
    ) -> Pin<Box<dyn Future<Output = Result<Self::Ready, HandlerError>> + Send + 'a>>;
    fn apply<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        delivery: &'a Delivery,
        ready: Self::Ready,
    ) -> HandlerFuture<'a>;
}

/// A [`PreparedHandler`] as a [`Handler`]: the typed result of `prepare` reaches `apply`.
pub struct TwoPhase<H>(pub H);

impl<H: PreparedHandler> Handler for TwoPhase<H> {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let ready = self.0.prepare(d).await?;
            self.0.apply(txn, d, ready).await
        })
    }

    fn prepare<'a>(&'a self, d: &'a Delivery) -> PrepareFuture<'a> {
        Box::pin(async move {
            let ready: Box<dyn std::any::Any + Send + Sync> = Box::new(self.0.prepare(d).await?);
            Ok(Some(ready))
        })
    }

    fn handle_prepared<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        d: &'a Delivery,
        prepared: Prepared,
    ) -> HandlerFuture<'a> {
        Box::pin(async move {
            let ready = prepared
                .and_then(|p| p.downcast::<H::Ready>().ok())
                .ok_or_else(|| HandlerError::permanent("prepared without its result"))?;
            self.0.apply(txn, d, *ready).await
        })
    }
}

/// Fault injection for tests: the next `die_after_commit` deliveries are committed but never
/// acked, and the consumer drops its subscription as if the process had died.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    pub die_after_commit: Arc<AtomicU32>,
}

enum Outcome {
    Applied,
    Duplicate,
}

/// Runs one consumer until `shutdown` turns true, re-subscribing after NATS outages.
pub async fn run_consumer(
    bus: Bus,
    db: DatabaseConnection,
    spec: ConsumerSpec,
    handler: Arc<dyn Handler>,
    faults: FaultPlan,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let consumer = match create_consumer(&bus, &spec).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(consumer = %spec.durable, error = %e, "cannot create consumer; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = shutdown.changed() => return,
                }
            }
        };
        let mut messages = match consumer.messages().await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(consumer = %spec.durable, error = %e, "cannot subscribe; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut in_flight = futures_util::stream::FuturesUnordered::new();
        let mut died = false;
        loop {
            let room = in_flight.len() < spec.concurrency;
            let next = tokio::select! {
                n = messages.next(), if room => n,
                Some(d) = in_flight.next(), if !in_flight.is_empty() => {
                    if d {
                        died = true;
                        break;
                    }
                    continue;
                }
                _ = shutdown.changed() => return,
            };
            match next {
                None => break,
                Some(Err(e)) => {
                    tracing::debug!(consumer = %spec.durable, error = %e, "consumer stream error");
                    if bus.is_connected() {
                        continue;
                    }
                    break;
                }
                Some(Ok(msg)) => {
                    // What has already arrived joins the batch; nothing waits for more.
                    let mut batch = vec![msg];
                    let mut ended = false;
                    while batch.len() < spec.batch {
                        match messages.next().now_or_never() {
                            Some(Some(Ok(m))) => batch.push(m),
                            Some(Some(Err(e))) => {
                                tracing::debug!(consumer = %spec.durable, error = %e, "consumer stream error");
                                ended = !bus.is_connected();
                                break;
                            }
                            Some(None) => {
                                ended = true;
                                break;
                            }
                            None => break,
                        }
                    }
                    in_flight.push(process(&bus, &db, &spec, handler.as_ref(), &faults, batch));
                    if ended {
                        break;
                    }
                }
            }
        }
        // After a lost stream, whatever is in flight finishes; after a (simulated) death it is
        // dropped with the consumer, rolled back and redelivered.
        if !died {
            while let Some(d) = in_flight.next().await {
                if d {
                    break;
                }
            }
        }
        drop(in_flight);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates `spec`'s durable consumer (and the streams) unless it exists; what a consumer does at
/// start, and what `commerce setup-jetstream` does for a cluster ahead of the services.
pub async fn declare_consumer(bus: &Bus, spec: &ConsumerSpec) -> Result<(), BusError> {
    create_consumer(bus, spec).await.map(drop)
}

async fn create_consumer(bus: &Bus, spec: &ConsumerSpec) -> Result<PullConsumer, BusError> {
    bus.ensure_streams().await?;
    let stream = bus
        .jetstream()
        .get_stream(bus.stream_name(spec.stream))
        .await
        .map_err(BusError::nats)?;
    let config = pull::Config {
        durable_name: Some(spec.durable.clone()),
        filter_subject: bus.subject(&spec.filter),
        ack_policy: AckPolicy::Explicit,
        ack_wait: spec.ack_wait,
        // The server's own limit is a backstop above ours: we dead-letter at max_deliver.
        max_deliver: spec.max_deliver + 1,
        ..Default::default()
    };
    let mut consumer = stream
        .get_or_create_consumer(&spec.durable, config.clone())
        .await
        .map_err(BusError::nats)?;
    // An existing durable keeps the settings it was made with: when the code asks for others (a
    // longer wait for a late order, say), the server's are brought in line, or it would stop
    // delivering before we dead-letter and a message would be neither handled nor parked.
    let have = &consumer.cached_info().config;
    if have.max_deliver != config.max_deliver
        || have.ack_wait != config.ack_wait
        || have.filter_subject != config.filter_subject
    {
        tracing::info!(consumer = %spec.durable, "updating the durable consumer's settings");
        consumer = stream
            .update_consumer(config)
            .await
            .map_err(BusError::nats)?;
    }
    Ok(consumer)
}

/// What a handler's transaction asks for once it has committed.
#[derive(Default)]
struct AfterCommit {
    /// Workers to wake.
    wakes: Vec<Arc<tokio::sync::Notify>>,
    /// Whether it wrote an event, so the outbox relay has work.
    enqueued: bool,
}

tokio::task_local! {
    static AFTER_COMMIT: std::cell::RefCell<AfterCommit>;
}

/// Notes that the current handler wrote an event (see [`crate::outbox::enqueue`]).
pub(crate) fn note_enqueued() {
    let _ = AFTER_COMMIT.try_with(|a| a.borrow_mut().enqueued = true);
}

/// Wakes `worker` once the transaction the current handler runs in has committed, or at once
/// outside a handler. A worker woken before the commit looks for the row it was woken for,
/// does not see it yet, and sleeps until its next poll.
pub fn wake_after_commit(worker: &Arc<tokio::sync::Notify>) {
    if AFTER_COMMIT
        .try_with(|a| a.borrow_mut().wakes.push(worker.clone()))
        .is_err()
    {
        worker.notify_one();
    }
}

/// Runs `work` (a transaction that commits) with [`wake_after_commit`] collecting its wakes,
/// and wakes them once it succeeded, with `relay` when it wrote an event; a failed one wakes
/// nobody.
async fn waking_after<T>(
    relay: Option<&Arc<tokio::sync::Notify>>,
    work: impl Future<Output = Result<T, HandlerError>>,
) -> Result<T, HandlerError> {
    let (result, after) = AFTER_COMMIT
        .scope(
            std::cell::RefCell::new(AfterCommit::default()),
            async move {
                let result = work.await;
                (result, AFTER_COMMIT.with(|a| a.take()))
            },
        )
        .await;
    if result.is_ok() {
        let mut wakes = after.wakes;
        if let (true, Some(relay)) = (after.enqueued, relay) {
            wakes.push(relay.clone());
        }
        let mut woken: Vec<&Arc<tokio::sync::Notify>> = Vec::with_capacity(wakes.len());
        for w in &wakes {
            if !woken.iter().any(|x| Arc::ptr_eq(x, w)) {
                w.notify_one();
                woken.push(w);
            }
        }
    }
    result
}

/// One received message on its way through a handler.
struct Item {
    msg: Message,
    delivery: Delivery,
    span: tracing::Span,
}

/// Reads a message's envelope; a message without one can never succeed and is dead-lettered.
async fn open(bus: &Bus, spec: &ConsumerSpec, msg: Message) -> Option<Item> {
    let attempt = msg.info().map(|i| i.delivered).unwrap_or(1);
    let subject = bus.relative(msg.subject.as_str()).to_string();
    let headers = msg.headers.clone().unwrap_or_default();
    let envelope = match Envelope::from_headers(&headers) {
        Ok(e) => e,
        Err(e) => {
            let reason = format!("bad envelope: {e}");
            dead_letter(bus, spec, &msg, &subject, attempt, &reason).await;
            return None;
        }
    };
    let span = tracing::info_span!("consume", consumer = %spec.durable, subject = %subject, event_id = %envelope.id, attempt);
    if let Some(tp) = &envelope.traceparent {
        telemetry::continue_trace(&span, tp);
    }
    let delivery = Delivery {
        envelope,
        subject,
        headers,
        payload: msg.payload.clone(),
        attempt,
    };
    Some(Item {
        msg,
        delivery,
        span,
    })
}

/// Handles a batch of messages; returns true when a fault plan says the consumer "died".
async fn process(
    bus: &Bus,
    db: &DatabaseConnection,
    spec: &ConsumerSpec,
    handler: &dyn Handler,
    faults: &FaultPlan,
    msgs: Vec<Message>,
) -> bool {
    let mut items = Vec::with_capacity(msgs.len());
    for msg in msgs {
        if let Some(item) = open(bus, spec, msg).await {
            items.push(item);
        }
    }
    let mut ready = prepare_all(bus, spec, handler, items).await;
    if ready.len() > 1 {
        match apply(db, spec, handler, &mut ready).await {
            Ok(outcomes) => {
                if died(faults) {
                    return true;
                }
                acknowledge(bus, spec, &ready, outcomes).await;
                return false;
            }
            Err(e) => {
                // One of them failed (or the batch met a lock): each is applied on its own, so
                // only the failing one is retried or parked.
                let ids: Vec<_> = ready.iter().map(|(i, _)| i.delivery.envelope.id).collect();
                tracing::debug!(consumer = %spec.durable, error = %e, events = ?ids, "batch rolled back; applying one by one");
                let items = ready.into_iter().map(|(item, _)| item).collect();
                ready = prepare_all(bus, spec, handler, items).await;
            }
        }
    }
    for mut one in ready {
        let span = one.0.span.clone();
        let alone = std::slice::from_mut(&mut one);
        match apply(db, spec, handler, alone).instrument(span).await {
            Ok(outcomes) => {
                if died(faults) {
                    return true;
                }
                acknowledge(bus, spec, alone, outcomes).await;
            }
            Err(e) => settle(bus, spec, &one.0, Err(e)).await,
        }
    }
    false
}

/// Acknowledges applied (or duplicate) messages, all at once.
async fn acknowledge(
    bus: &Bus,
    spec: &ConsumerSpec,
    applied: &[(Item, Prepared)],
    outcomes: Vec<Outcome>,
) {
    let acks = applied
        .iter()
        .zip(outcomes)
        .map(|((item, _), o)| settle(bus, spec, item, Ok(o)));
    futures_util::future::join_all(acks).await;
}

/// Runs what must not run inside a transaction, for each message; one that fails there is
/// retried or parked at once.
async fn prepare_all(
    bus: &Bus,
    spec: &ConsumerSpec,
    handler: &dyn Handler,
    items: Vec<Item>,
) -> Vec<(Item, Prepared)> {
    let mut ready = Vec::with_capacity(items.len());
    for item in items {
        let prepared = handler
            .prepare(&item.delivery)
            .instrument(item.span.clone())
            .await;
        match prepared {
            Ok(p) => ready.push((item, p)),
            Err(e) => settle(bus, spec, &item, Err(e)).await,
        }
    }
    ready
}

/// True when the fault plan makes the consumer "die" after this commit, before its acks.
fn died(faults: &FaultPlan) -> bool {
    let die = faults
        .die_after_commit
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if die {
        tracing::warn!("fault plan: dying after commit, before ack");
    }
    die
}

/// Acknowledges an applied message, or retries or parks a failed one.
async fn settle(
    bus: &Bus,
    spec: &ConsumerSpec,
    item: &Item,
    result: Result<Outcome, HandlerError>,
) {
    let (msg, d) = (&item.msg, &item.delivery);
    async move {
        match result {
            Ok(outcome) => {
                if matches!(outcome, Outcome::Duplicate) {
                    metrics::counter!("inbox_duplicates_total", "consumer" => spec.durable.clone())
                        .increment(1);
                }
                if let Err(e) = msg.double_ack().await {
                    tracing::warn!(error = %e, "ack failed; the message will be redelivered and skipped");
                }
                metrics::counter!("events_consumed_total", "consumer" => spec.durable.clone())
                    .increment(1);
            }
            Err(e) if e.permanent => {
                tracing::error!(error = %e, "handler failed permanently; dead-lettering at once");
                dead_letter(bus, spec, msg, &d.subject, d.attempt, &e.message).await;
            }
            Err(e) if d.attempt >= spec.max_deliver => {
                tracing::error!(error = %e, "handler failed for the last time; dead-lettering");
                dead_letter(bus, spec, msg, &d.subject, d.attempt, &e.message).await;
            }
            Err(e) => {
                let delay = spec.delay_after(d.attempt);
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "handler failed; will retry");
                let _ = msg.ack_with(AckKind::Nak(Some(delay))).await;
            }
        }
    }
    .instrument(item.span.clone())
    .await
}

/// Applies messages in one transaction, in their order, as if one after the other: one inbox
/// insert for them all, then each fresh event's handler (an event already in the inbox, or twice
/// in the batch, is a duplicate). Any failure rolls the whole transaction back. In a batch a
/// lock wait is bounded, so two batches that would deadlock give up at once (and each message
/// is then applied alone) instead of waiting for the deadlock detector; a message alone waits
/// as long as it must. The workers the handlers asked for, and the relay when they wrote an
/// event, are woken once it has committed.
async fn apply(
    db: &DatabaseConnection,
    spec: &ConsumerSpec,
    handler: &dyn Handler,
    items: &mut [(Item, Prepared)],
) -> Result<Vec<Outcome>, HandlerError> {
    #[derive(sea_orm::FromQueryResult)]
    struct Fresh {
        event_id: uuid::Uuid,
    }
    let bounded = items.len() > 1;
    let mut unique = std::collections::HashSet::with_capacity(items.len());
    let (ids, types): (Vec<uuid::Uuid>, Vec<String>) = items
        .iter()
        .map(|(i, _)| &i.delivery.envelope)
        .filter(|e| unique.insert(e.id))
        .map(|e| (e.id, e.event_type.clone()))
        .unzip();
    waking_after(spec.wake_after_commit.as_ref(), async move {
        let txn = db.begin().await?;
        let fresh = Fresh::find_by_statement(Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            "INSERT INTO inbox (consumer, event_id, event_type)
             SELECT $1, u.event_id, u.event_type
             FROM unnest($2::uuid[], $3::text[]) AS u(event_id, event_type)
             WHERE set_config('lock_timeout',
                 CASE WHEN $4 THEN '100ms' ELSE current_setting('lock_timeout') END, true) IS NOT NULL
             ON CONFLICT DO NOTHING RETURNING event_id",
            vec![
                spec.durable.clone().into(),
                ids.into(),
                types.into(),
                bounded.into(),
            ],
        ))
        .all(&txn)
        .await?;
        let mut fresh: std::collections::HashSet<uuid::Uuid> =
            fresh.into_iter().map(|f| f.event_id).collect();
        let mut outcomes = Vec::with_capacity(items.len());
        for (item, prepared) in items.iter_mut() {
            if !fresh.remove(&item.delivery.envelope.id) {
                outcomes.push(Outcome::Duplicate);
                continue;
            }
            handler
                .handle_prepared(&txn, &item.delivery, prepared.take())
                .instrument(item.span.clone())
                .await?;
            outcomes.push(Outcome::Applied);
        }
        txn.commit().await?;
        Ok(outcomes)
    })
    .await
}

async fn dead_letter(
    bus: &Bus,
    spec: &ConsumerSpec,
    msg: &Message,
    subject: &str,
    attempt: i64,
    reason: &str,
) {
    let mut headers = msg.headers.clone().unwrap_or_default();
    // One dead letter per stored message: a redriven copy has its own stream sequence.
    let stream_seq = msg.info().map(|i| i.stream_sequence).unwrap_or_default();
    headers.insert(
        events::envelope::H_MSG_ID,
        format!("dl-{}-{}", spec.durable, stream_seq).as_str(),
    );
    headers.insert(
        H_DL_REASON,
        reason.chars().take(500).collect::<String>().as_str(),
    );
    headers.insert(H_DL_SUBJECT, subject);
    headers.insert(H_DL_CONSUMER, spec.durable.as_str());
    headers.insert(H_DL_DELIVERIES, attempt.to_string().as_str());
    let dl_subject = format!("{}.{}", events::subjects::DEAD_LETTER, spec.durable);
    match bus.publish(&dl_subject, headers, msg.payload.clone()).await {
        Ok(duplicate) => {
            if duplicate {
                tracing::debug!(stream_seq, "already dead-lettered");
            }
            metrics::counter!("events_dead_lettered_total", "consumer" => spec.durable.clone())
                .increment(1);
            let _ = msg.ack_with(AckKind::Term).await;
        }
        Err(e) => {
            // Never drop a message we could not park: let it come back.
            tracing::error!(error = %e, "cannot dead-letter; will retry");
            let _ = msg
                .ack_with(AckKind::Nak(Some(Duration::from_secs(5))))
                .await;
        }
    }
}

/// A parked message as an operator sees it.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub seq: u64,
    pub consumer: String,
    pub original_subject: String,
    pub event_id: String,
    pub event_type: String,
    pub reason: String,
    pub deliveries: String,
    pub headers: HeaderMap,
    pub payload: Bytes,
}

impl Bus {
    /// Every message parked in the dead-letter stream, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, BusError> {
        self.ensure_streams().await?;
        let mut stream = self
            .jetstream()
            .get_stream(self.stream_name("DEADLETTER"))
            .await
            .map_err(BusError::nats)?;
        let state = stream.info().await.map_err(BusError::nats)?.state.clone();
        let mut out = Vec::new();
        if state.messages == 0 {
            return Ok(out);
        }
        for seq in state.first_sequence..=state.last_sequence {
            let Ok(m) = stream.get_raw_message(seq).await else {
                continue;
            };
            let h = m.headers.clone();
            let get = |k: &str| h.get(k).map(|v| v.as_str().to_string()).unwrap_or_default();
            out.push(DeadLetter {
                seq,
                consumer: get(H_DL_CONSUMER),
                original_subject: get(H_DL_SUBJECT),
                event_id: get(events::envelope::H_ID),
                event_type: get(events::envelope::H_TYPE),
                reason: get(H_DL_REASON),
                deliveries: get(H_DL_DELIVERIES),
                headers: h.clone(),
                payload: m.payload.clone(),
            });
        }
        Ok(out)
    }

    /// Publishes a dead letter again on its original subject (with a fresh `Nats-Msg-Id`, the same
    /// event id) and removes it from the dead-letter stream.
    pub async fn replay_dead_letter(&self, seq: u64) -> Result<(), BusError> {
        let letters = self.dead_letters().await?;
        let Some(dl) = letters.into_iter().find(|d| d.seq == seq) else {
            return Err(BusError::Nats(format!(
                "no dead letter with sequence {seq}"
            )));
        };
        let mut headers = HeaderMap::new();
        for (k, vs) in dl.headers.iter() {
            let key: &str = k.as_ref();
            if [
                H_DL_REASON,
                H_DL_SUBJECT,
                H_DL_CONSUMER,
                H_DL_DELIVERIES,
                events::envelope::H_MSG_ID,
            ]
            .contains(&key)
            {
                continue;
            }
            for v in vs {
                headers.append(key, v.as_str());
            }
        }
        headers.insert(
            events::envelope::H_MSG_ID,
            format!("replay-{}-{}", seq, uuid::Uuid::now_v7()).as_str(),
        );
        self.publish(&dl.original_subject, headers, dl.payload.clone())
            .await?;
        let stream = self
            .jetstream()
            .get_stream(self.stream_name("DEADLETTER"))
            .await
            .map_err(BusError::nats)?;
        stream.delete_message(seq).await.map_err(BusError::nats)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::Notify;
    use tokio::time::timeout;

    const BRIEF: Duration = Duration::from_millis(20);

    #[tokio::test]
    async fn a_handler_wakes_its_workers_after_the_commit_and_a_failure_wakes_nobody() {
        let worker = Arc::new(Notify::new());
        let woken_inside = waking_after(None, async {
            wake_after_commit(&worker);
            Ok(timeout(BRIEF, worker.notified()).await.is_ok())
        })
        .await;
        assert_eq!(woken_inside.ok(), Some(false), "not before the commit");
        assert!(
            timeout(BRIEF, worker.notified()).await.is_ok(),
            "woken once it committed"
        );

        let failed: Result<(), HandlerError> = waking_after(None, async {
            wake_after_commit(&worker);
            Err(HandlerError::transient("rolled back"))
        })
        .await;
        assert!(failed.is_err());
        assert!(
            timeout(BRIEF, worker.notified()).await.is_err(),
            "a rolled-back transaction wakes nobody"
        );

        // Outside a handler (a route that has committed), at once.
        wake_after_commit(&worker);
        assert!(timeout(BRIEF, worker.notified()).await.is_ok());

        // The relay is woken only after a transaction that wrote an event.
        let relay = Arc::new(Notify::new());
        let quiet: Result<(), HandlerError> = waking_after(Some(&relay), async { Ok(()) }).await;
        assert!(quiet.is_ok());
        assert!(
            timeout(BRIEF, relay.notified()).await.is_err(),
            "nothing to relay"
        );
        let wrote: Result<(), HandlerError> = waking_after(Some(&relay), async {
            note_enqueued();
            Ok(())
        })
        .await;
        assert!(wrote.is_ok());
        assert!(
            timeout(BRIEF, relay.notified()).await.is_ok(),
            "its event leaves at once"
        );
    }
}
