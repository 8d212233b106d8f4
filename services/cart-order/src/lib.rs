//! Carts, checkout and orders.
//!
//! A cart is anonymous (keyed by `X-Session-Id`) or a user's; lines snapshot the catalog when
//! added (internal HTTP with a timeout) and are re-priced at checkout. Checkout creates one pending
//! order per cart, numbered `ORD-<year>-<n>` from a per-year sequence. Payment events complete or
//! fail it; completion publishes `order.completed` with everything downstream services need.
//! A read model of catalog prices is kept from `commerce.catalog.price.*`.
//!
//! # Layout
//! - [`domain`]: the order state machine, checkout's pure steps, the error enum and its codes.
//! - [`model`]: request shapes and the catalog snapshot (the internal contract with catalog).
//! - [`routes`]: HTTP; [`storage`]: SQL; [`views`]: API shapes; [`events`]: published events.
//! - [`consumers`]: consumed events; [`catalog`]: the catalog client; [`config`]: the
//!   `[cart_order]` section; [`migration`]: schema.

pub mod catalog;
pub mod config;
pub mod consumers;
pub mod domain;
pub mod events;
pub mod migration;
pub mod model;
pub mod pricing;
pub mod routes;
pub mod storage;
pub mod tax;
pub mod views;

use bus::{ConsumerSpec, FaultPlan, TuneConsumer};
use domain::OrderEvent;
use futures_util::future::BoxFuture;
use kernel::{Clock, Currency, SystemClock};
use runtime::{Context, Mounted, ServiceFactory, Settings, StartError};
use sea_orm::{DatabaseConnection, TransactionTrait};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

pub const NAME: &str = "cart-order";
pub const SCHEMA: &str = "cart_order";
/// Durable consumer of payment events.
pub const PAYMENTS_CONSUMER: &str = "cart-order-payments";
/// Durable consumer of refunds the processor made.
pub const REFUNDS_CONSUMER: &str = "cart-order-refunds";
/// Durable consumer of catalog price events.
pub const PRICES_CONSUMER: &str = "cart-order-catalog-prices";
/// Durable consumer of subscription events (who subscribes; an ended one's unpaid orders fail).
pub const SUBSCRIPTIONS_CONSUMER: &str = "cart-order-subscriptions";

/// The cart-order service as the runtime mounts it. Tests may tune its consumer and inject faults.
#[derive(Clone, Default)]
pub struct CartOrderService {
    pub faults: FaultPlan,
    pub tune_consumer: Option<TuneConsumer>,
    /// The clock of carts and orders (tests move it to expire them).
    pub clock: Option<Arc<dyn Clock>>,
}

