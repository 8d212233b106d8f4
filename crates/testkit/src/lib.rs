//! Test support: each test gets a fresh Postgres database and its own NATS subject prefix and
//! stream names, and starts services through the same [`runtime::Host`] as production.
//!
//! The database and the streams go when the [`TestEnv`] is dropped (also when a test panics),
//! and a [`TestApp`] dropped without [`TestApp::stop`] stops its host; calling `stop` and
//! [`TestEnv::cleanup`] explicitly stays fine and makes the drop a no-op.
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

/// One test's isolated environment: its own database and its own streams on the shared servers.
///
/// They are removed by [`TestEnv::cleanup`] or, at the latest, when the last clone of the
/// environment is dropped, which also happens when the test panics. Removal happens once.
#[derive(Clone)]
pub struct TestEnv {
    pub db_url: String,
    pub subject_prefix: String,
    pub stream_suffix: String,
    pub nats_url: String,
    owned: Arc<Owned>,
}

impl TestEnv {
    pub async fn new() -> TestEnv {
        ::telemetry::install_crypto_provider();
        let db_url = db::create_test_database(ADMIN_DB_URL)
            .await
            .expect("Postgres at 127.0.0.1:5432 (make test starts it)");
        // The random tail of a v7 id: unique per test.
        let tag = uuid::Uuid::now_v7().simple().to_string()[20..].to_string();
        let stream_suffix = format!("_T{tag}");
        let owned = Arc::new(Owned {
            db_name: db_url.rsplit('/').next().unwrap_or_default().to_string(),
            stream_suffix: stream_suffix.clone(),
            nats_url: NATS_URL.to_string(),
            removed: AtomicBool::new(false),
        });
        TestEnv {
            db_url,
            subject_prefix: format!("t{tag}."),
            stream_suffix,
            nats_url: NATS_URL.to_string(),
            owned,
        }
    }

