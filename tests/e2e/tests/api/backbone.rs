//! The event backbone, proven with the catalog's outbox and cart-order's price read model:
//! (a) an event written while NATS is unreachable arrives after it returns; (b) a row published
//! twice is one stream message; (c) a consumer dying between commit and ack has no second
//! effect; (d) a poison message is dead-lettered while the rest keep flowing.

use crate::helpers::*;
use async_nats::jetstream::consumer::pull;
use bus::{Bus, FaultPlan};
use cart_order::{CartOrderService, PRICES_CONSUMER};
use prost::Message;
use reqwest::StatusCode;
use runtime::ServiceFactory;
use sea_orm::ConnectionTrait;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use testkit::{Cable, TestApp, TestEnv, eventually};

async fn read_model_rows(env: &TestEnv) -> i64 {
    count(
        &env.schema("cart_order").await,
        "SELECT count(*) FROM catalog_prices",
    )
    .await
}

async fn wait_for_rows(env: &TestEnv, n: i64) {
    let cart = env.schema("cart_order").await;
    eventually(WAIT, &format!("{n} rows in the price read model"), || {
        let cart = cart.clone();
        async move { (count(&cart, "SELECT count(*) FROM catalog_prices").await == n).then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_written_while_nats_is_down_is_delivered_after_it_returns() {
    let env = TestEnv::new().await;
    let cable = Cable::to("127.0.0.1:4222").await;
    let catalog_side: Vec<Arc<dyn ServiceFactory>> = vec![
        Arc::new(gateway::GatewayService),
        Arc::new(catalog::CatalogService),
    ];
    let app = TestApp::spawn(
        env.settings(&[("nats.url", cable.url())]),
        &catalog_side,
        &["gateway", "catalog"],
    )
    .await;
    let consumer_side: Vec<Arc<dyn ServiceFactory>> = vec![Arc::new(CartOrderService::default())];
    let cart = TestApp::spawn(env.settings(&[]), &consumer_side, &["cart-order"]).await;
    let admin = env.token("admin", &["billing-admin"], &[]);
    let (course, _) = course_with_price(&app, &admin, "lms-a", "cs", 1000).await;
    wait_for_rows(&env, 1).await;

    cable.cut();
    eventually(WAIT, "readyz reports NATS down", || async {
        let (s, b) = get(&app, "/readyz").await;
        (s == StatusCode::SERVICE_UNAVAILABLE
            && b["detail"].as_str().unwrap_or("").contains("nats"))
        .then_some(())
    })
    .await;
    // The write still succeeds: the event waits in the outbox.
    post_expect(
        &app,
        &admin,
        "/api/v2/admin/pricing",
        serde_json::json!({
            "courseId": course, "priceType": "one-time", "currency": "USD", "basePrice": 2000
        }),
        StatusCode::CREATED,
    )
    .await;
    // Positive signal first: the relay has tried to publish the new price event and failed, so
    // its row is still unpublished and counts a failed attempt. That proves the relay ran while
    // NATS was unreachable; the unchanged read model below then means "not delivered while
    // down", where a sleep could not tell it from "the relay had not polled yet".
    let cat = env.schema("catalog").await;
    eventually(WAIT, "the relay's failed publish recorded", || {
        let cat = cat.clone();
        async move {
            (count(
                &cat,
                "SELECT count(*) FROM outbox WHERE published_at IS NULL AND attempts >= 1",
            )
            .await
                >= 1)
                .then_some(())
        }
    })
    .await;
    assert!(
        bus::outbox::pending(&cat).await.unwrap() >= 1,
        "the event waits in the outbox"
    );
    assert_eq!(
        read_model_rows(&env).await,
        1,
        "nothing delivered while NATS is unreachable"
    );

    cable.restore();
    wait_for_rows(&env, 2).await;
    eventually(WAIT, "outbox drained", || {
        let cat = cat.clone();
        async move { (bus::outbox::pending(&cat).await.ok()? == 0).then_some(()) }
    })
    .await;
    app.stop().await;
    cart.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_the_same_outbox_row_twice_yields_one_stream_message() {
    let env = TestEnv::new().await;
    let settings = env.settings(&[]);
    let bus = Bus::connect(&settings.bus()).await.unwrap();
    let app = TestApp::spawn(settings, &commerce::registry(), &["gateway", "catalog"]).await;
    let admin = env.token("admin", &["billing-admin"], &[]);
    course_with_price(&app, &admin, "lms-b", "cs", 1000).await;
    let cat = env.schema("catalog").await;
    eventually(WAIT, "outbox drained", || {
        let cat = cat.clone();
        async move { (bus::outbox::pending(&cat).await.ok()? == 0).then_some(()) }
    })
    .await;
    let before = bus.stream_messages("COMMERCE").await.unwrap();
    assert_eq!(before, 2, "one course event and one price event");
    let last = count(&cat, "SELECT max(seq) FROM outbox").await;

    // As if the relay crashed after the ack but before marking the row: it publishes again.
    assert_eq!(bus::outbox::replay(&cat, last, last).await.unwrap(), 1);
    eventually(WAIT, "the row published again", || {
        let cat = cat.clone();
        async move { (bus::outbox::pending(&cat).await.ok()? == 0).then_some(()) }
    })
    .await;
    assert_eq!(
        bus.stream_messages("COMMERCE").await.unwrap(),
        before,
        "Nats-Msg-Id de-duplicated it"
    );
    app.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_dying_after_commit_before_ack_has_no_second_effect() {
    let env = TestEnv::new().await;
    let faults = FaultPlan::default();
    faults.die_after_commit.store(1, Ordering::SeqCst);
    let cart = CartOrderService {
        faults: faults.clone(),
        tune_consumer: Some(Arc::new(|s| s.ack_wait = Duration::from_secs(1))),
        ..Default::default()
    };
    let factories: Vec<Arc<dyn ServiceFactory>> = vec![
        Arc::new(gateway::GatewayService),
        Arc::new(catalog::CatalogService),
        Arc::new(cart),
    ];
    let app = TestApp::spawn(env.settings(&[]), &factories, &["all"]).await;
    let admin = env.token("admin", &["billing-admin"], &[]);
    course_with_price(&app, &admin, "lms-c", "cs", 1000).await;
    wait_for_rows(&env, 1).await;

    // The server redelivers the unacked message; the inbox turns it into a no-op.
    let client = async_nats::connect(testkit::NATS_URL).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js
        .get_stream(format!("COMMERCE{}", env.stream_suffix))
        .await
        .unwrap();
    eventually(WAIT, "redelivered and acked", || {
        let stream = stream.clone();
        async move {
            let info = consumer_info(&stream, PRICES_CONSUMER).await?;
            (info.delivered.consumer_sequence >= 2
                && info.num_ack_pending == 0
                && info.ack_floor.stream_sequence == info.delivered.stream_sequence)
                .then_some(())
        }
    })
    .await;
    assert_eq!(
        faults.die_after_commit.load(Ordering::SeqCst),
        0,
        "the fault fired"
    );
    let db = env.schema("cart_order").await;
    assert_eq!(count(&db, "SELECT count(*) FROM catalog_prices").await, 1);
    assert_eq!(
        count(&db, "SELECT sum(applied_count)::bigint FROM catalog_prices").await,
        1,
        "applied once"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM inbox").await, 1);
    app.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_dead_lettered_while_others_keep_flowing() {
    let env = TestEnv::new().await;
    let cart = CartOrderService {
        faults: FaultPlan::default(),
        tune_consumer: Some(Arc::new(|s| {
            s.max_deliver = 3;
            s.backoff = vec![Duration::from_millis(100)];
        })),
        ..Default::default()
    };
    let factories: Vec<Arc<dyn ServiceFactory>> = vec![
        Arc::new(gateway::GatewayService),
        Arc::new(catalog::CatalogService),
        Arc::new(cart),
    ];
    let settings = env.settings(&[]);
    let bus = Bus::connect(&settings.bus()).await.unwrap();
    let app = TestApp::spawn(settings, &factories, &["all"]).await;
    let admin = env.token("admin", &["billing-admin"], &[]);

    // A well-formed envelope whose body breaks the read model's rules (currency `us1`).
    let poison = events::commerce::v1::PriceChanged {
        price_id: uuid::Uuid::now_v7().to_string(),
        department_id: "cs".into(),
        price_type: "one-time".into(),
        currency: "us1".into(),
        amount_minor: 5,
        effective_from: chrono::Utc::now().to_rfc3339(),
        active: true,
        ..Default::default()
    };
    let env_headers =
        events::Envelope::new("commerce.v1.PriceChanged", "test", chrono::Utc::now(), None);
    bus.publish(
        events::subjects::PRICE_CREATED,
        env_headers.to_headers(),
        poison.encode_to_vec().into(),
    )
    .await
    .unwrap();
    course_with_price(&app, &admin, "lms-d1", "cs", 100).await;
    course_with_price(&app, &admin, "lms-d2", "cs", 200).await;
    wait_for_rows(&env, 2).await;

    let letters = dead_letters(&bus, "the poison message dead-lettered").await;
    assert_eq!(letters.len(), 1);
    let dl = &letters[0];
    assert_eq!(dl.consumer, PRICES_CONSUMER);
    assert_eq!(dl.event_id, env_headers.id.to_string());
    assert_eq!(dl.original_subject, events::subjects::PRICE_CREATED);
    assert_eq!(dl.deliveries, "3");
    assert!(dl.reason.contains("database"), "{}", dl.reason);
    assert_eq!(read_model_rows(&env).await, 2);

    // An operator can redrive it; still poison, it comes back to the dead-letter stream.
    bus.replay_dead_letter(dl.seq).await.unwrap();
    let again = eventually(WAIT, "redriven and parked again", || {
        let bus = bus.clone();
        let first = dl.seq;
        async move {
            bus.dead_letters()
                .await
                .ok()
                .filter(|l| l.len() == 1 && l[0].seq != first)
        }
    })
    .await;
    assert_eq!(again[0].event_id, env_headers.id.to_string());
    app.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_jetstream_declares_every_stream_and_consumer_and_can_run_again() {
    let env = TestEnv::new().await;
    let settings = env.settings(&[]);
    let bus = Bus::connect(&settings.bus()).await.unwrap();
    // A durable made by an earlier release with other settings is brought in line.
    bus.ensure_streams().await.unwrap();
    bus.jetstream()
        .get_stream(bus.stream_name("COMMERCE"))
        .await
        .unwrap()
        .create_consumer(pull::Config {
            durable_name: Some("notification-orders".into()),
            filter_subject: bus.subject("commerce.order.>"),
            max_deliver: 6,
            ..Default::default()
        })
        .await
        .unwrap();
    let all = ["all".to_string()];
    let first = commerce::setup_jetstream(settings.clone(), &all)
        .await
        .unwrap();
    // Every service's consumers, each once: the ones the purchase depends on among them.
    let names: Vec<&str> = first.iter().map(|c| c.durable.as_str()).collect();
    for durable in [
        PRICES_CONSUMER,
        cart_order::PAYMENTS_CONSUMER,
        registration::ORDERS_CONSUMER,
        "notification-orders",
        "certificate-orders",
    ] {
        assert_eq!(
            names.iter().filter(|n| **n == durable).count(),
            1,
            "{durable} in {names:?}"
        );
    }
    let js = bus.jetstream();
    for spec in &first {
        let durable = spec.durable.as_str();
        let stream = js.get_stream(bus.stream_name(spec.stream)).await.unwrap();
        let info = stream
            .consumer_info(durable)
            .await
            .unwrap_or_else(|e| panic!("{durable} not declared: {e}"));
        assert_eq!(info.config.durable_name.as_deref(), Some(durable));
        if durable == "notification-orders" {
            assert_eq!(
                info.config.max_deliver, 36,
                "its 35 deliveries, plus the backstop"
            );
        }
    }
    // Run again (a Job retried, a new release): the same consumers, nothing else.
    let again = commerce::setup_jetstream(settings.clone(), &all)
        .await
        .unwrap();
    let durables = |specs: &[bus::ConsumerSpec]| -> Vec<String> {
        specs.iter().map(|c| c.durable.clone()).collect()
    };
    assert_eq!(durables(&again), durables(&first));
    // The services start on what the Job declared and a message flows through it.
    let app = TestApp::spawn(
        settings,
        &commerce::registry(),
        &["gateway", "catalog", "cart-order"],
    )
    .await;
    let admin = env.token("admin", &["billing-admin"], &[]);
    course_with_price(&app, &admin, "lms-j", "cs", 1000).await;
    wait_for_rows(&env, 1).await;
    app.stop().await;
    env.cleanup().await;
}

/// Records each applied event with the transaction that applied it; fails `transient_once` on
/// its first delivery and `poison` always.
struct Recorder {
    transient_once: uuid::Uuid,
    poison: uuid::Uuid,
    /// Its handling waits for `release`, after telling `entered`.
    gate: uuid::Uuid,
    entered: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

impl bus::Handler for Recorder {
    fn handle<'a>(
        &'a self,
        txn: &'a sea_orm::DatabaseTransaction,
        d: &'a bus::Delivery,
    ) -> bus::HandlerFuture<'a> {
        Box::pin(async move {
            let id = d.envelope.id;
            if id == self.poison {
                return Err(bus::HandlerError::permanent("poison"));
            }
            if id == self.gate {
                self.entered.notify_one();
                self.release.notified().await;
            }
            if id == self.transient_once && d.attempt == 1 {
                return Err(bus::HandlerError::transient("not yet"));
            }
            txn.execute_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DatabaseBackend::Postgres,
                "INSERT INTO applied (event_id, tx) VALUES ($1, txid_current())",
                vec![id.into()],
            ))
            .await?;
            Ok(())
        })
    }
}

/// Publishes one event on the test subject with envelope `id` (a new `Nats-Msg-Id` each time,
/// so the same event can be sent twice).
async fn publish_test_event(bus: &Bus, id: uuid::Uuid) {
    let mut envelope = events::Envelope::new("test.v1.Batched", "test", chrono::Utc::now(), None);
    envelope.id = id;
    let mut headers = envelope.to_headers();
    headers.insert(
        events::envelope::H_MSG_ID,
        uuid::Uuid::now_v7().to_string().as_str(),
    );
    bus.publish("commerce.test.batched", headers, Vec::new().into())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_messages_apply_in_one_transaction_and_a_failing_one_alone() {
    let env = TestEnv::new().await;
    let settings = env.settings(&[]);
    let bus = Bus::connect(&settings.bus()).await.unwrap();
    let db = env.schema("batched").await;
    for sql in bus::outbox::MIGRATION_SQL {
        db.execute_unprepared(sql).await.unwrap();
    }
    db.execute_unprepared("CREATE TABLE applied (event_id UUID NOT NULL, tx BIGINT NOT NULL)")
        .await
        .unwrap();
    let (transient_once, poison, gate) = (
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
    );
    let recorder = Arc::new(Recorder {
        transient_once,
        poison,
        gate,
        entered: tokio::sync::Notify::new(),
        release: tokio::sync::Notify::new(),
    });
    let handler: Arc<dyn bus::Handler> = recorder.clone();
    let mut spec = bus::ConsumerSpec::new("test-batched", "COMMERCE", "commerce.test.batched");
    spec.backoff = vec![Duration::from_millis(100)];
    let start = |spec: bus::ConsumerSpec| {
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let run = tokio::spawn(bus::inbox::run_consumer(
            bus.clone(),
            db.clone(),
            spec,
            handler.clone(),
            FaultPlan::default(),
            shutdown,
        ));
        (stop, run)
    };
    bus::inbox::declare_consumer(&bus, &spec).await.unwrap();

    // 1. Eight events arrive while the consumer is busy with another: once it is free, one
    // transaction applies the eight.
    let (stop, run) = start(spec.clone());
    publish_test_event(&bus, gate).await;
    recorder.entered.notified().await;
    let first: Vec<uuid::Uuid> = (0..8).map(|_| uuid::Uuid::now_v7()).collect();
    for id in &first {
        publish_test_event(&bus, *id).await;
    }
    eventually(WAIT, "the eight delivered to the busy consumer", || {
        let bus = bus.clone();
        async move {
            let info = test_consumer_info(&bus).await?;
            (info.num_ack_pending == 9).then_some(())
        }
    })
    .await;
    recorder.release.notify_one();
    applied(&db, 9).await;
    let with_first = format!(
        "SELECT count(*) FROM applied WHERE tx = (SELECT tx FROM applied WHERE event_id = '{}')",
        first[0]
    );
    assert_eq!(
        count(&db, &with_first).await,
        8,
        "one transaction for the eight that waited"
    );
    assert_eq!(
        count(&db, "SELECT count(DISTINCT tx) FROM applied").await,
        2
    );
    assert_eq!(count(&db, "SELECT count(*) FROM inbox").await, 9);
    stop.send(true).unwrap();
    run.await.unwrap();

    // 2. A batch holding a transient and a permanent failure: it rolls back, and each event is
    // applied on its own, so the good ones apply once, the transient one on its second delivery,
    // and only the poison is dead-lettered.
    let second = [
        uuid::Uuid::now_v7(),
        transient_once,
        uuid::Uuid::now_v7(),
        poison,
        uuid::Uuid::now_v7(),
    ];
    for id in &second {
        publish_test_event(&bus, *id).await;
    }
    let (stop, run) = start(spec.clone());
    applied(&db, 13).await;
    let letters = dead_letters(&bus, "the poison dead-lettered").await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].event_id, poison.to_string());
    assert_eq!(
        letters[0].deliveries, "1",
        "a permanent failure is parked at once"
    );
    // Every good event once; the poison never reached the inbox.
    assert_eq!(
        count(&db, "SELECT count(DISTINCT event_id) FROM applied").await,
        13
    );
    assert_eq!(count(&db, "SELECT count(*) FROM inbox").await, 13);
    assert_eq!(
        count(
            &db,
            &format!("SELECT count(*) FROM inbox WHERE event_id = '{poison}'")
        )
        .await,
        0
    );

    // 3. Redelivered events and one event sent twice in the same batch: only the new one is
    // applied, once.
    stop.send(true).unwrap();
    run.await.unwrap();
    let new = uuid::Uuid::now_v7();
    publish_test_event(&bus, first[0]).await;
    publish_test_event(&bus, new).await;
    publish_test_event(&bus, new).await;
    publish_test_event(&bus, second[0]).await;
    let (stop, run) = start(spec.clone());
    applied(&db, 14).await;
    eventually(WAIT, "the four messages acknowledged", || {
        let bus = bus.clone();
        async move {
            let info = test_consumer_info(&bus).await?;
            (info.num_pending == 0 && info.num_ack_pending == 0).then_some(())
        }
    })
    .await;
    assert_eq!(
        count(
            &db,
            &format!("SELECT count(*) FROM applied WHERE event_id = '{new}'")
        )
        .await,
        1
    );
    assert_eq!(count(&db, "SELECT count(*) FROM applied").await, 14);
    stop.send(true).unwrap();
    run.await.unwrap();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_whose_transaction_commits_after_later_rows_were_sent_is_sent_too() {
    let env = TestEnv::new().await;
    let settings = env.settings(&[]);
    let bus = Bus::connect(&settings.bus()).await.unwrap();
    let db = env.schema("horizon").await;
    for sql in bus::outbox::MIGRATION_SQL {
        db.execute_unprepared(sql).await.unwrap();
    }
    let (stop, run) = start_relay(&db, &bus);
    let row = |name: &str| {
        format!(
            "INSERT INTO outbox (event_id, subject, event_type, source, occurred_at, payload)
             VALUES ('{name}', 'commerce.test.horizon', 'test.v1.Horizon', 'test', now(), '')"
        )
    };
    let sent = |id: &'static str| {
        let db = db.clone();
        async move {
            eventually(WAIT, &format!("row {id} sent"), move || {
                let db = db.clone();
                async move {
                    let sql = format!(
                        "SELECT count(*) FROM outbox WHERE event_id = '{id}' AND published_at IS NOT NULL"
                    );
                    (count(&db, &sql).await == 1).then_some(())
                }
            })
            .await
        }
    };
    const LATE: &str = "00000000-0000-7000-8000-00000000000a";
    const B: &str = "00000000-0000-7000-8000-00000000000b";
    const C: &str = "00000000-0000-7000-8000-00000000000c";

    // A transaction writes its row (it has its id and its `seq`) and stays open while later rows
    // are written, committed and sent, over several of the relay's passes.
    let late = sea_orm::TransactionTrait::begin(&db).await.unwrap();
    late.execute_unprepared(&row(LATE)).await.unwrap();
    db.execute_unprepared(&row(B)).await.unwrap();
    sent(B).await;
    db.execute_unprepared(&row(C)).await.unwrap();
    sent(C).await;
    late.commit().await.unwrap();
    sent(LATE).await;

    // Each once, in the order they became visible.
    let stream = bus
        .jetstream()
        .get_stream(bus.stream_name("COMMERCE"))
        .await
        .unwrap();
    let reader = stream
        .create_consumer(pull::Config {
            filter_subject: bus.subject("commerce.test.horizon"),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = reader
        .fetch()
        .max_messages(10)
        .expires(Duration::from_millis(500))
        .messages()
        .await
        .unwrap();
    let mut published = Vec::new();
    while let Some(m) = futures_util::StreamExt::next(&mut messages).await {
        let m = m.unwrap();
        let id = m
            .headers
            .as_ref()
            .and_then(|h| h.get(events::envelope::H_MSG_ID));
        published.push(id.map(|v| v.as_str().to_string()).unwrap_or_default());
    }
    assert_eq!(published, [B, C, LATE]);
    stop.send(true).unwrap();
    run.await.unwrap();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_made_before_the_horizon_is_migrated_and_its_unsent_rows_are_sent() {
    let env = TestEnv::new().await;
    let settings = env.settings(&[]);
    let bus = Bus::connect(&settings.bus()).await.unwrap();
    let db = env.schema("migrated").await;
    // The outbox as it was: no writing transaction per row. One row sent, one not.
    for sql in &bus::outbox::MIGRATION_SQL[..2] {
        db.execute_unprepared(sql).await.unwrap();
    }
    for (id, published) in [("e1", "now()"), ("e2", "NULL")] {
        db.execute_unprepared(&format!(
            "INSERT INTO outbox (event_id, subject, event_type, source, occurred_at, payload, published_at)
             VALUES (md5('{id}')::uuid, 'commerce.test.migrated', 'test.v1.Migrated', 'test', now(), '', {published})"
        ))
        .await
        .unwrap();
    }
    // The migration, in one transaction as the migrator runs it.
    let txn = sea_orm::TransactionTrait::begin(&db).await.unwrap();
    for sql in bus::outbox::HORIZON_SQL {
        txn.execute_unprepared(sql).await.unwrap();
    }
    txn.commit().await.unwrap();
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE written_xid IS NULL").await,
        1,
        "the sent row keeps no writer"
    );
    let (stop, run) = start_relay(&db, &bus);
    outbox_drained(&db, "the unsent row sent").await;
    // New rows get their writer from the default.
    db.execute_unprepared(
        "INSERT INTO outbox (event_id, subject, event_type, source, occurred_at, payload)
         VALUES (md5('e3')::uuid, 'commerce.test.migrated', 'test.v1.Migrated', 'test', now(), '')",
    )
    .await
    .unwrap();
    outbox_drained(&db, "a new row sent").await;
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE written_xid IS NULL").await,
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"
        )
        .await,
        3
    );
    stop.send(true).unwrap();
    run.await.unwrap();
    env.cleanup().await;
}

/// Waits until `db`'s outbox has no unsent row.
async fn outbox_drained(db: &sea_orm::DatabaseConnection, what: &str) {
    eventually(WAIT, what, || {
        let db = db.clone();
        async move { (bus::outbox::pending(&db).await.ok()? == 0).then_some(()) }
    })
    .await;
}

/// A relay of `db`'s outbox polling every 20 ms; send `true` to stop it, then await it.
fn start_relay(
    db: &sea_orm::DatabaseConnection,
    bus: &Bus,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let relay = bus::OutboxRelay::new(
        db.clone(),
        bus.clone(),
        Duration::from_millis(20),
        Duration::from_secs(3600),
    );
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    (stop, tokio::spawn(relay.run(shutdown)))
}

/// Holds the request `slow` until released; answers every other at once.
struct Gate {
    slow: uuid::Uuid,
    entered: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

impl bus::outbound::Sender for Gate {
    fn name(&self) -> &'static str {
        "gate"
    }
    fn send<'a>(
        &'a self,
        due: &'a bus::outbound::Due,
    ) -> futures_util::future::BoxFuture<'a, bus::outbound::Attempt> {
        Box::pin(async move {
            if due.key == self.slow {
                self.entered.notify_one();
                self.release.notified().await;
            }
            bus::outbound::Attempt::Delivered(None)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_scheduled_while_another_is_slow_is_sent_without_waiting_for_it() {
    let env = TestEnv::new().await;
    let db = env.schema("gated").await;
    let table = bus::outbound::OutboundTable {
        table: "requests",
        key: "request_id",
        result: "receipt",
    };
    for sql in table.create_sql(None) {
        db.execute_unprepared(&sql).await.unwrap();
    }
    let (slow, quick) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let gate = Arc::new(Gate {
        slow,
        entered: tokio::sync::Notify::new(),
        release: tokio::sync::Notify::new(),
    });
    let wake = Arc::new(tokio::sync::Notify::new());
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let clock: Arc<dyn kernel::Clock> = Arc::new(kernel::SystemClock);
    let run = tokio::spawn(bus::outbound::run_worker(
        db.clone(),
        table,
        gate.clone(),
        bus::outbound::RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            batch: 16,
            idle: Duration::from_secs(30),
        },
        clock.clone(),
        wake.clone(),
        shutdown,
    ));
    let delivered = |key: uuid::Uuid| {
        let db = db.clone();
        async move {
            let sql = format!(
                "SELECT count(*) FROM requests WHERE request_id = '{key}' AND status = 'delivered'"
            );
            count(&db, &sql).await == 1
        }
    };

    table
        .schedule(&db, slow, uuid::Uuid::now_v7(), clock.now())
        .await
        .unwrap();
    wake.notify_one();
    gate.entered.notified().await;
    // The slow one is on its way; another is scheduled.
    table
        .schedule(&db, quick, uuid::Uuid::now_v7(), clock.now())
        .await
        .unwrap();
    wake.notify_one();
    eventually(
        WAIT,
        "the second delivered while the first is held",
        || async move { delivered(quick).await.then_some(()) },
    )
    .await;
    assert!(!delivered(slow).await, "the first is still on its way");
    gate.release.notify_one();
    eventually(WAIT, "the first delivered once released", || async move {
        delivered(slow).await.then_some(())
    })
    .await;
    stop.send(true).unwrap();
    run.await.unwrap();
    env.cleanup().await;
}

async fn test_consumer_info(bus: &Bus) -> Option<async_nats::jetstream::consumer::Info> {
    let stream = bus
        .jetstream()
        .get_stream(bus.stream_name("COMMERCE"))
        .await
        .ok()?;
    consumer_info(&stream, "test-batched").await
}

async fn applied(db: &sea_orm::DatabaseConnection, n: i64) {
    eventually(WAIT, &format!("{n} events applied"), || {
        let db = db.clone();
        async move { (count(&db, "SELECT count(*) FROM applied").await == n).then_some(()) }
    })
    .await;
}
