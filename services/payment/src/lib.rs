//! Payments: intents and confirmations through a [`processor::PaymentProcessor`] chosen per
//! department (the offline `sandbox` today), processor webhooks, history, and an append-only
//! audit log. A client confirmation and a webhook for the same payment, in any order and any
//! number of times, settle it once: one `payment.succeeded` (or `payment.failed`).
//!
//! # Layout
//! - [`domain`]: the payment state machine and the error enum with its stable codes.
//! - [`processor`]: the connector trait, the per-department factory, one folder per provider.
//! - [`routes`]: HTTP; [`storage`]: payments, transitions, audit; [`views`]; [`events`].
//! - [`consumers`]: processor webhooks; [`config`]: the `[payment]` section; [`migration`]: schema.

pub mod config;
pub mod consumers;
pub mod domain;
pub mod events;
pub mod migration;
pub mod processor;
pub mod routes;
pub mod storage;
pub mod views;

use bus::ConsumerSpec;
use futures_util::future::BoxFuture;
use kernel::{Clock, SystemClock};
use runtime::{Context, Mounted, ServiceFactory, Settings, StartError};
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use tokio::sync::Notify;
use web::internal::InternalClient;

pub const NAME: &str = "payment";
pub const SCHEMA: &str = "payment";
pub const WEBHOOK_CONSUMER: &str = "payment-processor-webhooks";
/// Durable consumer of rejected registrations (each asks for its line's refund).
pub const REJECTIONS_CONSUMER: &str = "payment-registration-rejections";
/// Durable consumer of learners' refund requests (from cart-order).
pub const REFUND_REQUESTS_CONSUMER: &str = "payment-refund-requests";

#[derive(Clone)]
pub struct Payment {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub outbox: Arc<Notify>,
    pub processors: processor::Processors,
    pub orders: InternalClient,
    pub orders_base: String,
}

/// The payment service as the runtime mounts it; tests may give it their own clock.
#[derive(Clone, Default)]
pub struct PaymentService {
    pub clock: Option<Arc<dyn Clock>>,
}

impl ServiceFactory for PaymentService {
    fn name(&self) -> &'static str {
        NAME
    }

    fn prefixes(&self) -> &'static [&'static str] {
        &[
            "/api/v2/payments",
            "/api/v2/admin/payments",
            "/api/v2/admin/refunds",
        ]
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
            let cfg = config::PaymentConfig::load(&ctx.settings)?;
            let clock: Arc<dyn Clock> = self.clock.clone().unwrap_or_else(|| Arc::new(SystemClock));
            let webhook_url = if cfg.sandbox_webhook_url.is_empty() {
                format!(
                    "{}/api/v2/payments/webhook/sandbox",
                    ctx.internal_url("gateway")
                )
            } else {
                cfg.sandbox_webhook_url.clone()
            };
            let sandbox = processor::sandbox::Sandbox::new(
                cfg.sandbox_webhook_secret.clone(),
                &webhook_url,
                clock.clone(),
                processor::sandbox::transformers::FeePolicy {
                    bps: cfg.sandbox_fee_bps,
                    fixed_minor: cfg.sandbox_fee_fixed_minor,
                },
            )
            .map_err(|e| StartError::Other(e.to_string()))?;
            let processors = processor::Processors::new(
                &cfg.default_processor,
                cfg.processors_by_department.clone(),
                vec![Arc::new(sandbox)],
            )
            .map_err(StartError::Other)?;
            let state = Payment {
                db: db.clone(),
                clock: clock.clone(),
                outbox: relay.waker(),
                processors: processors.clone(),
                orders: ctx.internal_client()?,
                orders_base: ctx
                    .internal_url("cart-order")
                    .trim_end_matches('/')
                    .to_string(),
            };
            let webhooks = ctx.consumer(
                &db,
                ConsumerSpec::new(
                    WEBHOOK_CONSUMER,
                    "INBOUND",
                    ::events::subjects::INBOUND_PROCESSOR_ALL,
                )
                .waking(relay.waker()),
                consumers::webhook::WebhookHandler { processors, clock },
            );
            let requests = ctx.consumer(
                &db,
                ConsumerSpec::new(
                    REFUND_REQUESTS_CONSUMER,
                    "COMMERCE",
                    ::events::subjects::REFUND_REQUESTED,
                ),
                consumers::refund_requested::RefundRequestedHandler {
                    clock: state.clock.clone(),
                },
            );
            let rejections = ctx.consumer(
                &db,
                ConsumerSpec::new(
                    REJECTIONS_CONSUMER,
                    "COMMERCE",
                    &::events::subjects::registration("rejected"),
                ),
                consumers::registration_rejected::RegistrationRejectedHandler {
                    clock: state.clock.clone(),
                },
            );
            let data = actix_web::web::Data::new(state);
            Ok(Mounted {
                routes: Arc::new(move |c| routes::configure(c, data.clone())),
                tasks: vec![
                    Box::pin(relay.run(ctx.shutdown.clone())),
                    ctx.housekeeping(&db),
                    webhooks,
                    requests,
                    rejections,
                ],
                ready: vec![ctx.db_ready("postgres:payment", &db)],
                filters: vec![],
            })
        })
    }
}