    /// The name of this environment's database (`cc_test_…`).
    pub fn db_name(&self) -> &str {
        &self.owned.db_name
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

    /// A learner's token with the SSO `email` and `name` claims.
    pub fn learner_with_profile(&self, sub: &str, email: &str, name: &str) -> String {
        web::auth::mint_dev_token_with_profile(
            SECRET,
            sub,
            &["learner".to_string()],
            &[],
            Some(email),
            Some(name),
            Duration::from_secs(3600),
        )
        .expect("token")
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

    /// Drops the database and the streams of this environment now. Dropping the environment
    /// does the same, so this is optional; after it, the drop does nothing. Should removal
    /// fail here, the drop tries again.
    pub async fn cleanup(&self) {
        if self.owned.removed.load(Ordering::SeqCst) {
            return;
        }
        match tokio::time::timeout(CLEANUP_LIMIT, self.owned.remove()).await {
            Ok(Ok(())) => self.owned.removed.store(true, Ordering::SeqCst),
            Ok(Err(e)) => eprintln!("testkit: cleanup failed ({e}); retrying when dropped"),
            Err(_) => eprintln!("testkit: cleanup timed out; retrying when dropped"),
        }
    }
}

/// How long removing an environment, or stopping an app from `Drop`, may take.
const CLEANUP_LIMIT: Duration = Duration::from_secs(30);

/// What an environment holds on the shared servers; shared by its clones, removed once.
struct Owned {
    db_name: String,
    stream_suffix: String,
    nats_url: String,
    removed: AtomicBool,
}

impl Owned {
    /// Deletes this environment's streams (every one the platform declares) and drops its database
    /// (`WITH (FORCE)`, closing the connections of hosts still running). Idempotent.
    async fn remove(&self) -> Result<(), String> {
        let nats = async {
            let client = async_nats::connect(self.nats_url.as_str())
                .await
                .map_err(|e| format!("NATS: {e}"))?;
            let js = async_nats::jetstream::new(client);
            for (base, _) in bus::STREAMS {
                let name = format!("{base}{}", self.stream_suffix);
                match js.delete_stream(&name).await {
                    Ok(_) => {}
                    Err(e) if not_found(&e) => {}
                    Err(e) => return Err(format!("deleting stream {name}: {e}")),
                }
            }
            Ok(())
        };
        let postgres = async {
            let mut options = sea_orm::ConnectOptions::new(ADMIN_DB_URL);
            options
                .max_connections(1)
                .connect_timeout(Duration::from_secs(5))
                .sqlx_logging(false);
            let admin = Database::connect(options)
                .await
                .map_err(|e| format!("Postgres: {e}"))?;
            let dropped = admin
                .execute_unprepared(&format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    self.db_name
                ))
                .await
                .map(|_| ())
                .map_err(|e| format!("DROP DATABASE {}: {e}", self.db_name));
            let _ = admin.close().await;
            dropped
        };
        let (nats, postgres) = tokio::join!(nats, postgres);
        nats.and(postgres)
    }
}

/// Whether a stream operation failed only because the stream does not exist (any more).
fn not_found(e: &async_nats::jetstream::context::DeleteStreamError) -> bool {
    matches!(
        e.kind(),
        async_nats::jetstream::context::DeleteStreamErrorKind::JetStream(j)
            if j.error_code() == async_nats::jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

impl Drop for Owned {
    /// The last clone of the environment is gone (the test ended, or panicked) without a
    /// successful [`TestEnv::cleanup`]: remove everything now. `Drop` cannot await, so the
    /// removal runs on a thread of its own with its own small runtime, and this waits for it.
    fn drop(&mut self) {
        if self.removed.load(Ordering::SeqCst) {
            return;
        }
        let owned = Owned {
            db_name: self.db_name.clone(),
            stream_suffix: self.stream_suffix.clone(),
            nats_url: self.nats_url.clone(),
            // Already removed as far as this copy's own drop is concerned.
            removed: AtomicBool::new(true),
        };
        match on_side_thread(async move { owned.remove().await }) {
            Some(Ok(())) => {}
            Some(Err(e)) => eprintln!(
                "testkit: could not remove test database {} or streams *{} ({e}); \
                 `make clean-test-data` drops leftover databases",
                self.db_name, self.stream_suffix
            ),
            None => eprintln!(
                "testkit: removing test database {} and streams *{} did not finish",
                self.db_name, self.stream_suffix
            ),
        }
    }
}

/// Runs `work` to completion on a new thread with its own current-thread runtime, within
/// [`CLEANUP_LIMIT`], and waits for it; for `Drop`, which cannot await. Independent of the
/// caller's runtime (if any), so it works while a test's runtime is unwinding a panic.
fn on_side_thread<T, F>(work: F) -> Option<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    std::thread::Builder::new()
        .name("testkit-cleanup".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            // The timer needs the runtime: build the timeout inside it.
            rt.block_on(async move { tokio::time::timeout(CLEANUP_LIMIT, work).await })
                .ok()
        })
        .ok()?
        .join()
        .ok()?
}

/// A running host and an HTTP client aimed at it. The host stops on [`TestApp::stop`] or, at
/// the latest, when the app is dropped (also when the test panics).
pub struct TestApp {
    host: Option<Host>,
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
        TestApp {
            host: Some(host),
            base,
            client,
        }
    }

    /// The running host.
    pub fn host(&self) -> &Host {
        self.host
            .as_ref()
            .expect("a TestApp's host runs until it is stopped")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn stop(mut self) {
        if let Some(host) = self.host.take() {
            host.stop().await;
        }
    }
}

impl Drop for TestApp {
    /// Not stopped by the test (it panicked, or returned early): stop the host now, so that its
    /// server lets go of its port and worker threads and its background tasks end before the
    /// environment's database is dropped.
    fn drop(&mut self) {
        let Some(host) = self.host.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            // The server's accept loop runs on the test's runtime; with a single-threaded one
            // that thread is this one, so waiting here would only wait for the time limit.
            // Hand the stop to the runtime instead, for as long as it keeps running.
            Ok(rt) if rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread => {
                rt.spawn(host.stop());
            }
            _ => {
                if on_side_thread(host.stop()).is_none() {
                    eprintln!("testkit: stopping a dropped TestApp did not finish");
                }
            }
        }
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
