//! One runtime, many shapes: any set of services runs in one process behind one HTTP listener,
//! through the same [`Host`] the tests use. Splitting into Kubernetes Deployments changes the
//! `--services` list and the gateway's upstreams, not code.
//!
//! # Layout
//! - [`settings`]: layered configuration.
//! - [`ServiceFactory`]: what a service provides: schema and migrations, routes, OpenAPI document,
//!   background tasks (outbox relay, consumers), readiness checks, request filters.
//! - [`Host`]: connects, migrates, mounts, serves, and shuts everything down.

pub mod settings;

use actix_web::dev::ServiceRequest;
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpServer, web as aweb};
use futures_util::future::BoxFuture;
use sea_orm::DatabaseConnection;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use web::observe::{Health, ReadyCheck};

pub use settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Settings(#[from] settings::SettingsError),
    #[error("database: {0}")]
    Db(#[from] db::DbError),
    #[error("migration: {0}")]
    Migration(#[from] sea_orm::DbErr),
    #[error("event bus: {0}")]
    Bus(#[from] bus::BusError),
    #[error("auth: {0}")]
    Auth(#[from] web::auth::AuthSetupError),
    #[error("http: {0}")]
    Io(#[from] std::io::Error),
    #[error("unknown service `{0}`")]
    UnknownService(String),
    #[error("{0}")]
    Other(String),
}

/// A synchronous check run before routing (the gateway's rate limiter).
pub type RequestFilter = Arc<dyn Fn(&ServiceRequest) -> Result<(), web::ApiError> + Send + Sync>;
pub type Routes = Arc<dyn Fn(&mut aweb::ServiceConfig) + Send + Sync>;

/// What the host needs to know about the services of this process.
#[derive(Clone)]
pub struct Context {
    pub settings: Arc<Settings>,
    pub bus: bus::Bus,
    pub verifier: aweb::Data<web::Verifier>,
    pub shutdown: watch::Receiver<bool>,
    /// The services running in this process (the gateway routes these in-process).
    pub local_services: Vec<String>,
    /// OpenAPI documents of every service the gateway routes, for the merged document.
    pub openapi: Vec<(String, utoipa::openapi::OpenApi)>,
    /// The path prefixes each known service declares ([`ServiceFactory::prefixes`]).
    pub prefixes: Vec<(String, &'static [&'static str])>,
    /// This process's own base URL (for calls to co-hosted services).
    pub self_url: String,
    /// Every durable consumer the mounted services asked for (`commerce setup-jetstream`
    /// declares them without serving).
    pub consumers: Arc<std::sync::Mutex<Vec<bus::ConsumerSpec>>>,
    /// The outboxes and outbound tables of the mounted services, whose backlog the host samples
    /// into gauges ([`bus::gauges`]).
    pub sampled: Arc<std::sync::Mutex<Vec<Sampled>>>,
}

/// What the host's gauges read on each sample.
#[derive(Clone)]
pub enum Sampled {
    Outbox(DatabaseConnection),
    Outbound {
        db: DatabaseConnection,
        table: bus::outbound::OutboundTable,
        sender: &'static str,
    },
}

impl Context {
    /// Connects to this service's schema and migrates it when configured to.
    pub async fn database<M: sea_orm_migration::MigratorTrait>(
        &self,
        schema: &str,
    ) -> Result<DatabaseConnection, StartError> {
        let conn = if self.settings.database.auto_migrate {
            db::connect_and_migrate::<M>(&self.settings.db(), schema).await?
        } else {
            db::connect(&self.settings.db(), schema).await?
        };
        Ok(conn)
    }

    /// Base URL of `service` for internal calls: configured, or this process when co-hosted.
    pub fn internal_url(&self, service: &str) -> String {
        self.settings
            .internal
            .urls
            .get(service)
            .filter(|u| !u.is_empty())
            .cloned()
            .unwrap_or_else(|| self.self_url.clone())
    }

    /// An HTTP client for internal calls, with the configured timeout and the internal key.
    pub fn internal_client(&self) -> Result<web::internal::InternalClient, StartError> {
        web::internal::InternalClient::new(
            self.settings.internal.api_key.expose(),
            Duration::from_millis(self.settings.internal.timeout_ms),
        )
        .map_err(|e| StartError::Other(format!("internal http client: {e}")))
    }

    fn sample(&self, what: Sampled) {
        if let Ok(mut sampled) = self.sampled.lock() {
            sampled.push(what);
        }
    }

    /// A worker delivering `table`'s requests through `sender` until shutdown (see
    /// [`bus::outbound::run_worker`]); its backlog and parked requests become gauges.
    pub fn outbound_worker(
        &self,
        db: &DatabaseConnection,
        table: bus::outbound::OutboundTable,
        sender: Arc<dyn bus::outbound::Sender>,
        policy: bus::outbound::RetryPolicy,
        clock: Arc<dyn kernel::Clock>,
        wake: Arc<tokio::sync::Notify>,
    ) -> BoxFuture<'static, ()> {
        self.sample(Sampled::Outbound {
            db: db.clone(),
            table,
            sender: sender.name(),
        });
        Box::pin(bus::outbound::run_worker(
            db.clone(),
            table,
            sender,
            policy,
            clock,
            wake,
            self.shutdown.clone(),
        ))
    }

    /// The standard outbox relay of a service.
    pub fn relay(&self, db: &DatabaseConnection) -> bus::OutboxRelay {
        self.sample(Sampled::Outbox(db.clone()));
        bus::OutboxRelay::new(
            db.clone(),
            self.bus.clone(),
            Duration::from_millis(self.settings.outbox.poll_ms),
            Duration::from_secs(self.settings.outbox.retention_hours * 3600),
        )
    }

    /// A durable consumer of `spec` running `handler` until shutdown, as a task for [`Mounted`].
    pub fn consumer(
        &self,
        db: &DatabaseConnection,
        spec: bus::ConsumerSpec,
        handler: impl bus::Handler,
    ) -> BoxFuture<'static, ()> {
        self.consumer_with_faults(db, spec, handler, bus::FaultPlan::default())
    }

    /// As [`Context::consumer`], with a fault plan (tests kill the consumer mid-handling).
    pub fn consumer_with_faults(
        &self,
        db: &DatabaseConnection,
        spec: bus::ConsumerSpec,
        handler: impl bus::Handler,
        faults: bus::FaultPlan,
    ) -> BoxFuture<'static, ()> {
        if let Ok(mut declared) = self.consumers.lock() {
            declared.push(spec.clone());
        }
        Box::pin(bus::inbox::run_consumer(
            self.bus.clone(),
            db.clone(),
            spec,
            Arc::new(handler),
            faults,
            self.shutdown.clone(),
        ))
    }

    /// Hourly upkeep of the tables every service keeps: `Idempotency-Key` records older than two
    /// days are removed (clients retry well within that; Stripe keeps keys 24 hours).
    pub fn housekeeping(&self, db: &DatabaseConnection) -> BoxFuture<'static, ()> {
        let db = db.clone();
        let mut shutdown = self.shutdown.clone();
        Box::pin(async move {
            loop {
                match web::idempotency::prune(&db, 48).await {
                    Ok(n) if n > 0 => tracing::info!(removed = n, "idempotency keys pruned"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "idempotency prune failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                    _ = shutdown.changed() => return,
                }
            }
        })
    }

    /// The readiness check of a service's database.
    pub fn db_ready(&self, name: &str, db: &DatabaseConnection) -> ReadyCheck {
        let db = db.clone();
        ReadyCheck {
            name: name.to_string(),
            check: Arc::new(move || {
                let db = db.clone();
                Box::pin(async move {
                    if db::ping(&db).await {
                        Ok(())
                    } else {
                        Err("postgres unreachable".into())
                    }
                })
            }),
        }
    }
}

/// A service mounted in a host.
pub struct Mounted {
    pub routes: Routes,
    pub tasks: Vec<BoxFuture<'static, ()>>,
    pub ready: Vec<ReadyCheck>,
    pub filters: Vec<RequestFilter>,
}

/// What each service provides to the runtime.
pub trait ServiceFactory: Send + Sync {
    fn name(&self) -> &'static str;
    /// The service's OpenAPI document (none for services without HTTP endpoints).
    fn openapi(&self) -> Option<utoipa::openapi::OpenApi> {
        None
    }
    /// The path prefixes the service serves through the gateway (whole segments), so the gateway
    /// routes from what each service declares rather than from a list of its own.
    fn prefixes(&self) -> &'static [&'static str] {
        &[]
    }
    /// Brings the service's schema up to date (`commerce migrate`).
    fn migrate<'a>(&'a self, settings: &'a Settings) -> BoxFuture<'a, Result<(), StartError>>;
    /// Connects, migrates when configured, and returns routes and background work.
    fn build(&self, ctx: Context) -> BoxFuture<'_, Result<Mounted, StartError>>;
}

