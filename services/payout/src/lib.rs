//! The payout connector: the revenue ledger and the Payout Platform.
//!
//! `order.completed` (with the capture's transaction id and fee) → one ledger entry per paid
//! course line: gross, processor fee, net, and the platform/creator/instructor breakdown frozen
//! at purchase, in the order's and the settlement currency. `refund.issued` → reversal entries
//! split like the entry they reverse. Entries are append-only (the database refuses updates and
//! deletes). Each entry becomes one signed webhook to the Payout Platform ([`connector`]), sent
//! by the shared outbound worker. Registration events feed the reports' enrollment counts.
//!
//! # Layout
//! - [`domain`]: the ledger's arithmetic (pure), report periods, the error enum.
//! - [`routes`]: revenue reports, CSV export, parked deliveries; [`storage`]; [`views`];
//!   [`events`] (`commerce.revenue.recorded`).
//! - [`consumers`]: `order.completed`, `refund.issued`, `registration.*`.
//! - [`connector`]: the Payout Platform webhooks; [`verify`]: `commerce ledger verify`;
//!   [`config`]: the `[payout]` section; [`migration`]: schema.

pub mod config;
pub mod connector;
pub mod consumers;
pub mod domain;
pub mod events;
pub mod migration;
pub mod routes;
pub mod storage;
pub mod verify;
pub mod views;

use bus::{ConsumerSpec, FaultPlan, TuneConsumer};
use futures_util::future::BoxFuture;
use kernel::{Clock, SystemClock};
use runtime::{Context, Mounted, ServiceFactory, Settings, StartError};
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub const NAME: &str = "payout";
pub const SCHEMA: &str = "payout";
pub const ORDERS_CONSUMER: &str = "payout-orders";
pub const REFUNDS_CONSUMER: &str = "payout-refunds";
pub const REGISTRATIONS_CONSUMER: &str = "payout-registrations";
/// Deliveries of a refund before it is dead-lettered (the backoff's last step repeats).
const REFUND_MAX_DELIVER: i64 = 35;

#[derive(Clone)]
pub struct Payout {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    /// Wakes the delivery worker (a redrive).
    pub wake: Arc<Notify>,
    /// The settlement currency every report is in.
    pub settlement: String,
}

/// The payout service. Tests may inject a fault plan into its order consumer and tune it.
#[derive(Clone, Default)]
pub struct PayoutService {
    pub faults: FaultPlan,
    pub tune_consumer: Option<TuneConsumer>,
    pub clock: Option<Arc<dyn Clock>>,
}

impl ServiceFactory for PayoutService {
    fn name(&self) -> &'static str {
        NAME
    }

    fn prefixes(&self) -> &'static [&'static str] {
        &["/api/v1/revenue"]
    }

    fn openapi(&self) -> Option<utoipa::openapi::OpenApi> {
        Some(routes::openapi())
    }

    fn migrate<'a>(&'a self, settings: &'a Settings) -> BoxFuture<'a, Result<(), StartError>> {
        runtime::migrate_schema::<migration::Migrator>(settings, SCHEMA)
    }

    fn build(&self, ctx: Context) -> BoxFuture<'_, Result<Mounted, StartError>> {
        Box::pin(async move {
            let db = ctx.database::<migration::Migrator>(SCHEMA).await?;
            let relay = ctx.relay(&db);
            let cfg = config::PayoutConfig::load(&ctx.settings)?;
            let clock: Arc<dyn Clock> = self.clock.clone().unwrap_or_else(|| Arc::new(SystemClock));
            let wake = Arc::new(Notify::new());
            let client = connector::PayoutClient {
                http: bus::outbound::connector_client()
                    .map_err(|e| StartError::Other(e.to_string()))?,
                base_url: cfg.url.clone(),
                webhook_secret: cfg.webhook_secret.clone(),
                db: db.clone(),
                clock: clock.clone(),
            };
            let policy = bus::outbound::RetryPolicy::connector(
                cfg.max_attempts,
                Duration::from_millis(cfg.retry_base_ms),
            );
            let mut orders_spec = ConsumerSpec::new(
                ORDERS_CONSUMER,
                "COMMERCE",
                ::events::subjects::ORDER_COMPLETED,
            )
            // Each line's entries are inserted once, whatever the order of orders.
            .concurrent(bus::PIPELINE_CONCURRENCY)
            .waking(relay.waker());
            if let Some(tune) = &self.tune_consumer {
                tune(&mut orders_spec);
            }
            let orders = ctx.consumer_with_faults(
                &db,
                orders_spec,
                consumers::order_completed::OrderCompletedHandler {
                    wake: wake.clone(),
                    clock: clock.clone(),
                },
                self.faults.clone(),
            );
            let mut refunds_spec = ConsumerSpec::new(
                REFUNDS_CONSUMER,
                "COMMERCE",
                ::events::subjects::REFUND_ISSUED,
            )
            .waking(relay.waker());
            // A refund may overtake its order's completion or an earlier refund of its line: it
            // waits for them (about 15 minutes) before it is dead-lettered for an operator.
            refunds_spec.max_deliver = REFUND_MAX_DELIVER;
            let refunds = ctx.consumer(
                &db,
                refunds_spec,
                consumers::refund_issued::RefundIssuedHandler {
                    wake: wake.clone(),
                    clock: clock.clone(),
                },
            );
            let registrations = ctx.consumer(
                &db,
                ConsumerSpec::new(
                    REGISTRATIONS_CONSUMER,
                    "COMMERCE",
                    ::events::subjects::REGISTRATION_ALL,
                )
                .concurrent(bus::PIPELINE_CONCURRENCY),
                consumers::registration_changed::RegistrationChangedHandler,
            );
            let worker = ctx.outbound_worker(
                &db,
                storage::DELIVERIES,
                Arc::new(client),
                policy,
                clock.clone(),
                wake.clone(),
            );
            let state = Payout {
                db: db.clone(),
                clock,
                wake,
                settlement: ctx.settings.commerce.settlement_currency.clone(),
            };
            let data = actix_web::web::Data::new(state);
            Ok(Mounted {
                routes: Arc::new(move |c| routes::configure(c, data.clone())),
                tasks: vec![
                    Box::pin(relay.run(ctx.shutdown.clone())),
                    ctx.housekeeping(&db),
                    orders,
                    refunds,
                    registrations,
                    Box::pin(worker),
                ],
                ready: vec![ctx.db_ready("postgres:payout", &db)],
                filters: vec![],
            })
        })
    }
}
