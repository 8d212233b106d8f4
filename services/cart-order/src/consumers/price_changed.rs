//! `commerce.catalog.price.created|deactivated` → the `catalog_prices` read model.
//!
//! Runs inside the inbox transaction, so a redelivered event changes nothing. Events may arrive
//! out of order; an older change never overwrites a newer one (`changed_at`).

use bus::{Delivery, Handler, HandlerFuture};
use events::commerce::v1::PriceChanged;
use events::fields;
use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement, Value};

pub struct PriceChangedHandler;

impl Handler for PriceChangedHandler {
    fn handle<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        delivery: &'a Delivery,
    ) -> HandlerFuture<'a> {
        Box::pin(async move {
            let e: PriceChanged = delivery.decode()?;
            let price_id = fields::uuid("price_id", &e.price_id)?;
            let effective_from = fields::time("effective_from", &e.effective_from)?;
            let changed_at =
                fields::opt_time("changed_at", &e.changed_at)?.unwrap_or(delivery.envelope.time);
            let currency = fields::required("currency", &e.currency)?;
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
                    fields::opt_uuid("course_id", &e.course_id)?.into(),
                    fields::opt_uuid("program_id", &e.program_id)?.into(),
                    e.department_id.clone().into(),
                    e.price_type.clone().into(),
                    currency.into(),
                    e.amount_minor.into(),
                    Some(e.interval.clone()).filter(|i| !i.is_empty()).into(),
                    e.active.into(),
                    effective_from.into(),
                    Value::ChronoDateTimeUtc(fields::opt_time(
                        "effective_until",
                        &e.effective_until,
                    )?),
                    changed_at.into(),
                ],
            ))
            .await?;
            Ok(())
        })
    }
}
