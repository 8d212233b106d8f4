//! The catalog: courses, programs, department subscription plans, prices with history, and
//! exchange rates for display currencies. Public browsing and admin management; every change is
//! published as a `commerce.v1` catalog event through the outbox.
//!
//! # Layout
//! - [`domain`]: the rules of courses, programs, prices, departments and exchange rates
//!   (parse, don't validate), availability and display conversion, and the error enum with its
//!   stable codes. Pure: unit-tested without Postgres.
//! - [`model`]: request shapes (bodies, queries, path ids).
//! - [`routes`]: HTTP, one file per resource (`courses`, `programs`, `departments`, `prices`,
//!   `exchange_rates`, and `items`, the internal item endpoint); [`storage`]: SQL, one file per
//!   table, composable in one transaction; [`views`]: API response shapes; [`events`]: the
//!   published catalog events.
//! - [`config`]: the settlement currency; [`migration`]: the `catalog` schema.
//!
//! The catalog consumes no events.

pub mod config;
pub mod domain;
pub mod events;
pub mod migration;
pub mod model;
pub mod routes;
pub mod storage;
pub mod views;

use futures_util::future::BoxFuture;
use kernel::{Clock, Currency, SystemClock};
use runtime::{Context, Mounted, ServiceFactory, Settings, StartError};
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use tokio::sync::Notify;

pub const NAME: &str = "catalog";
pub const SCHEMA: &str = "catalog";

/// Shared state of the catalog's routes.
#[derive(Clone)]
pub struct Catalog {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    /// Nudges the outbox relay after a commit.
    pub outbox: Arc<Notify>,
    /// The currency prices are set in ([`config::CatalogConfig`]).
    pub settlement: Currency,
    /// The public answers kept in memory ([`routes::public_cache`]).
    pub public: Arc<routes::public_cache::PublicCache>,
}

impl Catalog {
    /// After a write commits: wake the outbox relay and drop the cached public answers.
    pub fn committed(&self) {
        self.outbox.notify_one();
        self.public.invalidate();
    }
}

/// The catalog as the runtime mounts it.
pub struct CatalogService;

impl ServiceFactory for CatalogService {
    fn name(&self) -> &'static str {
        NAME
    }

    fn prefixes(&self) -> &'static [&'static str] {
        &[
            "/api/v2/catalog",
            "/api/v2/admin/pricing",
            "/api/v2/admin/catalog",
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
            let cfg = config::CatalogConfig::load(&ctx.settings)?;
            let db = ctx.database::<migration::Migrator>(SCHEMA).await?;
            let relay = ctx.relay(&db);
            let state = Catalog {
                db: db.clone(),
                clock: Arc::new(SystemClock),
                outbox: relay.waker(),
                settlement: cfg.settlement,
                public: Arc::default(),
            };
            let freshness =
                invalidate_on_events(ctx.bus.clone(), state.public.clone(), ctx.shutdown.clone());
            let data = actix_web::web::Data::new(state);
            Ok(Mounted {
                routes: Arc::new(move |cfg| routes::configure(cfg, data.clone())),
                tasks: vec![
                    Box::pin(relay.run(ctx.shutdown.clone())),
                    ctx.housekeeping(&db),
                    Box::pin(freshness),
                ],
                ready: vec![ctx.db_ready("postgres:catalog", &db)],
                filters: vec![],
            })
        })
    }
}

/// Drops the cached public answers whenever a catalog event passes on the bus, whichever
/// instance wrote it (a plain subscription: nothing is consumed or acknowledged).
async fn invalidate_on_events(
    bus: bus::Bus,
    cache: Arc<routes::public_cache::PublicCache>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    use futures_util::StreamExt;
    let subject = bus.subject(::events::subjects::CATALOG_ALL);
    let mut sub = match bus.client().subscribe(subject.clone()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, %subject, "catalog cache cannot follow catalog events; answers live at most 1 s");
            return;
        }
    };
    loop {
        tokio::select! {
            m = sub.next() => match m {
                Some(_) => cache.invalidate(),
                None => return,
            },
            _ = shutdown.changed() => return,
        }
    }
}
