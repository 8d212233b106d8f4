//! Registrations and the LMS connector.
//!
//! `order.completed` → one registration per course bought; approval-required courses wait for an
//! enrollment-admin, the rest are approved at once. Each approved registration becomes one
//! enrollment request to the LMS ([`lms`]), delivered with retries and one idempotency id. The
//! LMS answers with a signed `enrollment-status` webhook (relayed by the gateway) that marks the
//! registration enrolled or rejected. Every transition publishes `commerce.registration.<status>`.
//!
//! # Layout
//! - [`domain`]: the registration state machine and the error enum with its stable codes.
//! - [`routes`]: HTTP; [`storage`]: registrations and deliveries; [`views`]; [`events`].
//! - [`consumers`]: `order.completed` and the LMS's enrollment-status webhook.
//! - [`lms`]: the LMS connector (enrollment requests); [`config`]: the `[registration]`
//!   section; [`migration`]: schema.

pub mod config;
pub mod consumers;
pub mod domain;
pub mod events;
pub mod lms;
pub mod migration;
pub mod routes;
pub mod storage;
pub mod views;

use bus::{ConsumerSpec, FaultPlan, TuneConsumer};
use futures_util::future::BoxFuture;
use kernel::{Clock, SystemClock};
use runtime::{Context, Mounted, ServiceFactory, Settings, StartError};
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub const NAME: &str = "registration";
pub const SCHEMA: &str = "registration";
pub const ORDERS_CONSUMER: &str = "registration-orders";
pub const LMS_STATUS_CONSUMER: &str = "registration-lms-status";
/// Durable consumer of refunds (a full refund cancels the order's registrations).
pub const REFUNDS_CONSUMER: &str = "registration-refunds";
/// Durable consumer of subscriptions whose access ended (their registrations are cancelled).
pub const SUBSCRIPTIONS_CONSUMER: &str = "registration-subscriptions-ended";

#[derive(Clone)]
pub struct Registration {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub outbox: Arc<Notify>,
    /// Wakes the delivery worker.
    pub wake: Arc<Notify>,
}

/// The registration service. Tests may inject a fault plan into its order consumer and tune it.
#[derive(Clone, Default)]
pub struct RegistrationService {
    pub faults: FaultPlan,
    pub tune_consumer: Option<TuneConsumer>,
    /// The clock of reviews, webhooks and enrollment requests (tests may move it).
    pub clock: Option<Arc<dyn Clock>>,
}

impl ServiceFactory for RegistrationService {
    fn name(&self) -> &'static str {
        NAME
    }

    fn prefixes(&self) -> &'static [&'static str] {
        &["/api/v2/registrations", "/api/v2/admin/registrations"]
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
            let cfg = config::RegistrationConfig::load(&ctx.settings)?;
            let wake = Arc::new(Notify::new());
            let lms = lms::LmsClient {
                http: bus::outbound::connector_client()
                    .map_err(|e| StartError::Other(e.to_string()))?,
                base_url: cfg.lms_url.clone(),
                api_key: cfg.lms_api_key.clone(),
                db: db.clone(),
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
            // Each order's registrations are inserted once, whatever the order of orders.
            .concurrent(bus::PIPELINE_CONCURRENCY)
            .waking(relay.waker());
            if let Some(tune) = &self.tune_consumer {
                tune(&mut orders_spec);
            }
            let clock: Arc<dyn Clock> = self.clock.clone().unwrap_or_else(|| Arc::new(SystemClock));
            let orders = ctx.consumer_with_faults(
                &db,
                orders_spec,
                consumers::order_completed::OrderCompletedHandler {
                    wake: wake.clone(),
                    clock: clock.clone(),
                },
                self.faults.clone(),
            );
            let statuses = ctx.consumer(
                &db,
                ConsumerSpec::new(
                    LMS_STATUS_CONSUMER,
                    "INBOUND",
                    ::events::subjects::INBOUND_LMS_ENROLLMENT_STATUS,
                )
                // Guarded transitions under the registration's row lock.
                .concurrent(bus::PIPELINE_CONCURRENCY)
                .waking(relay.waker()),
                consumers::enrollment_status::EnrollmentStatusHandler {
                    secret: cfg.lms_webhook_secret.clone(),
                    clock: clock.clone(),
                },
            );
            let unenroll_wake = Arc::new(Notify::new());
            let refunds = ctx.consumer(
                &db,
                ConsumerSpec::new(
                    REFUNDS_CONSUMER,
                    "COMMERCE",
                    ::events::subjects::REFUND_ISSUED,
                )
                .waking(relay.waker()),
                consumers::refund_issued::RefundIssuedHandler {
                    clock: clock.clone(),
                    wake: unenroll_wake.clone(),
                },
            );
            let subscriptions = ctx.consumer(
                &db,
                ConsumerSpec::new(
                    SUBSCRIPTIONS_CONSUMER,
                    "COMMERCE",
                    &::events::subjects::subscription("ended"),
                )
                .waking(relay.waker()),
                consumers::subscription_ended::SubscriptionEndedHandler {
                    clock: clock.clone(),
                    wake: unenroll_wake.clone(),
                },
            );
            let unenrollments = ctx.outbound_worker(
                &db,
                storage::UNENROLLMENTS,
                Arc::new(lms::Unenrollments(lms.clone())),
                policy,
                clock.clone(),
                unenroll_wake,
            );
            let worker = ctx.outbound_worker(
                &db,
                storage::DELIVERIES,
                Arc::new(lms),
                policy,
                clock.clone(),
                wake.clone(),
            );
            let state = Registration {
                db: db.clone(),
                clock,
                outbox: relay.waker(),
                wake,
            };
            let data = actix_web::web::Data::new(state);
            Ok(Mounted {
                routes: Arc::new(move |c| routes::configure(c, data.clone())),
                tasks: vec![
                    Box::pin(relay.run(ctx.shutdown.clone())),
                    ctx.housekeeping(&db),
                    orders,
                    statuses,
                    refunds,
                    subscriptions,
                    Box::pin(worker),
                    Box::pin(unenrollments),
                ],
                ready: vec![ctx.db_ready("postgres:registration", &db)],
                filters: vec![],
            })
        })
    }
}
