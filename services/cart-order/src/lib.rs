//! Cart and orders. For now it keeps the read model it will price carts from: the catalog's
//! current prices, fed by `commerce.catalog.price.*` events through an idempotent consumer.
//!
//! # Layout
//! - [`handlers`]: one file per consumed event.
//! - [`migration`]: the `cart_order` schema.

pub mod handlers;
pub mod migration;

use bus::{ConsumerSpec, FaultPlan};
use futures_util::future::BoxFuture;
use runtime::{Context, Mounted, ServiceFactory, Settings, StartError};
use std::sync::Arc;

pub const NAME: &str = "cart-order";
pub const SCHEMA: &str = "cart_order";
/// Durable consumer of catalog price events.
pub const PRICES_CONSUMER: &str = "cart-order-catalog-prices";

/// Adjusts a consumer's limits (tests shorten ack waits and backoff).
pub type TuneConsumer = Arc<dyn Fn(&mut ConsumerSpec) + Send + Sync>;

/// The cart-order service as the runtime mounts it. Tests may tune its consumer and inject faults.
#[derive(Clone, Default)]
pub struct CartOrderService {
    pub faults: FaultPlan,
    pub tune_consumer: Option<TuneConsumer>,
}

impl ServiceFactory for CartOrderService {
    fn name(&self) -> &'static str {
        NAME
    }

    fn migrate<'a>(&'a self, settings: &'a Settings) -> BoxFuture<'a, Result<(), StartError>> {
        Box::pin(async move {
            db::connect_and_migrate::<migration::Migrator>(&settings.db(), SCHEMA).await?;
            Ok(())
        })
    }

    fn build(&self, ctx: Context) -> BoxFuture<'_, Result<Mounted, StartError>> {
        Box::pin(async move {
            let db = ctx.database::<migration::Migrator>(SCHEMA).await?;
            let relay = ctx.relay(&db);
            let mut spec =
                ConsumerSpec::new(PRICES_CONSUMER, "COMMERCE", events::subjects::PRICE_ALL);
            if let Some(tune) = &self.tune_consumer {
                tune(&mut spec);
            }
            let consumer = bus::inbox::run_consumer(
                ctx.bus.clone(),
                db.clone(),
                spec,
                Arc::new(handlers::price_changed::PriceChangedHandler),
                self.faults.clone(),
                ctx.shutdown.clone(),
            );
            Ok(Mounted {
                routes: Arc::new(|_| {}),
                tasks: vec![
                    Box::pin(relay.run(ctx.shutdown.clone())),
                    Box::pin(consumer),
                ],
                ready: vec![ctx.db_ready("postgres:cart-order", &db)],
                filters: vec![],
            })
        })
    }
}
