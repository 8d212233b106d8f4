//! Webhooks: signed over URL and body, in order, held and released, resent, retried.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use fake_square::{RefundMode, Release};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_is_signed_over_the_url_and_body_and_the_signature_follows_the_url() {
    let rx = Receiver::start();
    let fake = start(&rx.url);
    let mut body = payment("cnon:card-nonce-ok", "w1", 2000);
    body["reference_id"] = json!("order-w1");
    let (_, b) = post(&fake, "/v2/payments", body).await;
    let pid = b["payment"]["id"].as_str().unwrap().to_string();
    eventually("two events", || rx.hooks().len() == 2).await;
    // Checked by the receiver's own HMAC (Receiver::events).
    assert_eq!(rx.types(), ["payment.created", "payment.updated"]);
    let e = &rx.events()[1];
    assert_eq!(e["merchant_id"], "MLCADENCEFAKE");
    assert_eq!(e["data"]["type"], "payment");
    assert_eq!(e["data"]["id"], pid.as_str());
    assert_eq!(e["data"]["object"]["payment"], b["payment"]);
    assert!(uuid::Uuid::parse_str(e["event_id"].as_str().unwrap()).is_ok());
    let hook = &rx.hooks()[0];
    assert_eq!(
        hook.signature,
        fake_square::signature(KEY, &rx.url, hook.body.as_bytes())
    );
    assert!(!verify("another-key", &rx.url, &hook.body, &hook.signature));

    // Another URL (the same receiver with a query): another signature, verified over it.
    let other = format!("{}?subscription=2", rx.url);
    fake.set_webhook_url(&other);
    let (_, b) = post(
        &fake,
        "/v2/payments",
        payment("cnon:card-nonce-ok", "w2", 100),
    )
    .await;
    assert_eq!(b["payment"]["status"], "COMPLETED");
    eventually("four events", || rx.hooks().len() == 4).await;
    let hook = &rx.hooks()[2];
    assert!(verify(KEY, &other, &hook.body, &hook.signature));
    assert!(!verify(KEY, &rx.url, &hook.body, &hook.signature));
    let d = fake.deliveries();
    assert_eq!(d.len(), 4);
    assert!(d.iter().all(|d| d.status == 200 && d.attempt == 1));
    fake.stop().await;
    rx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_events_follow_in_order_and_a_settled_refund_sends_its_updates() {
    let rx = Receiver::start();
    let fake = start(&rx.url);
    let (_, b) = post(
        &fake,
        "/v2/payments",
        payment("cnon:card-nonce-ok", "p", 1000),
    )
    .await;
    let pid = b["payment"]["id"].as_str().unwrap().to_string();
    let refund = |key: &str| {
        json!({"idempotency_key": key, "payment_id": pid,
            "amount_money": {"amount": 400, "currency": "USD"}})
    };
    post(&fake, "/v2/refunds", refund("r1")).await;
    fake.set_refund_mode(RefundMode::Pending);
    let (_, r) = post(&fake, "/v2/refunds", refund("r2")).await;
    let rid = r["refund"]["id"].as_str().unwrap();
    eventually("the events so far", || rx.hooks().len() == 8).await;
    fake.settle_refund(rid, true).await.unwrap();
    // Sent before settle_refund returns.
    let types = rx.types();
    assert_eq!(
        types,
        [
            "payment.created",
            "payment.updated",
            "refund.created",
            "refund.updated",
            "payment.updated",
            "refund.created",
            "refund.updated",
            "payment.updated",
            "refund.updated",
            "payment.updated",
        ]
    );
    let events = rx.events();
    assert_eq!(events[2]["data"]["type"], "refund");
    assert_eq!(events[8]["data"]["object"]["refund"]["status"], "COMPLETED");
    let last = &events[9]["data"]["object"]["payment"];
    assert_eq!(last["refunded_money"]["amount"], 800);
    assert_eq!(events.len(), fake.events().len());
    fake.stop().await;
    rx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_events_are_released_reversed_and_resent_as_the_same_body() {
    let rx = Receiver::start();
    let fake = start(&rx.url);
    fake.hold_webhooks(true);
    post(
        &fake,
        "/v2/payments",
        payment("cnon:card-nonce-ok", "h", 500),
    )
    .await;
    let held = fake.held();
    assert_eq!(held.len(), 2);
    assert!(rx.hooks().is_empty());
    assert_eq!(fake.release(Release::Reversed).await, 2);
    assert_eq!(rx.types(), ["payment.updated", "payment.created"]);
    assert!(fake.held().is_empty());
    let updated = held[1]["event_id"].as_str().unwrap();
    assert_eq!(fake.resend(updated, 2).await, 2);
    let hooks = rx.hooks();
    assert_eq!(hooks.len(), 4);
    assert_eq!(hooks[2].body, hooks[0].body);
    assert_eq!(hooks[3].body, hooks[0].body);
    assert_eq!(fake.resend("no-such-event", 1).await, 0);
    fake.stop().await;
    rx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_three_attempts_and_no_url_gets_nothing() {
    let rx = Receiver::start();
    rx.answer(500);
    let fake = start(&rx.url);
    fake.hold_webhooks(true);
    post(
        &fake,
        "/v2/payments",
        payment("cnon:card-nonce-ok", "f", 500),
    )
    .await;
    assert_eq!(fake.release(Release::InOrder).await, 0);
    let d = fake.deliveries();
    assert_eq!(d.len(), 6);
    assert_eq!(
        d.iter().map(|d| d.attempt).collect::<Vec<_>>(),
        [1, 2, 3, 1, 2, 3]
    );
    assert!(d.iter().all(|d| d.status == 500));
    assert_eq!(d[0].event_type, "payment.created");

    fake.set_webhook_url("");
    rx.answer(200);
    post(
        &fake,
        "/v2/payments",
        payment("cnon:card-nonce-ok", "g", 500),
    )
    .await;
    let event = fake.events()[3]["event_id"].as_str().unwrap().to_string();
    assert_eq!(fake.resend(&event, 1).await, 0);
    assert_eq!(fake.events().len(), 4, "events are kept");
    assert_eq!(fake.deliveries().len(), 6, "nothing delivered");
    assert_eq!(rx.hooks().len(), 6);
    fake.stop().await;
    rx.stop().await;
}
