//! Gauges of the backbone's health, sampled on a timer by the host (see `runtime::Host`): what
//! waits in each outbox, in each durable consumer, in the dead-letter stream and in each outbound
//! table. Counters (published, consumed, dead-lettered, delivered) are kept where the work is done.

use crate::outbound::OutboundTable;
use crate::{Bus, BusError, ConsumerSpec};
use async_nats::jetstream::consumer::PullConsumer;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Statement};

fn pg(sql: String) -> Statement {
    Statement::from_string(sea_orm::DatabaseBackend::Postgres, sql)
}

/// `outbox_unpublished_rows{schema}` (counted up to 100,000) and
/// `outbox_oldest_unpublished_age_seconds{schema}` (0 when nothing waits): an outbox whose oldest
/// row ages is a relay that cannot publish.
pub async fn sample_outbox(c: &impl ConnectionTrait) -> Result<(), DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        schema: String,
        n: i64,
        age: f64,
    }
    // Both read the `outbox_unpublished` index: the oldest row by `seq`, and a count that stops
    // at 100,000 (a stuck relay must not make each sample read every waiting row).
    const SQL: &str = "SELECT current_schema() AS schema,
            (SELECT count(*) FROM (SELECT 1 FROM outbox WHERE published_at IS NULL
                                   LIMIT 100000) w) AS n,
            COALESCE((SELECT EXTRACT(EPOCH FROM now() - occurred_at)::float8 FROM outbox
                      WHERE published_at IS NULL ORDER BY seq LIMIT 1), 0) AS age";
    let row = Row::find_by_statement(pg(SQL.into())).one(c).await?;
    if let Some(r) = row {
        metrics::gauge!("outbox_unpublished_rows", "schema" => r.schema.clone()).set(r.n as f64);
        metrics::gauge!("outbox_oldest_unpublished_age_seconds", "schema" => r.schema)
            .set(r.age.max(0.0));
    }
    Ok(())
}

/// `outbound_backlog{sender}` (requests waiting to be sent, retries included) and
/// `outbound_parked{sender}` (given up after their retries: an operator redrives them).
pub async fn sample_outbound(
    c: &impl ConnectionTrait,
    table: &OutboundTable,
    sender: &str,
) -> Result<(), DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        backlog: i64,
        parked: i64,
    }
    // Each count reads its own partial index (`<table>_due`, `<table>_parked`).
    let t = table.table;
    let row = Row::find_by_statement(pg(format!(
        "SELECT (SELECT count(*) FROM {t} WHERE status = 'pending') AS backlog,
                (SELECT count(*) FROM {t} WHERE status = 'failed') AS parked"
    )))
    .one(c)
    .await?;
    if let Some(r) = row {
        metrics::gauge!("outbound_backlog", "sender" => sender.to_string()).set(r.backlog as f64);
        metrics::gauge!("outbound_parked", "sender" => sender.to_string()).set(r.parked as f64);
    }
    Ok(())
}

/// `consumer_pending_messages`, `consumer_ack_pending_messages` and
/// `consumer_redelivered_messages`, each `{consumer}`, from the server's view of the consumer.
pub async fn sample_consumer(bus: &Bus, spec: &ConsumerSpec) -> Result<(), BusError> {
    // One request: the consumer's info comes with the consumer.
    let consumer: PullConsumer = bus
        .jetstream()
        .get_consumer_from_stream(&spec.durable, bus.stream_name(spec.stream))
        .await
        .map_err(BusError::nats)?;
    let info = consumer.cached_info();
    let consumer = spec.durable.clone();
    metrics::gauge!("consumer_pending_messages", "consumer" => consumer.clone())
        .set(info.num_pending as f64);
    metrics::gauge!("consumer_ack_pending_messages", "consumer" => consumer.clone())
        .set(info.num_ack_pending as f64);
    metrics::gauge!("consumer_redelivered_messages", "consumer" => consumer)
        .set(info.num_redelivered as f64);
    Ok(())
}

/// `dead_letters_stored`: messages parked in the dead-letter stream now.
pub async fn sample_dead_letters(bus: &Bus) -> Result<(), BusError> {
    let n = bus.stream_messages("DEADLETTER").await?;
    metrics::gauge!("dead_letters_stored").set(n as f64);
    Ok(())
}
