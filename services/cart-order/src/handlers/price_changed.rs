//! `commerce.catalog.price.created|deactivated` → the `catalog_prices` read model.
//!
//! Runs inside the inbox transaction, so a redelivered event changes nothing. Events may arrive
//! out of order; an older change never overwrites a newer one (`changed_at`).

use bus::{Delivery, Handler, HandlerError, HandlerFuture};
use chrono::{DateTime, Utc};
use events::commerce::v1::PriceChanged;
use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement, Value};
use uuid::Uuid;

pub struct PriceChangedHandler;

fn time(field: &str, s: &str) -> Result<Option<DateTime<Utc>>, HandlerError> {
    if s.is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| HandlerError(format!("`{field}` is not RFC 3339: {s}")))
}

fn id(field: &str, s: &str) -> Result<Option<Uuid>, HandlerError> {
    if s.is_empty() {
        return Ok(None);
    }
    Uuid::parse_str(s)
        .map(Some)
        .map_err(|_| HandlerError(format!("`{field}` is not a UUID: {s}")))
}

impl Handler for PriceChangedHandler {
    fn handle<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        delivery: &'a Delivery,
    ) -> HandlerFuture<'a> {
        Box::pin(async move {
            let e: PriceChanged = delivery.decode()?;
            let price_id = id("price_id", &e.price_id)?
                .ok_or_else(|| HandlerError("price_id is empty".into()))?;
            let effective_from = time("effective_from", &e.effective_from)?
                .ok_or_else(|| HandlerError("effective_from is empty".into()))?;
            let changed_at = time("changed_at", &e.changed_at)?.unwrap_or(delivery.envelope.time);
            txn.execute_raw(Statement::from_sql_and_values(
                sea_orm::DatabaseBackend::Postgres,
                "INSERT INTO catalog_prices (price_id, course_id, program_id, department_id, price_type, currency,
                     amount_minor, billing_interval, active, effective_from, effective_until, changed_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                 ON CONFLICT (price_id) DO UPDATE SET
                     active = EXCLUDED.active, effective_until = EXCLUDED.effective_until,
                     changed_at = EXCLUDED.changed_at, applied_count = catalog_prices.applied_count + 1
                 WHERE catalog_prices.changed_at <= EXCLUDED.changed_at",
                vec![
                    price_id.into(),
                    id("course_id", &e.course_id)?.into(),
                    id("program_id", &e.program_id)?.into(),
                    e.department_id.clone().into(),
                    e.price_type.clone().into(),
                    e.currency.clone().into(),
                    e.amount_minor.into(),
                    Some(e.interval.clone()).filter(|i| !i.is_empty()).into(),
                    e.active.into(),
                    effective_from.into(),
                    Value::ChronoDateTimeUtc(time("effective_until", &e.effective_until)?),
                    changed_at.into(),
                ],
            ))
            .await?;
            Ok(())
        })
    }
}