impl ServiceFactory for CartOrderService {
    fn name(&self) -> &'static str {
        NAME
    }

    fn prefixes(&self) -> &'static [&'static str] {
        &[
            "/api/v2/cart",
            "/api/v2/orders",
            "/api/v2/admin/orders",
            "/api/v2/admin/discounts",
            "/api/v2/admin/tax-rates",
            "/api/v2/admin/tax-exemptions",
            "/api/v2/tax-exemptions",
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
            let cfg = config::CartOrderConfig::load(&ctx.settings)?;
            let db = ctx.database::<migration::Migrator>(SCHEMA).await?;
            let relay = ctx.relay(&db);
            let clock = self.clock.clone().unwrap_or_else(|| Arc::new(SystemClock));
            let mut spec =
                ConsumerSpec::new(PRICES_CONSUMER, "COMMERCE", ::events::subjects::PRICE_ALL);
            if let Some(tune) = &self.tune_consumer {
                tune(&mut spec);
            }
            let consumer = ctx.consumer_with_faults(
                &db,
                spec,
                consumers::price_changed::PriceChangedHandler,
                self.faults.clone(),
            );
            let payments = ctx.consumer(
                &db,
                ConsumerSpec::new(
                    PAYMENTS_CONSUMER,
                    "COMMERCE",
                    ::events::subjects::PAYMENT_ALL,
                )
                // Guarded transitions: the order of payment events does not matter.
                .concurrent(bus::PIPELINE_CONCURRENCY)
                .waking(relay.waker()),
                consumers::payment::PaymentHandler {
                    clock: clock.clone(),
                },
            );
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
                },
            );
            let subscriptions = ctx.consumer(
                &db,
                ConsumerSpec::new(
                    SUBSCRIPTIONS_CONSUMER,
                    "COMMERCE",
                    ::events::subjects::SUBSCRIPTION_ALL,
                )
                .waking(relay.waker()),
                consumers::subscriptions::SubscriptionsHandler {
                    clock: clock.clone(),
                },
            );
            let state = CartOrder {
                db: db.clone(),
                clock,
                outbox: relay.waker(),
                catalog: catalog::CatalogClient {
                    client: ctx.internal_client()?,
                    base: ctx.internal_url("catalog"),
                },
                settlement: cfg.settlement,
                cart_ttl: cfg.cart_ttl,
                pending_ttl: cfg.pending_order_ttl,
                tax: tax::Calculator::new(cfg.tax.clone())
                    .map_err(|e| StartError::Other(format!("cart_order: TaxJar client: {e}")))?,
                quote_ttl: cfg.quote_ttl,
                requote_grace: cfg.requote_grace,
                payment_base: ctx
                    .internal_url("payment")
                    .trim_end_matches('/')
                    .to_string(),
            };
            ensure_numbering(&state)
                .await
                .map_err(|e| StartError::Other(format!("order-number sequences: {e}")))?;
            let expiry = expire_loop(state.clone(), cfg.expiry_interval, ctx.shutdown.clone());
            let data = actix_web::web::Data::new(state);
            Ok(Mounted {
                routes: Arc::new(move |cfg| routes::configure(cfg, data.clone())),
                tasks: vec![
                    Box::pin(relay.run(ctx.shutdown.clone())),
                    ctx.housekeeping(&db),
                    consumer,
                    payments,
                    refunds,
                    subscriptions,
                    Box::pin(expiry),
                ],
                ready: vec![ctx.db_ready("postgres:cart-order", &db)],
                filters: vec![],
            })
        })
    }
}

/// Shared state of cart-order's routes.
#[derive(Clone)]
pub struct CartOrder {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub outbox: Arc<Notify>,
    pub catalog: catalog::CatalogClient,
    pub settlement: Currency,
    pub cart_ttl: chrono::Duration,
    pub pending_ttl: chrono::Duration,
    pub tax: tax::Calculator,
    /// How long an order's display-currency quote holds, and how long after its expiry it may
    /// be re-quoted.
    pub quote_ttl: chrono::Duration,
    pub requote_grace: chrono::Duration,
    /// payment's internal base URL: which courses a learner's subscriptions cover.
    pub payment_base: String,
}

/// Removes expired carts and fails orders left unpaid past their time, every `every`.
async fn expire_loop(state: CartOrder, every: Duration, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = expire_once(&state).await {
            tracing::warn!(error = %e, "expiry pass failed");
        }
    }
}

/// This year's and next year's order-number sequences exist before any checkout needs them.
async fn ensure_numbering(state: &CartOrder) -> Result<(), sea_orm::DbErr> {
    use chrono::Datelike;
    let year = state.clock.now().year();
    storage::ensure_order_number_sequences(&state.db, &[year, year + 1]).await
}

/// One expiry pass (also called by tests).
pub async fn expire_once(state: &CartOrder) -> Result<(), web::ApiError> {
    // Next year's numbering is made ahead of time; a failure here must not stop expiry.
    if let Err(e) = ensure_numbering(state).await {
        tracing::warn!(error = %e, "order-number sequences not ensured");
    }
    let now = state.clock.now();
    storage::expire_carts(&state.db, now).await?;
    for id in storage::stale_pending(&state.db, now - state.pending_ttl).await? {
        let txn = state.db.begin().await?;
        if let Some(order) = storage::lock_order(&txn, id).await? {
            storage::fail(
                &txn,
                &order,
                OrderEvent::Expired,
                None,
                "expired: not paid in time",
                now,
            )
            .await?;
        }
        txn.commit().await?;
    }
    state.outbox.notify_one();
    Ok(())
}
