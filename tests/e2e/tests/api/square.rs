//! Square against the fake Square (its wire format, idempotency keys, signed webhooks, fault
//! switches and side-effect counters), through the gateway: a purchase with a Web Payments SDK
//! token, declines, refunds, webhooks valid, forged and repeated, and answers lost or garbled —
//! each ending with exactly one charge at Square.

use crate::helpers::shop::*;
use crate::helpers::*;
use crate::refunds::refund;
use fake_square::Release;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use testkit::eventually;

/// How many captures the payment's audit log recorded.
async fn captures(shop: &Shop, payment: &Value) -> i64 {
    let db = shop.env.schema("payment").await;
    count(
        &db,
        &format!(
            "SELECT count(*) FROM payment_audit WHERE payment_id = '{}' AND action = 'succeeded'",
            payment["id"].as_str().unwrap()
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_buys_through_square_and_a_billing_admin_refunds_part_then_the_rest() {
    let shop = Shop::open_square(&[]).await;
    let square = shop.square();
    let config = get_ok(&shop.app, "/api/v2/payments/config").await;
    assert_eq!(config["processor"], "square");
    assert_eq!(config["client"]["applicationId"], SQUARE_APP);
    assert_eq!(config["client"]["locationId"], SQUARE_LOCATION);

    let (learner, oid, intent) = shop.order_with_payment("learner-1", "lms-sq1", 4900).await;
    // Nothing exists at Square until the card is charged: the intent is the payment itself.
    assert_eq!(intent["processor"], "square");
    assert_eq!(intent["intentId"], intent["id"]);
    assert!(intent["clientSecret"].is_null(), "{intent}");
    assert_eq!(square.payment_attempts(), 0);

    shop.confirm_paid(&learner, &intent, "cnon:card-nonce-ok")
        .await;
    assert_eq!(square.payments(), 1, "exactly one charge");
    let at_square = square.payments_with_reference(intent["id"].as_str().unwrap());
    assert_eq!(at_square.len(), 1);
    assert_eq!(
        at_square[0]["amount_money"],
        json!({"amount": 4900, "currency": "USD"})
    );
    assert_eq!(at_square[0]["location_id"], SQUARE_LOCATION);
    // The key Square saw fits its 45 characters.
    let posts = square.posts_to("/v2/payments");
    assert!(
        posts
            .iter()
            .all(|r| r.idempotency_key.as_ref().unwrap().len() <= 45)
    );
    shop.order_status(&learner, &oid, "completed").await;
    let h = shop.history_entry(&learner, &intent).await;
    // Square's fee (2.9 % + 30 of 49.00) is the ledger's.
    assert_eq!(h["processorFee"], 172, "{h}");

    // Part, then the rest; nothing beyond the capture.
    let pid = intent["id"].as_str().unwrap();
    let (s, first) = refund(
        &shop,
        pid,
        json!({"amount": 1000, "reason": "partial"}),
        "sq-r1",
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!(first["status"], "succeeded", "{first}");
    let (s, rest) = refund(&shop, pid, json!({"reason": "the rest"}), "sq-r2").await;
    assert_eq!(s, StatusCode::CREATED, "{rest}");
    assert_eq!(rest["amount"], 3900);
    let (s, b) = refund(&shop, pid, json!({"amount": 1, "reason": "more"}), "sq-r3").await;
    assert_problem(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refund_exceeds_captured",
    );
    assert_eq!(square.refunds(), 2);
    let refunds = square.posts_to("/v2/refunds");
    assert_eq!(refunds.len(), 2, "one request per refund");
    assert_eq!(refunds[0].body["payment_id"], at_square[0]["id"]);
    shop.order_status(&learner, &oid, "refunded").await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_leaves_the_payment_payable_and_another_card_pays_once() {
    let shop = Shop::open_square(&[]).await;
    let square = shop.square();
    let (learner, oid, intent) = shop.order_with_payment("learner-1", "lms-sq2", 2500).await;
    let (s, declined) = shop
        .try_confirm(&learner, &intent, "cnon:card-nonce-declined")
        .await;
    assert_eq!(s, StatusCode::OK, "{declined}");
    assert_eq!(declined["status"], "pending", "{declined}");
    assert_eq!(declined["failureReason"], "card_declined");
    shop.confirm_paid(&learner, &intent, "cnon:card-nonce-ok")
        .await;
    assert_eq!(square.payment_attempts(), 2);
    assert_eq!(square.payments(), 1);
    // Each attempt had its own key.
    let keys: std::collections::HashSet<_> = square
        .posts_to("/v2/payments")
        .into_iter()
        .map(|r| r.idempotency_key)
        .collect();
    assert_eq!(keys.len(), 2);
    shop.order_status(&learner, &oid, "completed").await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_found_at_square_by_reference_and_charges_once() {
    let shop = Shop::open_square(&[]).await;
    let square = shop.square();
    let (learner, oid, intent) = shop.order_with_payment("learner-1", "lms-sq3", 3000).await;
    // Square charges, but its answers arrive after the platform stopped waiting (twice, the
    // same key both times): the payment is then read from Square by its reference.
    square.delay_next(2, Duration::from_millis(1500));
    shop.confirm_paid(&learner, &intent, "cnon:card-nonce-ok")
        .await;
    assert_eq!(square.payments(), 1, "exactly one charge");
    let keys: std::collections::HashSet<_> = square
        .posts_to("/v2/payments")
        .into_iter()
        .map(|r| r.idempotency_key)
        .collect();
    assert_eq!(keys.len(), 1, "a retry is the same request");
    shop.order_status(&learner, &oid, "completed").await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbled_answers_are_a_typed_error_that_changes_nothing_until_square_is_read() {
    let shop = Shop::open_square(&[]).await;
    let square = shop.square();
    let (learner, oid, intent) = shop.order_with_payment("learner-1", "lms-sq4", 1500).await;
    // Every answer garbled: the charge happened, but the platform cannot tell.
    square.malformed_next(50);
    let (s, b) = shop
        .try_confirm(&learner, &intent, "cnon:card-nonce-ok")
        .await;
    assert_problem(
        s,
        &b,
        StatusCode::SERVICE_UNAVAILABLE,
        "processor_unavailable",
    );
    let h = shop.history_entry(&learner, &intent).await;
    assert_ne!(h["status"], "succeeded", "{h}");
    assert_ne!(h["status"], "failed", "{h}");
    assert_eq!(shop.order(&learner, &oid).await["status"], "pending");
    // Square answers again: asking finds the charge; nothing is charged twice.
    square.malformed_next(0);
    let (s, paid) = post(
        &shop.app,
        &learner,
        "/api/v2/payments/confirm",
        json!({"paymentId": intent["id"]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{paid}");
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert_eq!(square.payments(), 1);
    shop.order_status(&learner, &oid, "completed").await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_settle_a_payment_once_and_forged_ones_change_nothing() {
    let shop = Shop::open_square(&[]).await;
    let square = shop.square();
    let (learner, oid, intent) = shop.order_with_payment("learner-1", "lms-sq5", 2000).await;
    square.hold_webhooks(true);
    // Every answer of the confirmation is lost (the charge, its retry, both lookups).
    square.delay_next(4, Duration::from_millis(1500));
    let (s, b) = shop
        .try_confirm(&learner, &intent, "cnon:card-nonce-ok")
        .await;
    assert_problem(
        s,
        &b,
        StatusCode::SERVICE_UNAVAILABLE,
        "processor_unavailable",
    );
    assert_eq!(square.payments(), 1);
    let held = square.held();
    let updated = held
        .iter()
        .find(|e| e["type"] == "payment.updated")
        .cloned()
        .unwrap_or_else(|| panic!("payment.updated held: {held:?}"));

    // A forged copy (signed with another key) is refused at the gateway: nothing is relayed.
    let body = updated.to_string();
    let forged = fake_square::signature("not-the-key", &webhook_url(&shop), body.as_bytes());
    let (s, refused) = send(
        shop.app
            .client
            .post(shop.app.url("/api/v2/payments/webhook/square"))
            .header("content-type", "application/json")
            .header("x-square-hmacsha256-signature", forged)
            .body(body),
    )
    .await;
    assert_problem(s, &refused, StatusCode::BAD_REQUEST, "invalid_signature");
    shop.settled().await;
    assert_ne!(
        shop.history_entry(&learner, &intent).await["status"],
        "succeeded"
    );

    // The genuine events, in reverse order, settle it; copies of them change nothing.
    assert_eq!(square.release(Release::Reversed).await, held.len());
    shop.order_status(&learner, &oid, "completed").await;
    let event_id = updated["event_id"].as_str().unwrap();
    assert_eq!(square.resend(event_id, 2).await, 2);
    shop.settled().await;
    assert_eq!(captures(&shop, &intent).await, 1);
    assert_eq!(
        shop.history_entry(&learner, &intent).await["status"],
        "succeeded"
    );
    assert_eq!(square.payments(), 1);
    shop.close().await;
}

/// The notification URL the shop's Square settings name.
fn webhook_url(shop: &Shop) -> String {
    shop.app.url("/api/v2/payments/webhook/square")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_settled_later_at_square_reaches_the_order_by_webhook() {
    let shop = Shop::open_square(&[]).await;
    let square = shop.square();
    let (learner, oid, intent) = shop.order_with_payment("learner-1", "lms-sq6", 1200).await;
    let (_, paid) = shop
        .try_confirm(&learner, &intent, "cnon:card-nonce-ok")
        .await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    shop.order_status(&learner, &oid, "completed").await;
    square.set_refund_mode(fake_square::RefundMode::Pending);
    let pid = intent["id"].as_str().unwrap();
    let (s, r) = refund(&shop, pid, json!({"reason": "all of it"}), "sq-pending").await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["status"], "processing", "{r}");
    let at_square = square.posts_to("/v2/refunds");
    assert_eq!(at_square.len(), 1);
    let square_payment = square.payments_with_reference(pid)[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let refund_id = eventually(WAIT, "the refund at Square", || async {
        let p = square.payment(&square_payment)?;
        p["refund_ids"][0].as_str().map(str::to_string)
    })
    .await;
    square.settle_refund(&refund_id, true).await.unwrap();
    shop.order_status(&learner, &oid, "refunded").await;
    assert_eq!(square.refunds(), 1);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_is_retried_with_the_same_key_and_charges_once() {
    let shop = Shop::open_square(&[]).await;
    let square = shop.square();
    let (learner, oid, intent) = shop.order_with_payment("learner-1", "lms-sq7", 1100).await;
    square.fail_next(1, 503);
    let (s, paid) = shop
        .try_confirm(&learner, &intent, "cnon:card-nonce-ok")
        .await;
    assert_eq!(
        (s, &paid["status"]),
        (StatusCode::OK, &json!("succeeded")),
        "{paid}"
    );
    let posts = square.posts_to("/v2/payments");
    assert_eq!(posts.len(), 2, "the 503, then the retry");
    assert_eq!(posts[0].status, 503);
    assert_eq!(posts[0].idempotency_key, posts[1].idempotency_key);
    assert_eq!(square.payments(), 1);
    shop.order_status(&learner, &oid, "completed").await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_in_a_currency_the_location_does_not_take_is_refused_before_square_is_asked() {
    let shop = Shop::open_square(&[]).await;
    put_expect(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/catalog/exchange-rates/EUR",
        json!({"rate": "0.92"}),
        StatusCode::OK,
    )
    .await;
    eventually(WAIT, "the EUR rate", || async {
        let r = get_ok(&shop.app, "/api/v2/catalog/exchange-rates").await;
        items(&r)
            .iter()
            .any(|i| i["currency"] == "EUR")
            .then_some(())
    })
    .await;
    let learner = shop.learner("learner-1");
    let course = shop.course("lms-sq8", 4900, false).await;
    shop.add(&learner, "course", &course).await;
    let (s, b) = send(
        shop.app
            .client
            .put(shop.app.url("/api/v2/cart/currency"))
            .bearer_auth(&learner)
            .json(&json!({"currency": "EUR"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let order = shop.checkout(&learner).await;
    assert_eq!(order["currency"], "EUR");
    let (s, b) = post(
        &shop.app,
        &learner,
        "/api/v2/payments/create-intent",
        json!({"orderId": order["id"]}),
    )
    .await;
    assert_problem(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "currency_not_supported",
    );
    assert_eq!(b["supported"], json!(["USD"]));
    assert!(
        shop.square().requests().is_empty(),
        "Square was never asked"
    );
    shop.close().await;
}
