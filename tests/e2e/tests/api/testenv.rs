//! The test environment itself: a `TestEnv` removes its database and its JetStream streams when
//! it is dropped, also when the test panics, and a `TestApp` dropped unstopped stops its host.

use crate::helpers::*;
use futures_util::TryStreamExt;
use sea_orm::Database;
use testkit::TestEnv;

/// Whether `pg_database` lists `name`.
async fn database_exists(name: &str) -> bool {
    let admin = Database::connect(testkit::ADMIN_DB_URL).await.unwrap();
    let n = count(
        &admin,
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
    )
    .await;
    admin.close().await.unwrap();
    n == 1
}

/// The JetStream streams on the server whose names end with `suffix`.
async fn streams_named(suffix: &str) -> Vec<String> {
    let client = async_nats::connect(testkit::NATS_URL).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let names: Vec<String> = js.stream_names().try_collect().await.unwrap();
    names.into_iter().filter(|n| n.ends_with(suffix)).collect()
}

/// Declares the platform's streams in `env`, as every host does at start.
async fn declare_streams(env: &TestEnv) {
    bus::Bus::connect(&env.settings(&[]).bus())
        .await
        .unwrap()
        .ensure_streams()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_test_env_leaves_no_database_and_no_streams() {
    let env = TestEnv::new().await;
    declare_streams(&env).await;
    let (db, suffix) = (env.db_name().to_string(), env.stream_suffix.clone());
    assert!(db.starts_with("cc_test_"), "{db}");
    assert!(database_exists(&db).await);
    assert_eq!(streams_named(&suffix).await.len(), bus::STREAMS.len());

    // A clone going away removes nothing: the environment is still in use.
    drop(env.clone());
    assert!(
        database_exists(&db).await,
        "a dropped clone kept the database"
    );
    assert_eq!(streams_named(&suffix).await.len(), bus::STREAMS.len());

    drop(env);
    assert!(!database_exists(&db).await, "the database is dropped");
    assert_eq!(streams_named(&suffix).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_cleanup_then_the_drop_is_harmless() {
    let env = TestEnv::new().await;
    declare_streams(&env).await;
    let (db, suffix) = (env.db_name().to_string(), env.stream_suffix.clone());
    env.cleanup().await;
    assert!(!database_exists(&db).await);
    assert_eq!(streams_named(&suffix).await, Vec::<String>::new());
    // Twice is fine, and so is the drop after it.
    env.cleanup().await;
    drop(env);
    assert!(!database_exists(&db).await);
    assert_eq!(streams_named(&suffix).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_that_panics_still_stops_its_app_and_removes_its_database_and_streams() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    // A test body that fails with the whole platform running: its host holds connections to
    // the database and consumers on the streams when it panics.
    let failing = tokio::spawn(async move {
        let env = TestEnv::new().await;
        let app = platform(&env).await;
        get_ok(&app, "/readyz").await;
        tx.send((
            env.db_name().to_string(),
            env.stream_suffix.clone(),
            app.url("/healthz"),
        ))
        .unwrap();
        panic!("a failing test (expected by this test)");
    });
    let failed = failing.await.unwrap_err();
    assert!(failed.is_panic());
    let (db, suffix, healthz) = rx.await.unwrap();

    assert!(!database_exists(&db).await, "the database is dropped");
    assert_eq!(streams_named(&suffix).await, Vec::<String>::new());
    let after = reqwest::Client::new().get(&healthz).send().await;
    assert!(
        after.as_ref().is_err_and(|e| e.is_connect()),
        "the dropped app's server stopped listening: {after:?}"
    );
}
