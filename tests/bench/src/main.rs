//! `make bench`: the whole purchase through the gateway, with N concurrent learners for a set
//! time: add to cart → checkout → create-intent → confirm → (order completed → registration →)
//! enrollment request received by the fake LMS. It prints completed purchases per second, p50/p99
//! of each HTTP step, and p50/p99 of the event pipeline (payment succeeded → enrollment request
//! received). The platform, the fake LMS and the load all run in this one process against the
//! real Postgres and NATS.
//!
//! `purchase-bench [--learners N] [--seconds S] [--courses K]`; the platform's warnings are
//! printed (`BENCH_LOG` sets another log filter, e.g. `info`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::{TestApp, TestEnv};

const LMS_KEY: &str = "bench-lms-connector-key";
const LMS_SECRET: &str = "whsec_YmVuY2gtbG1zLXdlYmhvb2stc2VjcmV0LTAxMjM0NTY3ODk=";
const PAYOUT_SECRET: &str = "whsec_YmVuY2gtcGF5b3V0LXNlY3JldA==";
const STEPS: [&str; 4] = ["add-item", "checkout", "create-intent", "confirm"];

fn arg(name: &str, default: u64) -> u64 {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Counts a failed step by its status and problem code (or payment status).
fn failed(
    failures: &Mutex<std::collections::BTreeMap<String, u64>>,
    step: &str,
    status: u16,
    body: &Value,
) {
    let why = body["code"]
        .as_str()
        .or(body["status"].as_str())
        .unwrap_or_default();
    *failures
        .lock()
        .unwrap()
        .entry(format!("{step} {status} {why}"))
        .or_default() += 1;
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn call(client: &reqwest::Client, url: String, token: &str, body: Value) -> (u16, Value) {
    let r = client
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let learners = arg("--learners", 8);
    let seconds = arg("--seconds", 20);
    let courses = arg("--courses", 20);
    let env = TestEnv::new().await;
    let lms = fake_lms::FakeLms::start(
        fake_lms::Config {
            api_key: LMS_KEY.into(),
            webhook_url: String::new(),
            webhook_secret: LMS_SECRET.into(),
        },
        0,
    )
    .unwrap();
    // The revenue ledger's webhooks go to a fake Payout Platform, as in production.
    let payout = fake_payout::FakePayout::start(
        fake_payout::Config {
            webhook_secret: PAYOUT_SECRET.into(),
        },
        0,
    )
    .unwrap();
    // Every purchase mails its learner (confirmation, welcome) through real SMTP.
    let smtp = fake_smtp::FakeSmtp::start(0).await.unwrap();
    let settings = env.settings(&[
        ("notification.smtp_port", smtp.port.to_string()),
        ("payout.url", payout.url.clone()),
        ("payout.webhook_secret", PAYOUT_SECRET.into()),
        ("http.workers", "2".into()),
        // The relays' fallback poll as deployed (tests poll faster); commits wake them.
        ("outbox.poll_ms", "1000".into()),
        // Eight services' pools in one process stay under Postgres's 100 connections.
        ("database.max_connections", "11".into()),
        ("gateway.rate_limit_per_minute", "1000000".into()),
        ("gateway.rate_limit_burst", "1000000".into()),
        ("registration.lms_url", lms.url.clone()),
        ("registration.lms_api_key", LMS_KEY.into()),
        ("registration.lms_webhook_secret", LMS_SECRET.into()),
        // A failed request is counted below; the warning the platform logged says why.
        (
            "telemetry.filter",
            std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        ),
    ]);
    let app = TestApp::spawn(settings, &commerce::registry(), &["all"]).await;
    lms.set_webhook_url(&app.url("/api/v1/webhooks/enrollment-status"));
    let admin = env.token("bench-admin", &["billing-admin"], &[]);
    let mut ids = Vec::new();
    for i in 0..courses {
        let (s, c) = call(&app.client, app.url("/api/v2/admin/catalog/courses"), &admin, json!({
            "lmsCourseId": format!("bench-{i}"), "title": format!("Bench course {i}"), "departmentId": "bench",
            "contentCreatorId": "creator", "instructorId": "instructor", "published": true
        }))
        .await;
        assert_eq!(s, 201, "{c}");
        let id = c["id"].as_str().unwrap().to_string();
        let (s, p) = call(&app.client, app.url("/api/v2/admin/pricing"), &admin, json!({
            "courseId": id, "priceType": "one-time", "currency": "USD", "basePrice": 1000 + i as i64
        }))
        .await;
        assert_eq!(s, 201, "{p}");
        ids.push(id);
    }
    let ids = Arc::new(ids);
    let samples: Arc<Mutex<HashMap<&'static str, Vec<Duration>>>> =
        Arc::new(Mutex::new(HashMap::new()));
    let paid_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let failures = Arc::new(Mutex::new(std::collections::BTreeMap::<String, u64>::new()));
    println!(
        "purchase-bench: {learners} learners for {seconds} s over {courses} courses (platform, fake LMS and load in one process)"
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let workers = (0..learners).map(|w| {
        let (client, base, env) = (app.client.clone(), app.base.clone(), env.clone());
        let (ids, samples, paid_at, failures) = (
            ids.clone(),
            samples.clone(),
            paid_at.clone(),
            failures.clone(),
        );
        tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let user = format!("bench-{w}-{n}");
                let token =
                    env.learner_with_profile(&user, &format!("{user}@bench.example"), &user);
                let course = &ids[((w + n) as usize) % ids.len()];
                let mut step_times = Vec::with_capacity(4);
                let t = Instant::now();
                let (s, added) = call(
                    &client,
                    format!("{base}/api/v2/cart/items"),
                    &token,
                    json!({"itemType": "course", "itemId": course}),
                )
                .await;
                step_times.push(t.elapsed());
                if s != 201 {
                    failed(&failures, "add-item", s, &added);
                    continue;
                }
                let t = Instant::now();
                let (s, order) = call(
                    &client,
                    format!("{base}/api/v2/cart/checkout"),
                    &token,
                    json!({}),
                )
                .await;
                step_times.push(t.elapsed());
                if s != 201 {
                    failed(&failures, "checkout", s, &order);
                    continue;
                }
                let oid = order["id"].as_str().unwrap_or_default().to_string();
                let t = Instant::now();
                let (s, intent) = call(
                    &client,
                    format!("{base}/api/v2/payments/create-intent"),
                    &token,
                    json!({"orderId": oid}),
                )
                .await;
                step_times.push(t.elapsed());
                if s != 201 {
                    failed(&failures, "create-intent", s, &intent);
                    continue;
                }
                let t = Instant::now();
                let (s, paid) = call(
                    &client,
                    format!("{base}/api/v2/payments/confirm"),
                    &token,
                    json!({
                        "paymentId": intent["id"], "paymentMethod": "pm_card_visa"
                    }),
                )
                .await;
                step_times.push(t.elapsed());
                if s != 200 || paid["status"] != "succeeded" {
                    failed(&failures, "confirm", s, &paid);
                    continue;
                }
                paid_at.lock().unwrap().insert(oid, Instant::now());
                let mut m = samples.lock().unwrap();
                for (step, d) in STEPS.iter().zip(step_times) {
                    m.entry(step).or_default().push(d);
                }
            }
        })
    });
    futures_util::future::join_all(workers).await;
    let load_time = started.elapsed();
    // Let the pipeline drain: every paid order should reach the LMS.
    let expected = paid_at.lock().unwrap().len();
    let drain_start = Instant::now();
    while lms.received().iter().filter(|r| r.answered == 200).count() < expected
        && drain_start.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let paid = paid_at.lock().unwrap().clone();
    let mut pipeline: Vec<Duration> = lms
        .received()
        .iter()
        .filter(|r| r.answered == 200)
        .filter_map(|r| {
            let oid = r.body["payload"]["orderId"].as_str()?;
            paid.get(oid).map(|t| r.at.saturating_duration_since(*t))
        })
        .collect();
    pipeline.sort();
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    for r in lms.received().iter().filter(|r| r.answered == 200) {
        let item = r.body["payload"]["orderItemId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        seen.entry(item)
            .or_default()
            .push(r.idempotency_key.clone().unwrap_or_default());
    }
    let repeated: Vec<_> = seen.iter().filter(|(_, keys)| keys.len() > 1).collect();
    if !repeated.is_empty() {
        println!(
            "note: {} enrollment requests were answered more than once (same idempotency id: {})",
            repeated.len(),
            repeated.iter().all(|(_, k)| k.iter().all(|x| *x == k[0]))
        );
    }
    let completed_in_window = lms
        .received()
        .iter()
        .filter(|r| r.answered == 200 && r.at <= deadline)
        .count();
    println!();
    let failures = failures.lock().unwrap().clone();
    println!(
        "paid purchases:                {expected} ({} failed requests)",
        failures.values().sum::<u64>()
    );
    for (what, n) in &failures {
        println!("  failed: {what} × {n}");
    }
    println!(
        "enrollment requests received:  {} (all paid orders: {})",
        pipeline.len(),
        pipeline.len() == expected
    );
    println!(
        "completed purchases/s:         {:.1} (enrollment request received within the {} s window: {})",
        completed_in_window as f64 / load_time.as_secs_f64(),
        seconds,
        completed_in_window
    );
    println!("{:<28} {:>10} {:>10} {:>8}", "step", "p50", "p99", "n");
    let m = samples.lock().unwrap().clone();
    for step in STEPS {
        let mut v = m.get(step).cloned().unwrap_or_default();
        v.sort();
        println!(
            "{:<28} {:>10} {:>10} {:>8}",
            step,
            ms(pct(&v, 0.50)),
            ms(pct(&v, 0.99)),
            v.len()
        );
    }
    println!(
        "{:<28} {:>10} {:>10} {:>8}",
        "payment→enrollment request",
        ms(pct(&pipeline, 0.50)),
        ms(pct(&pipeline, 0.99)),
        pipeline.len()
    );
    database_work(env.db_name(), expected).await;
    println!(
        "revenue webhooks received:     {} (Payout Platform)",
        payout.received().len()
    );
    println!(
        "emails received:               {} (SMTP; confirmation and welcome per purchase)",
        smtp.received().len()
    );
    app.stop().await;
    smtp.stop();
    lms.stop().await;
    payout.stop().await;
    env.cleanup().await;
}

/// Transactions and rows per paid purchase in the run's database, from Postgres's own counters
/// (setup included; they lag by up to a second, which 20 s of load makes small).
async fn database_work(db: &str, paid: usize) {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let Ok(admin) = Database::connect(testkit::ADMIN_DB_URL).await else {
        return;
    };
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let row = admin
        .query_one_raw(Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT (xact_commit + xact_rollback)::bigint AS xacts, tup_inserted::bigint AS ins,
                 tup_updated::bigint AS upd, (tup_returned + tup_fetched)::bigint AS read
             FROM pg_stat_database WHERE datname = $1",
            vec![db.into()],
        ))
        .await;
    if let (Ok(Some(r)), true) = (row, paid > 0) {
        let per = |c: &str| r.try_get::<i64>("", c).unwrap_or(0) as f64 / paid as f64;
        println!(
            "database per purchase:         {:.1} transactions, {:.1} rows inserted, {:.1} updated, {:.0} read",
            per("xacts"),
            per("ins"),
            per("upd"),
            per("read")
        );
    }
    let _ = admin.close().await;
    // Where rows are read by sequential scan (each a candidate index or a query to change).
    let Some((server, _)) = testkit::ADMIN_DB_URL.rsplit_once('/') else {
        return;
    };
    let url = format!("{server}/{db}");
    let Ok(own) = Database::connect(url.as_str()).await else {
        return;
    };
    let rows = own
        .query_all_raw(Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT schemaname || '.' || relname AS t, seq_tup_read::bigint AS seq,
                 COALESCE(idx_tup_fetch, 0)::bigint AS idx
             FROM pg_stat_user_tables ORDER BY seq_tup_read DESC LIMIT 5",
        ))
        .await
        .unwrap_or_default();
    let tables: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let t: String = r.try_get("", "t").ok()?;
            let seq: i64 = r.try_get("", "seq").ok()?;
            Some(format!("{t} {:.0}", seq as f64 / paid.max(1) as f64))
        })
        .collect();
    println!("rows read by seq scan/purchase: {}", tables.join(", "));
    let _ = own.close().await;
}
