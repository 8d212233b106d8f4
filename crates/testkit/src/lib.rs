//! Test support: each test gets a fresh Postgres database and its own NATS subject prefix and
//! stream names, and starts services through the same [`runtime::Host`] as production.
//!
//! Set `TEST_LOG=1` to see the services' logs.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use runtime::{Host, ServiceFactory, Settings};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

pub const ADMIN_DB_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const NATS_URL: &str = "nats://127.0.0.1:4222";
pub const SECRET: &str = "test-secret-0123456789abcdef";

/// One test's isolated environment.
#[derive(Clone)]
pub struct TestEnv {
    pub db_url: String,
    pub subject_prefix: String,
    pub stream_suffix: String,
    pub nats_url: String,
}

impl TestEnv {
    pub async fn new() -> TestEnv {
        ::telemetry::install_crypto_provider();
        let db_url = db::create_test_database(ADMIN_DB_URL)
            .await
            .expect("Postgres at 127.0.0.1:5432 (make test starts it)");
        let tag = uuid::Uuid::now_v7().simple().to_string()[20..].to_string();
        TestEnv {
            db_url,
            subject_prefix: format!("t{tag}."),
            stream_suffix: format!("_T{tag}"),
            nats_url: NATS_URL.to_string(),
        }
    }

    /// Settings for a host in this environment; `extra` overrides keys (`gateway.upstreams.catalog`).
    pub fn settings(&self, extra: &[(&str, String)]) -> Settings {
        let mut o: Vec<(&str, String)> = vec![
            ("http.host", "127.0.0.1".into()),
            ("http.port", "0".into()),
            ("http.workers", "1".into()),
            ("database.url", self.db_url.clone()),
            ("database.max_connections", "8".into()),
            ("nats.url", self.nats_url.clone()),
            ("nats.subject_prefix", self.subject_prefix.clone()),
            ("nats.stream_suffix", self.stream_suffix.clone()),
            ("auth.hs256_secret", SECRET.into()),
            ("outbox.poll_ms", "20".into()),
            ("telemetry.json", "false".into()),
            (
                "telemetry.filter",
                if std::env::var("TEST_LOG").is_ok() {
                    "info".into()
                } else {
                    "error".into()
                },
            ),
        ];
        o.extend(extra.iter().cloned());
        Settings::load_with(None, &o).expect("test settings")
    }

    pub fn token(&self, sub: &str, roles: &[&str], departments: &[&str]) -> String {
        let roles: Vec<String> = roles.iter().map(|s| s.to_string()).collect();
        let deps: Vec<String> = departments.iter().map(|s| s.to_string()).collect();
        web::auth::mint_dev_token(SECRET, sub, &roles, &deps, Duration::from_secs(3600))
            .expect("token")
    }

    /// A connection to one service's schema (for assertions on its tables).
    pub async fn schema(&self, schema: &str) -> DatabaseConnection {
        db::connect(
            &db::DbSettings {
                url: self.db_url.clone(),
                max_connections: 2,
                connect_timeout: Duration::from_secs(5),
            },
            schema,
        )
        .await
        .expect("schema connection")
    }

    /// Drops the database and the streams of this environment.
    pub async fn cleanup(&self) {
        if let Ok(client) = async_nats::connect(NATS_URL).await {
            let js = async_nats::jetstream::new(client);
            for (name, _) in bus::STREAMS {
                let _ = js
                    .delete_stream(format!("{name}{}", self.stream_suffix))
                    .await;
            }
        }
        if let Ok(admin) = Database::connect(ADMIN_DB_URL).await {
            let name = self.db_url.rsplit('/').next().unwrap_or_default();
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
        }
    }
}

/// A running host and an HTTP client aimed at it.
pub struct TestApp {
    pub host: Host,
    pub base: String,
    pub client: reqwest::Client,
}

impl TestApp {
    pub async fn spawn(
        settings: Settings,
        factories: &[Arc<dyn ServiceFactory>],
        services: &[&str],
    ) -> TestApp {
        let names: Vec<String> = services.iter().map(|s| s.to_string()).collect();
        let host = Host::start(settings, factories, &names)
            .await
            .expect("host starts");
        let base = format!("http://127.0.0.1:{}", host.port());
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("client");
        TestApp { host, base, client }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn stop(self) {
        self.host.stop().await;
    }
}

/// Polls `check` until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TCP forwarder in front of NATS that a test can cut and restore, to simulate an outage
/// without touching the shared server.
pub struct Cable {
    pub port: u16,
    up: Arc<AtomicBool>,
    generation: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Cable {
    pub async fn to(target: &str) -> Cable {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let (tx, _) = tokio::sync::watch::channel(0u64);
        let generation = Arc::new(tx);
        let target = target.to_string();
        let (u, g) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !u.load(Ordering::SeqCst) {
                    let _ = inbound.shutdown().await;
                    continue;
                }
                let target = target.clone();
                let mut cut = g.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Cable {
            port,
            up,
            generation,
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Drops every connection through the cable and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