/// A running process: one listener, the mounted services, their background tasks.
pub struct Host {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    server: actix_web::dev::ServerHandle,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pub bus: bus::Bus,
}

impl Host {
    /// Starts `selected` services (names from `factories`; `all` selects every one).
    pub async fn start(
        settings: Settings,
        factories: &[Arc<dyn ServiceFactory>],
        selected: &[String],
    ) -> Result<Host, StartError> {
        telemetry::init(&telemetry::TelemetryConfig {
            service_name: "cadence-commerce".into(),
            json: settings.telemetry.json,
            filter: settings.telemetry.filter.clone(),
            otlp_endpoint: settings
                .telemetry
                .otlp_endpoint
                .clone()
                .filter(|e| !e.is_empty()),
        })
        .map_err(|e| StartError::Other(e.to_string()))?;
        // Install the metrics recorder before anything records.
        let _ = web::observe::prometheus();
        let chosen = resolve(factories, selected)?;
        let settings = Arc::new(settings);
        let bus = bus::Bus::connect(&settings.bus()).await?;
        if let Err(e) = bus.ensure_streams().await {
            tracing::warn!(error = %e, "streams not declared yet (NATS unavailable?); will retry");
        }
        let verifier = aweb::Data::new(web::Verifier::new(settings.auth.clone()).await?);
        let (tx, rx) = watch::channel(false);
        let local: Vec<String> = chosen.iter().map(|f| f.name().to_string()).collect();
        let openapi = factories
            .iter()
            .filter_map(|f| f.openapi().map(|o| (f.name().to_string(), o)))
            .collect();
        let prefixes = factories
            .iter()
            .map(|f| (f.name().to_string(), f.prefixes()))
            .filter(|(_, p)| !p.is_empty())
            .collect();
        // Bind first so services know this process's own address for internal calls.
        let listener = TcpListener::bind((settings.http.host.as_str(), settings.http.port))?;
        let addr = listener.local_addr()?;
        let self_url = format!("http://127.0.0.1:{}", addr.port());
        let internal = web::internal::InternalKey::new(settings.internal.api_key.expose());
        let ctx = Context {
            self_url: self_url.clone(),
            settings: settings.clone(),
            bus: bus.clone(),
            verifier: verifier.clone(),
            shutdown: rx,
            local_services: local.clone(),
            openapi,
            prefixes,
            consumers: Arc::default(),
            sampled: Arc::default(),
        };
        let mut mounted = Vec::new();
        for f in &chosen {
            tracing::info!(service = f.name(), "starting");
            mounted.push(f.build(ctx.clone()).await?);
        }
        let mut health = Health::default();
        let nats = bus.clone();
        health.checks.push(ReadyCheck {
            name: "nats".into(),
            check: Arc::new(move || {
                let connected = nats.is_connected();
                Box::pin(async move {
                    if connected {
                        Ok(())
                    } else {
                        Err("nats unreachable".into())
                    }
                })
            }),
        });
        let mut routes: Vec<Routes> = Vec::new();
        let mut filters: Vec<RequestFilter> = Vec::new();
        let mut tasks = Vec::new();
        for m in mounted {
            health.checks.extend(m.ready);
            routes.push(m.routes);
            filters.extend(m.filters);
            for t in m.tasks {
                tasks.push(tokio::spawn(t));
            }
        }
        let every = Duration::from_secs(settings.telemetry.sample_secs);
        if !every.is_zero() {
            tasks.push(tokio::spawn(sample_backbone(ctx.clone(), every)));
        }
        let filters = Arc::new(filters);
        let body_limit = settings.http.body_limit;
        let server = HttpServer::new(move || {
            let routes = routes.clone();
            let health = health.clone();
            let verifier = verifier.clone();
            let filters = filters.clone();
            App::new()
                .app_data(verifier)
                .app_data(internal.clone())
                .configure(|c| web::configure_extractors(c, body_limit))
                .configure(|c| web::observe::configure(c, health))
                .configure(move |c| {
                    for r in &routes {
                        r(c);
                    }
                })
                .default_service(aweb::to(web::problem::not_found_route))
                .wrap(from_fn(move |req: ServiceRequest, next: Next<_>| {
                    let filters = filters.clone();
                    async move {
                        for f in filters.iter() {
                            f(&req)?;
                        }
                        next.call(req).await
                    }
                }))
                .wrap(from_fn(web::problem::router_problems))
                .wrap(from_fn(web::observe::observe))
        })
        .workers(settings.http.workers)
        .disable_signals()
        .shutdown_timeout(5)
        .listen(listener)?
        .run();
        let handle = server.handle();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::error!(error = %e, "http server stopped");
            }
        }));
        tracing::info!(%addr, services = ?local, "listening");
        Ok(Host {
            addr,
            shutdown: tx,
            server: handle,
            tasks,
            bus,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Stops serving, tells background tasks to finish, and waits for them (bounded).
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        self.server.stop(true).await;
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }

    /// Runs until Ctrl-C or SIGTERM, then stops.
    pub async fn run_until_signal(self) {
        wait_for_signal().await;
        tracing::info!("shutting down");
        self.stop().await;
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn sample_failed(what: &'static str, error: &str) {
    tracing::warn!(what, error, "backbone sample failed");
    metrics::counter!("backbone_sample_failures_total", "what" => what).increment(1);
}

/// Samples the backbone's gauges every `every` until shutdown: each outbox, outbound table and
/// durable consumer of this process, and the dead-letter stream. A failed sample is logged,
/// counted in `backbone_sample_failures_total` (an outage must not read as "nothing waits"),
/// and leaves the last value.
async fn sample_backbone(ctx: Context, every: Duration) {
    let mut shutdown = ctx.shutdown.clone();
    loop {
        let sampled = ctx.sampled.lock().map(|s| s.clone()).unwrap_or_default();
        for s in &sampled {
            let r = match s {
                Sampled::Outbox(db) => bus::gauges::sample_outbox(db).await,
                Sampled::Outbound { db, table, sender } => {
                    bus::gauges::sample_outbound(db, table, sender).await
                }
            };
            if let Err(e) = r {
                sample_failed("database", &e.to_string());
            }
        }
        let consumers = ctx.consumers.lock().map(|c| c.clone()).unwrap_or_default();
        for spec in &consumers {
            if let Err(e) = bus::gauges::sample_consumer(&ctx.bus, spec).await {
                sample_failed("consumer", &e.to_string());
            }
        }
        if let Err(e) = bus::gauges::sample_dead_letters(&ctx.bus).await {
            sample_failed("dead_letters", &e.to_string());
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Declares every JetStream stream and the durable consumers of the `selected` services, then
/// returns the consumers declared (`commerce setup-jetstream`, a cluster's setup Job). Idempotent:
/// what exists is kept. The services are built (they connect to their schemas) but never
/// served: nothing they would run is started.
pub async fn setup_jetstream(
    settings: Settings,
    factories: &[Arc<dyn ServiceFactory>],
    selected: &[String],
) -> Result<Vec<bus::ConsumerSpec>, StartError> {
    let chosen = resolve(factories, selected)?;
    let settings = Arc::new(settings);
    let bus = bus::Bus::connect(&settings.bus()).await?;
    bus.ensure_streams().await?;
    let (_tx, rx) = watch::channel(true);
    let ctx = Context {
        settings: settings.clone(),
        bus: bus.clone(),
        verifier: aweb::Data::new(web::Verifier::new(settings.auth.clone()).await?),
        shutdown: rx,
        local_services: chosen.iter().map(|f| f.name().to_string()).collect(),
        openapi: Vec::new(),
        prefixes: Vec::new(),
        self_url: String::new(),
        consumers: Arc::default(),
        sampled: Arc::default(),
    };
    for f in &chosen {
        // Only what the build declared is kept; its routes and tasks are dropped unstarted.
        drop(f.build(ctx.clone()).await?);
    }
    let specs = match ctx.consumers.lock() {
        Ok(specs) => specs.clone(),
        Err(_) => return Err(StartError::Other("consumer list poisoned".into())),
    };
    for spec in &specs {
        bus::inbox::declare_consumer(&bus, spec).await?;
    }
    Ok(specs)
}

/// Picks factories by name; `all` picks every one. Unknown names are an error.
pub fn resolve(
    factories: &[Arc<dyn ServiceFactory>],
    selected: &[String],
) -> Result<Vec<Arc<dyn ServiceFactory>>, StartError> {
    if selected.iter().any(|s| s == "all") {
        return Ok(factories.to_vec());
    }
    selected
        .iter()
        .map(|name| {
            factories
                .iter()
                .find(|f| f.name() == name)
                .cloned()
                .ok_or_else(|| StartError::UnknownService(name.clone()))
        })
        .collect()
}

/// The body of a single-service `main`: `<service> [--config FILE]`.
pub async fn serve_one(factory: Arc<dyn ServiceFactory>) -> std::process::ExitCode {
    telemetry::install_crypto_provider();
    let config = std::env::args().skip_while(|a| a != "--config").nth(1);
    let settings = match Settings::load(config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let name = factory.name().to_string();
    match Host::start(settings, &[factory], std::slice::from_ref(&name)).await {
        Ok(host) => {
            host.run_until_signal().await;
            telemetry::shutdown();
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The tables every service keeps beside its own: outbox, inbox and idempotency keys. A service's
/// first migration calls this.
pub async fn migrate_infrastructure(
    conn: &impl sea_orm::ConnectionTrait,
) -> Result<(), sea_orm::DbErr> {
    db::execute_all(conn, bus::outbox::MIGRATION_SQL).await?;
    db::execute_all(conn, web::idempotency::MIGRATION_SQL).await
}

/// A service's migration that brings an outbox made before it up to
/// [`bus::outbox::HORIZON_SQL`]: the writing transaction of each row and the index the relay
/// reads by it.
pub struct OutboxHorizon {
    /// The migration's name in the service's history.
    pub name: &'static str,
}

impl sea_orm_migration::MigrationName for OutboxHorizon {
    fn name(&self) -> &str {
        self.name
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl sea_orm_migration::MigrationTrait for OutboxHorizon {
    async fn up(&self, manager: &sea_orm_migration::SchemaManager) -> Result<(), sea_orm::DbErr> {
        db::execute_all(manager.get_connection(), &bus::outbox::HORIZON_SQL).await
    }
}

/// A service's migration that brings its outbound tables made before them up to
/// [`bus::outbound::OutboundTable::observability_sql`]: the index behind the count of parked
/// deliveries (the `outbound_parked` gauge) and the trace each delivery continues.
pub struct OutboundObservability {
    /// The migration's name in the service's history.
    pub name: &'static str,
    pub tables: &'static [bus::outbound::OutboundTable],
}

impl sea_orm_migration::MigrationName for OutboundObservability {
    fn name(&self) -> &str {
        self.name
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl sea_orm_migration::MigrationTrait for OutboundObservability {
    async fn up(&self, manager: &sea_orm_migration::SchemaManager) -> Result<(), sea_orm::DbErr> {
        use sea_orm::ConnectionTrait;
        let conn = manager.get_connection();
        for table in self.tables {
            for sql in table.observability_sql() {
                conn.execute_unprepared(&sql).await?;
            }
        }
        Ok(())
    }
}

/// `ServiceFactory::migrate` for a service whose schema is migrated by `M`.
pub fn migrate_schema<'a, M: sea_orm_migration::MigratorTrait>(
    settings: &'a Settings,
    schema: &'a str,
) -> BoxFuture<'a, Result<(), StartError>> {
    Box::pin(async move {
        db::connect_and_migrate::<M>(&settings.db(), schema).await?;
        Ok(())
    })
}
