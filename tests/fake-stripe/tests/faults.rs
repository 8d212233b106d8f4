//! Faults and idempotency: a failure in front of Stripe stores nothing, a slow answer after the
//! work is replayed to the retry, and a key means one side effect whatever happens.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Api, eventually};
use std::time::Duration;

const PAY: [(&str, &str); 5] = [
    ("amount", "4200"),
    ("currency", "usd"),
    ("confirm", "true"),
    ("payment_method", "pm_card_visa"),
    ("metadata[orderId]", "ord_42"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_in_front_stores_nothing_and_the_retry_charges_once() {
    let fake = common::start("http://127.0.0.1:9/not-listening");
    fake.hold_webhooks(true);
    let api = Api::new(&fake);

    fake.fail_next(1, 500);
    let failed = api.post("/v1/payment_intents", Some("order-1"), &PAY).await;
    assert_eq!(
        (failed.status, failed.body["error"]["type"].as_str()),
        (500, Some("api_error"))
    );
    assert_eq!((fake.charges(), fake.charge_attempts()), (0, 0));
    let ok = api.post("/v1/payment_intents", Some("order-1"), &PAY).await;
    assert_eq!((ok.status, ok.replayed), (200, false));
    assert_eq!(ok.body["status"], "succeeded");
    let again = api.post("/v1/payment_intents", Some("order-1"), &PAY).await;
    assert_eq!((again.status, again.replayed), (200, true));
    assert_eq!(again.body, ok.body);
    assert_eq!(fake.charges(), 1);
    let statuses: Vec<(u16, bool)> = fake
        .requests()
        .iter()
        .map(|r| (r.status, r.replayed))
        .collect();
    assert_eq!(statuses, [(500, false), (200, false), (200, true)]);
    let recorded = &fake.requests()[0];
    assert_eq!(
        (recorded.method.as_str(), recorded.path.as_str()),
        ("POST", "/v1/payment_intents")
    );
    assert_eq!(recorded.idempotency_key.as_deref(), Some("order-1"));
    assert!(
        recorded
            .params
            .contains(&("metadata[orderId]".into(), "ord_42".into()))
    );

    fake.fail_next(2, 429);
    for _ in 0..2 {
        let limited = api
            .get(&format!(
                "/v1/payment_intents/{}",
                ok.body["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(
            (limited.status, limited.body["error"]["type"].as_str()),
            (429, Some("rate_limit_error"))
        );
    }
    fake.fail_next(1, 503);
    assert_eq!(api.post("/v1/customers", Some("c1"), &[]).await.status, 503);
    assert_eq!(api.post("/v1/customers", Some("c1"), &[]).await.status, 200);
    assert_eq!(fake.customers(), 1);
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_then_the_retry_gets_the_stored_answer() {
    let fake = common::start("http://127.0.0.1:9/not-listening");
    fake.hold_webhooks(true);
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let api = Api::with(&fake, impatient);

    fake.delay_next(1, Duration::from_millis(800));
    let timed_out = api
        .try_post("/v1/payment_intents", Some("order-2"), &PAY)
        .await;
    assert!(timed_out.unwrap_err().is_timeout());
    eventually("the charge", || fake.charges() == 1).await;
    let retry = api.post("/v1/payment_intents", Some("order-2"), &PAY).await;
    assert_eq!((retry.status, retry.replayed), (200, true));
    assert_eq!(retry.body["status"], "succeeded");
    let events = fake.held();
    assert_eq!(
        events[0]["data"]["object"]["id"], retry.body["id"],
        "the same intent"
    );
    assert_eq!(fake.charges(), 1);
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_means_one_side_effect() {
    let fake = common::start("http://127.0.0.1:9/not-listening");
    fake.hold_webhooks(true);
    let api = Api::new(&fake);

    let first = api.post("/v1/payment_intents", Some("k"), &PAY).await;
    assert_eq!(first.status, 200);
    let mut other = PAY;
    other[0] = ("amount", "4300");
    let mismatch = api.post("/v1/payment_intents", Some("k"), &other).await;
    assert_eq!(
        (mismatch.status, mismatch.body["error"]["type"].as_str()),
        (400, Some("idempotency_error"))
    );
    let message = mismatch.body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("Keys for idempotent requests can only be used with the same"));
    let elsewhere = api.post("/v1/customers", Some("k"), &[]).await;
    assert_eq!(
        elsewhere.status, 400,
        "another endpoint is other parameters too"
    );

    // A 402 is stored and replayed like a success.
    let decline = [(
        "payment_method",
        "pm_card_visa_chargeDeclinedInsufficientFunds",
    )];
    let pi = api
        .post(
            "/v1/payment_intents",
            None,
            &[("amount", "900"), ("currency", "usd")],
        )
        .await;
    let confirm = format!(
        "/v1/payment_intents/{}/confirm",
        pi.body["id"].as_str().unwrap()
    );
    let declined = api.post(&confirm, Some("d"), &decline).await;
    assert_eq!((declined.status, declined.code()), (402, "card_declined"));
    assert_eq!(declined.body["error"]["decline_code"], "insufficient_funds");
    let replayed = api.post(&confirm, Some("d"), &decline).await;
    assert_eq!((replayed.status, replayed.replayed), (402, true));
    assert_eq!(replayed.body, declined.body);
    assert_eq!(fake.charge_attempts(), 2);

    // Sent at once with one key: one charge; the others wait their turn (409) or are replays.
    let charges = fake.charges();
    let api = &api;
    let answers = futures_util::future::join_all(
        (0..8).map(|_| async move { api.post("/v1/payment_intents", Some("same"), &PAY).await }),
    )
    .await;
    let ok: Vec<_> = answers.iter().filter(|a| a.status == 200).collect();
    assert!(
        answers
            .iter()
            .all(|a| a.status == 200 || (a.status, a.code()) == (409, "idempotency_key_in_use"))
    );
    assert!(!ok.is_empty());
    assert!(ok.iter().all(|a| a.body["id"] == ok[0].body["id"]));
    assert_eq!(ok.iter().filter(|a| !a.replayed).count(), 1);
    assert_eq!(fake.charges(), charges + 1);
    let conflicts = answers.iter().filter(|a| a.status == 409).count();
    println!(
        "concurrent same key: {} answered, {conflicts} conflicts",
        ok.len()
    );
    fake.stop().await;
}
