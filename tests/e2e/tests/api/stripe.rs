//! Stripe, the default processor, against the fake Stripe (its wire format, idempotency,
//! signed webhooks, fault switches and side-effect counters), through the gateway: one charge
//! whatever races or fails, settlement from Stripe's own state, Google Pay, refunds from the
//! admin queue split over lines, and events in any order applied once.

use crate::helpers::shop::*;
use crate::helpers::*;
use crate::refunds::{ask, decide, paid_order, queued, refund};
use fake_stripe::{RefundMode, Release};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use testkit::eventually;

/// A course priced `cents` in `learner`'s cart, checked out; returns the order id.
async fn ordered(shop: &Shop, learner: &str, lms: &str, cents: i64) -> String {
    let course = shop.course(lms, cents, false).await;
    shop.add(learner, "course", &course).await;
    shop.checkout(learner).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `learner-1` with an order of one course and the order's payment intent.
async fn started(shop: &Shop, lms: &str, cents: i64) -> (String, String, Value) {
    let learner = shop.learner("learner-1");
    let oid = ordered(shop, &learner, lms, cents).await;
    let intent = shop.intent(&learner, &oid).await;
    (learner, oid, intent)
}

async fn confirm(shop: &Shop, token: &str, body: Value, key: &str) -> (StatusCode, Value) {
    send(
        shop.app
            .client
            .post(shop.app.url("/api/v2/payments/confirm"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&body),
    )
    .await
}

/// The learner's payment as their history shows it.
async fn history_entry(shop: &Shop, token: &str, payment: &str) -> Value {
    let h = get_as_ok(&shop.app, token, "/api/v2/payments/history").await;
    items(&h)
        .iter()
        .find(|p| p["id"] == payment)
        .cloned()
        .unwrap_or_else(|| panic!("payment {payment} not in the history: {h}"))
}

/// Every event the fake Stripe made has reached the gateway, and the platform has handled it
/// (no call of ours to Stripe is left in flight).
async fn quiet(shop: &Shop) {
    let stripe = shop.stripe();
    eventually(WAIT, "Stripe's webhooks delivered", || async {
        let delivered: std::collections::HashSet<String> = stripe
            .deliveries()
            .into_iter()
            .filter(|d| (200..300).contains(&d.status))
            .map(|d| d.event_id)
            .collect();
        stripe
            .events()
            .iter()
            .all(|e| delivered.contains(e["id"].as_str().unwrap_or_default()))
            .then_some(())
    })
    .await;
    shop.settled().await;
}

/// How many `payment.succeeded` the payment's audit log recorded (one per capture).
async fn captures(shop: &Shop, payment: &str) -> i64 {
    let db = shop.env.schema("payment").await;
    count(
        &db,
        &format!(
            "SELECT count(*) FROM payment_audit WHERE payment_id = '{payment}' AND action = 'succeeded'"
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_buys_through_stripe_and_a_billing_admin_refunds_it_from_the_queue() {
    let shop = Shop::open_stripe(&[]).await;
    let stripe = shop.stripe();
    let learner = shop.learner("learner-1");
    let oid = ordered(&shop, &learner, "lms-s1", 4900).await;

    // The intent is Stripe's: what Stripe.js needs, the order in its metadata, one customer.
    let intent = shop.intent(&learner, &oid).await;
    assert_eq!(intent["processor"], "stripe");
    assert_eq!(intent["publishableKey"], STRIPE_PK, "what Stripe.js needs");
    let pi = intent["intentId"].as_str().unwrap().to_string();
    assert!(pi.starts_with("pi_"), "{intent}");
    assert!(
        intent["clientSecret"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{pi}_secret_"))
    );
    let at_stripe = stripe.intent(&pi).unwrap();
    assert_eq!(at_stripe["amount"], 4900);
    assert_eq!(at_stripe["currency"], "usd");
    assert_eq!(at_stripe["metadata"]["orderId"], oid.as_str());
    assert_eq!(at_stripe["metadata"]["paymentId"], intent["id"]);
    assert!(at_stripe["customer"].as_str().unwrap().starts_with("cus_"));
    assert_eq!(stripe.customers(), 1);
    let config = get_ok(&shop.app, "/api/v2/payments/config").await;
    assert_eq!(config["processor"], "stripe");
    assert_eq!(config["client"]["publishableKey"], STRIPE_PK);

    // A server-side confirm with a test card; the answer is Stripe's, fee from its ledger.
    let (s, paid) = confirm(
        &shop,
        &learner,
        json!({"paymentId": intent["id"], "paymentMethod": "pm_card_visa"}),
        "c1",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{paid}");
    assert_eq!(paid["status"], "succeeded");
    assert_eq!(
        paid["processorFee"], 172,
        "2.9 % of 49.00 is 142.1 → 142, plus 30"
    );
    assert_eq!(paid["methodType"], "card");
    assert_eq!(stripe.charges(), 1);
    shop.order_status(&learner, &oid, "completed").await;
    shop.registrations_all(&learner, 1, "enrolled").await;

    // The learner's second purchase reuses their Stripe customer.
    let second = ordered(&shop, &learner, "lms-s2", 2900).await;
    let again = shop.intent(&learner, &second).await;
    let customer = |pi: &Value| stripe.intent(pi.as_str().unwrap()).unwrap()["customer"].clone();
    assert_eq!(customer(&again["intentId"]), customer(&intent["intentId"]));
    assert_eq!(stripe.customers(), 1);

    // A refund: the learner asks, a billing-admin approves, Stripe refunds once.
    let (s, asked) = ask(&shop, &learner, &oid, "ask-1").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{asked}");
    let request = queued(&shop, asked["id"].as_str().unwrap()).await;
    assert_eq!(request["amount"], 4900);
    assert_eq!(stripe.refunds(), 0, "nothing moves before approval");
    let (s, approved) = decide(&shop, asked["id"].as_str().unwrap(), "approve", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{approved}");
    assert_eq!(approved["refund"]["status"], "succeeded");
    assert!(
        approved["refund"]["processorRefundId"]
            .as_str()
            .unwrap()
            .starts_with("re_")
    );
    assert_eq!(stripe.refunds(), 1);
    let refunded = shop.order_status(&learner, &oid, "refunded").await;
    assert_eq!(refunded["refundedAmount"], 4900);
    assert_eq!(refunded["items"][0]["refundedAmount"], 4900);
    shop.registrations_all(&learner, 1, "cancelled").await;
    eventually(WAIT, "the LMS told to unenroll", || async {
        (shop.lms.unenrollments().len() == 1).then_some(())
    })
    .await;
    let entry = history_entry(&shop, &learner, intent["id"].as_str().unwrap()).await;
    assert_eq!(entry["refunds"][0]["amount"], 4900);
    assert_eq!(entry["methodType"], "card");
    // Stripe's refund events came back by webhook and changed nothing more.
    shop.settled().await;
    assert_eq!(stripe.refunds(), 1);
    assert_eq!(shop.lms.unenrollments().len(), 1, "told once");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_confirms_with_one_key_make_one_charge_and_one_completion() {
    let shop = Shop::open_stripe(&[("gateway.rate_limit_burst", "100".into())]).await;
    let (learner, oid, intent) = started(&shop, "lms-c", 1999).await;
    let body = json!({"paymentId": intent["id"], "paymentMethod": "pm_card_visa"});
    let answers = futures_util::future::join_all(
        (0..50).map(|_| confirm(&shop, &learner, body.clone(), "same-key")),
    )
    .await;
    for (s, b) in &answers {
        assert!(
            *s == StatusCode::OK
                || *s == StatusCode::CONFLICT
                || *s == StatusCode::SERVICE_UNAVAILABLE,
            "{s}: {b}"
        );
    }
    assert!(
        answers
            .iter()
            .any(|(s, b)| *s == StatusCode::OK && b["status"] == "succeeded")
    );
    shop.order_status(&learner, &oid, "completed").await;
    shop.registrations_all(&learner, 1, "enrolled").await;
    shop.settled().await;
    assert_eq!(shop.stripe().charges(), 1, "one charge at Stripe");
    assert_eq!(captures(&shop, intent["id"].as_str().unwrap()).await, 1);
    let db = shop.env.schema("cart_order").await;
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM outbox WHERE event_type = 'commerce.v1.OrderCompleted'"
        )
        .await,
        1,
        "one order.completed"
    );
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_failing_then_answering_or_timing_out_then_answering_charges_once() {
    let shop = Shop::open_stripe(&[("payment.stripe_timeout_ms", "700".into())]).await;
    let stripe = shop.stripe();
    let learner = shop.learner("learner-1");

    // One 500, then Stripe answers: retried under the same key, one charge.
    let oid = ordered(&shop, &learner, "lms-f1", 1000).await;
    let intent = shop.intent(&learner, &oid).await;
    stripe.fail_next(1, 500);
    let (s, paid) = confirm(
        &shop,
        &learner,
        json!({"paymentId": intent["id"], "paymentMethod": "pm_card_visa"}),
        "f1",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{paid}");
    assert_eq!(paid["status"], "succeeded");
    assert_eq!(stripe.charges(), 1);

    // The charge is made but its answer comes after our timeout: the retry gets the answer
    // Stripe stored under the key, and charges nothing more.
    let oid2 = ordered(&shop, &learner, "lms-f2", 1000).await;
    let intent2 = shop.intent(&learner, &oid2).await;
    // Stripe's webhooks of the first order are handled first: the delay is for the confirm.
    quiet(&shop).await;
    stripe.delay_next(1, Duration::from_millis(1500));
    let (s, paid2) = confirm(
        &shop,
        &learner,
        json!({"paymentId": intent2["id"], "paymentMethod": "pm_card_visa"}),
        "f2",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{paid2}");
    assert_eq!(paid2["status"], "succeeded");
    assert_eq!(stripe.charges(), 2, "one charge per order");
    let confirms: Vec<_> = stripe
        .requests()
        .into_iter()
        .filter(|r| {
            r.path.ends_with("/confirm") && r.path.contains(intent2["intentId"].as_str().unwrap())
        })
        .collect();
    assert!(confirms.len() >= 2, "the timed-out attempt was sent again");
    assert!(
        confirms
            .windows(2)
            .all(|w| w[0].idempotency_key == w[1].idempotency_key),
        "under one idempotency key"
    );

    // Stripe down for longer than our retries: a retryable 503, the payment consistent, and
    // the client's retry with its key charges once.
    let oid3 = ordered(&shop, &learner, "lms-f3", 1000).await;
    let intent3 = shop.intent(&learner, &oid3).await;
    quiet(&shop).await;
    stripe.fail_next(3, 503);
    let body = json!({"paymentId": intent3["id"], "paymentMethod": "pm_card_visa"});
    let (s, down) = confirm(&shop, &learner, body.clone(), "f3").await;
    assert_problem(
        s,
        &down,
        StatusCode::SERVICE_UNAVAILABLE,
        "processor_unavailable",
    );
    assert_eq!(stripe.charges(), 2);
    let (s, paid3) = confirm(&shop, &learner, body, "f3").await;
    assert_eq!(s, StatusCode::OK, "{paid3}");
    assert_eq!(paid3["status"], "succeeded");
    assert_eq!(stripe.charges(), 3);
    for o in [&oid, &oid2, &oid3] {
        shop.order_status(&learner, o, "completed").await;
    }
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_d_secure_settles_by_webhook_and_a_decline_keeps_the_order_payable() {
    let shop = Shop::open_stripe(&[]).await;
    let stripe = shop.stripe();
    let (learner, oid, intent) = started(&shop, "lms-3ds", 2500).await;

    // A decline: the payment stays payable, nothing is charged.
    let (s, declined) = confirm(
        &shop,
        &learner,
        json!({"paymentId": intent["id"], "paymentMethod": "pm_card_visa_chargeDeclinedInsufficientFunds"}),
        "d1",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{declined}");
    assert_eq!(declined["status"], "pending");
    assert!(
        declined["failureReason"]
            .as_str()
            .unwrap()
            .contains("insufficient_funds")
    );
    assert_eq!(stripe.charges(), 0);

    // Another card asks for 3-D Secure: processing, with the next action for Stripe.js.
    let (s, action) = confirm(
        &shop,
        &learner,
        json!({"paymentId": intent["id"], "paymentMethod": "pm_card_authenticationRequired"}),
        "d2",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{action}");
    assert_eq!(action["status"], "processing");
    assert_eq!(action["nextAction"], "use_stripe_sdk");
    assert_eq!(shop.order(&learner, &oid).await["status"], "pending");

    // The learner authenticates; Stripe's webhook settles the payment.
    stripe
        .complete_action(intent["intentId"].as_str().unwrap(), true)
        .await
        .unwrap();
    shop.order_status(&learner, &oid, "completed").await;
    let entry = history_entry(&shop, &learner, intent["id"].as_str().unwrap()).await;
    assert_eq!(entry["status"], "succeeded");
    assert_eq!(
        entry["processorFee"], 102,
        "2.9 % of 25.00 is 72.5 → 72 (half to even), plus 30"
    );
    // Asking afterwards (no payment method: the UI confirmed with Stripe.js) reads Stripe's state.
    let (s, read) = confirm(&shop, &learner, json!({"paymentId": intent["id"]}), "d3").await;
    assert_eq!(s, StatusCode::OK, "{read}");
    assert_eq!(read["status"], "succeeded");
    assert_eq!(stripe.charges(), 1);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_pay_through_stripe_is_configured_and_recorded_as_such() {
    let shop = Shop::open_stripe(&[("payment.processors_by_department.cs", "gpay".into())]).await;
    let config = get_ok(&shop.app, "/api/v2/payments/config?departmentId=cs").await;
    assert_eq!(config["processor"], "gpay");
    assert_eq!(config["client"]["publishableKey"], STRIPE_PK);
    assert_eq!(
        config["client"]["googlePay"]["merchantId"],
        "BCR2DN4TE2E00000"
    );
    assert_eq!(config["client"]["googlePay"]["environment"], "TEST");
    assert_eq!(config["client"]["googlePay"]["gateway"], "stripe");
    let other = get_ok(&shop.app, "/api/v2/payments/config?departmentId=music").await;
    assert_eq!(other["processor"], "stripe");
    assert!(other["client"]["googlePay"].is_null());

    let (learner, oid, intent) = started(&shop, "lms-g", 3000).await;
    assert_eq!(intent["processor"], "gpay");
    let (s, paid) = confirm(
        &shop,
        &learner,
        json!({"paymentId": intent["id"], "paymentMethod": "pm_card_googlePay"}),
        "g1",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{paid}");
    assert_eq!(paid["methodType"], "google_pay");
    shop.order_status(&learner, &oid, "completed").await;
    let entry = history_entry(&shop, &learner, intent["id"].as_str().unwrap()).await;
    assert_eq!(entry["methodType"], "google_pay");
    assert_eq!(entry["processor"], "gpay");
    shop.close().await;
}

/// Confirms an intent at the fake Stripe directly, as Stripe.js does in the learner's browser;
/// Stripe's answer.
async fn browser_confirm(shop: &Shop, intent_id: &str, method: &str) -> (StatusCode, String) {
    let r = reqwest::Client::new()
        .post(format!(
            "{}/v1/payment_intents/{intent_id}/confirm",
            shop.stripe().url
        ))
        .bearer_auth(STRIPE_SK)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("payment_method={method}"))
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// [`browser_confirm`], which Stripe must accept.
async fn confirm_in_browser(shop: &Shop, intent_id: &str, method: &str) {
    let (status, body) = browser_confirm(shop, intent_id, method).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_three_times_applies_once_and_forged_events_change_nothing() {
    let shop = Shop::open_stripe(&[]).await;
    let stripe = shop.stripe();
    let (learner, oid, intent) = started(&shop, "lms-e", 1500).await;
    let pi = intent["intentId"].as_str().unwrap();

    // The UI confirms with Stripe.js; only Stripe's webhook tells us, three times over.
    stripe.hold_webhooks(true);
    confirm_in_browser(&shop, pi, "pm_card_visa").await;
    let succeeded = stripe
        .held()
        .into_iter()
        .find(|e| e["type"] == "payment_intent.succeeded")
        .unwrap();
    stripe.hold_webhooks(false);
    assert_eq!(
        stripe.resend(succeeded["id"].as_str().unwrap(), 3).await,
        3,
        "the gateway took all three"
    );
    shop.order_status(&learner, &oid, "completed").await;
    shop.registrations_all(&learner, 1, "enrolled").await;
    shop.settled().await;
    assert_eq!(captures(&shop, intent["id"].as_str().unwrap()).await, 1);
    let entry = history_entry(&shop, &learner, intent["id"].as_str().unwrap()).await;
    assert_eq!(
        entry["processorFee"], 74,
        "2.9 % of 15.00 is 43.5 → 44, plus 30"
    );

    // A forged event (wrong secret) and one without a signature change nothing.
    let forged = json!({
        "id": "evt_forged", "object": "event", "type": "charge.refunded",
        "data": {"object": {"id": "ch_x", "object": "charge", "payment_intent": pi}}
    })
    .to_string();
    let now = chrono::Utc::now().timestamp();
    for sig in [
        Some(fake_stripe::signature("whsec_not_ours", now, &forged)),
        Some(fake_stripe::signature(STRIPE_WHSEC, now - 3600, &forged)),
        None,
    ] {
        let mut req = shop
            .app
            .client
            .post(shop.app.url("/api/v2/payments/webhook/stripe"))
            .header("content-type", "application/json")
            .body(forged.clone());
        if let Some(sig) = sig {
            req = req.header("Stripe-Signature", sig);
        }
        let (s, b) = send(req).await;
        assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_signature");
    }
    shop.settled().await;
    assert_eq!(shop.order(&learner, &oid).await["status"], "completed");
    assert_eq!(stripe.refunds(), 0);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_announced_before_the_success_ends_refunded_with_no_enrollment_left() {
    let shop = Shop::open_stripe(&[]).await;
    let stripe = shop.stripe();
    let (learner, oid, intent) = started(&shop, "lms-o", 2000).await;
    let pi = intent["intentId"].as_str().unwrap();

    stripe.hold_webhooks(true);
    confirm_in_browser(&shop, pi, "pm_card_visa").await;
    stripe.refund_from_dashboard(pi, None).await.unwrap();
    // charge.refunded and refund.created arrive before payment_intent.succeeded.
    let held: Vec<String> = stripe
        .held()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        held.last().map(String::as_str),
        Some("charge.refunded"),
        "{held:?}"
    );
    stripe.hold_webhooks(false);
    assert!(stripe.release(Release::Reversed).await >= 4);

    let o = shop.order_status(&learner, &oid, "refunded").await;
    assert_eq!(o["refundedAmount"], 2000);
    shop.settled().await;
    let regs = shop.registrations(&learner).await;
    assert!(
        regs.iter().all(|r| r["status"] == "cancelled"),
        "no enrollment left: {regs:?}"
    );
    let enrolled = shop.lms.enrollment_count();
    assert_eq!(
        shop.lms.unenrollments().len(),
        enrolled,
        "every enrollment the LMS got is taken back"
    );
    let entry = history_entry(&shop, &learner, intent["id"].as_str().unwrap()).await;
    assert_eq!(entry["status"], "succeeded");
    assert_eq!(entry["refunds"][0]["amount"], 2000);
    assert_eq!(entry["refunds"][0]["approvedBy"], "processor:stripe");
    assert_eq!(captures(&shop, intent["id"].as_str().unwrap()).await, 1);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_of_333_333_334_succeed_and_a_fourth_cent_is_refused_without_calling_stripe() {
    let shop = Shop::open_stripe(&[]).await;
    let stripe = shop.stripe();
    let learner = shop.learner("learner-1");
    let (oid, pid) = paid_order(&shop, &learner, 1000).await;
    let pid = pid.as_str();
    for (i, amount) in [333, 333, 334].into_iter().enumerate() {
        let (s, r) = refund(
            &shop,
            pid,
            json!({"amount": amount, "reason": "partial"}),
            &format!("r{i}"),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        assert_eq!(r["status"], "succeeded");
    }
    assert_eq!(stripe.refunds(), 3);
    let calls = || stripe.posts_to("/v1/refunds").len();
    let before = calls();
    let (s, b) = refund(&shop, pid, json!({"amount": 1, "reason": "one more"}), "r4").await;
    assert_problem(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refund_exceeds_captured",
    );
    assert_eq!(calls(), before, "no processor call");
    assert_eq!(stripe.refunds(), 3);
    let o = shop.order_status(&learner, &oid, "refunded").await;
    assert_eq!(o["refundedAmount"], 1000);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_full_approvals_make_one_stripe_refund() {
    let shop = Shop::open_stripe(&[]).await;
    let learner = shop.learner("learner-1");
    let oid = ordered(&shop, &learner, "lms-a", 1200).await;
    shop.pay(&learner, &oid, "pm_card_visa").await;
    shop.order_status(&learner, &oid, "completed").await;
    let (s, asked) = ask(&shop, &learner, &oid, "k").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{asked}");
    let rid = asked["id"].as_str().unwrap();
    queued(&shop, rid).await;
    let (a, b) = tokio::join!(
        decide(&shop, rid, "approve", json!({})),
        decide(&shop, rid, "approve", json!({}))
    );
    let ok = [&a, &b]
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "{a:?} {b:?}");
    shop.order_status(&learner, &oid, "refunded").await;
    assert_eq!(shop.stripe().refunds(), 1);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_refund_settles_by_webhook_and_a_failed_one_frees_its_amount() {
    let shop = Shop::open_stripe(&[]).await;
    let stripe = shop.stripe();
    let learner = shop.learner("learner-1");
    let (oid, pid) = paid_order(&shop, &learner, 1000).await;
    let pid = pid.as_str();

    // Stripe takes the refund as pending: it stays in flight and holds its amount.
    stripe.set_refund_mode(RefundMode::Pending);
    let (s, pending) = refund(&shop, pid, json!({"amount": 400, "reason": "late"}), "p1").await;
    assert_eq!(s, StatusCode::CREATED, "{pending}");
    assert_eq!(pending["status"], "processing");
    let (s, b) = refund(
        &shop,
        pid,
        json!({"amount": 601, "reason": "too much"}),
        "p2",
    )
    .await;
    assert_problem(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refund_exceeds_captured",
    );
    // Stripe settles it; its webhook completes ours.
    let re = pending["processorRefundId"].as_str().unwrap();
    stripe.settle_refund(re, true).await.unwrap();
    eventually(WAIT, "the order partly refunded", || async {
        (shop.order(&learner, &oid).await["refundedAmount"] == 400).then_some(())
    })
    .await;
    let entry = history_entry(&shop, &learner, pid).await;
    assert_eq!(entry["refunds"][0]["status"], "succeeded");

    // A refund Stripe fails: recorded failed with the reason, its amount free again.
    stripe.set_refund_mode(RefundMode::Fail);
    let (s, failing) = refund(&shop, pid, json!({"amount": 600, "reason": "rest"}), "p3").await;
    assert_eq!(s, StatusCode::CREATED, "{failing}");
    let failed = eventually(WAIT, "the refund failed", || async {
        let e = history_entry(&shop, &learner, pid).await;
        let r = e["refunds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == failing["id"])
            .cloned()
            .unwrap();
        (r["status"] == "failed").then_some(r)
    })
    .await;
    assert!(
        failed["failureReason"]
            .as_str()
            .unwrap()
            .contains("expired_or_canceled_card")
    );
    stripe.set_refund_mode(RefundMode::Succeed);
    let (s, retried) = refund(&shop, pid, json!({"amount": 600, "reason": "rest"}), "p4").await;
    assert_eq!(s, StatusCode::CREATED, "{retried}");
    assert_eq!(retried["status"], "succeeded");
    shop.order_status(&learner, &oid, "refunded").await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_is_split_over_the_lines_exactly_and_a_refunded_line_alone_is_unenrolled() {
    let shop = Shop::open_stripe(&[]).await;
    let basket = Basket::stock(&shop).await;
    let learner = shop.learner("learner-1");
    let oid = basket.check_out(&shop, &learner).await;
    shop.pay(&learner, &oid, "pm_card_visa").await;
    shop.order_status(&learner, &oid, "completed").await;
    shop.registrations_all(&learner, 3, "enrolled").await;
    let order = shop.order(&learner, &oid).await;
    let (course_line, program_line) = (&order["items"][0], &order["items"][1]);
    assert_eq!(course_line["price"], 4900);
    assert_eq!(program_line["price"], 11_000);

    // 1000 over 4900 : 11000 → 308.18 : 691.82 → 308 : 692 (largest remainder).
    let paid = history_entry(&shop, &learner, order["paymentId"].as_str().unwrap()).await;
    let pid = paid["id"].as_str().unwrap();
    let (s, r) = refund(
        &shop,
        pid,
        json!({"amount": 1000, "reason": "goodwill"}),
        "s1",
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let split = eventually(WAIT, "the refund on the lines", || async {
        let o = shop.order(&learner, &oid).await;
        (o["refundedAmount"] == 1000).then_some(o)
    })
    .await;
    assert_eq!(split["items"][0]["refundedAmount"], 308);
    assert_eq!(split["items"][1]["refundedAmount"], 692);
    assert_eq!(split["paymentStatus"], "partial-refund");

    // The learner asks for the course line alone: what remains of it, and only its
    // registration is cancelled.
    let ask = format!("/api/v2/orders/{oid}/refund-requests");
    let (s, asked) = post(
        &shop.app,
        &learner,
        &ask,
        json!({"reason": "wrong course", "orderItemIds": [course_line["id"]]}),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{asked}");
    assert_eq!(asked["amount"], 4900 - 308);
    let rid = asked["id"].as_str().unwrap();
    queued(&shop, rid).await;
    let (s, approved) = decide(&shop, rid, "approve", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{approved}");
    let after = eventually(WAIT, "the course line wholly refunded", || async {
        let o = shop.order(&learner, &oid).await;
        (o["items"][0]["refundedAmount"] == 4900).then_some(o)
    })
    .await;
    assert_eq!(
        after["items"][1]["refundedAmount"], 692,
        "the program line untouched"
    );
    assert_eq!(after["status"], "completed");
    let regs = eventually(WAIT, "the course registration cancelled", || async {
        let regs = shop.registrations(&learner).await;
        (regs.iter().filter(|r| r["status"] == "cancelled").count() == 1).then_some(regs)
    })
    .await;
    let cancelled = regs.iter().find(|r| r["status"] == "cancelled").unwrap();
    assert_eq!(cancelled["courseId"], basket.a.as_str());
    assert_eq!(regs.iter().filter(|r| r["status"] == "enrolled").count(), 2);
    eventually(WAIT, "the LMS told to unenroll the course", || async {
        (shop.lms.unenrollments().len() == 1).then_some(())
    })
    .await;
    // A line of another order is refused.
    let (s, b) = post(
        &shop.app,
        &learner,
        &ask,
        json!({"reason": "x", "orderItemIds": [uuid::Uuid::now_v7()]}),
    )
    .await;
    assert_problem(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_order_item",
    );
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_expiring_unpaid_cancels_its_stripe_intent_so_nothing_can_be_charged() {
    let clock = std::sync::Arc::new(kernel::ManualClock::new(chrono::Utc::now()));
    let mut factories = commerce::registry();
    factories.retain(|f| runtime::ServiceFactory::name(f.as_ref()) != "cart-order");
    factories.push(std::sync::Arc::new(cart_order::CartOrderService {
        clock: Some(clock.clone()),
        ..Default::default()
    }));
    let shop = Shop::open_stripe_with(
        &[
            ("cart_order.pending_order_ttl_hours", "24".into()),
            ("cart_order.expiry_interval_secs", "1".into()),
        ],
        factories,
    )
    .await;
    let (learner, oid, intent) = started(&shop, "lms-x", 1000).await;
    let pi = intent["intentId"].as_str().unwrap();
    clock.advance(chrono::Duration::hours(25));
    shop.order_status(&learner, &oid, "failed").await;
    eventually(WAIT, "the payment cancelled", || async {
        let e = history_entry(&shop, &learner, intent["id"].as_str().unwrap()).await;
        (e["status"] == "cancelled").then_some(())
    })
    .await;
    assert_eq!(shop.stripe().intent(pi).unwrap()["status"], "canceled");
    // Stripe.js confirming now is refused by Stripe: nothing can be charged.
    let (status, _) = browser_confirm(&shop, pi, "pm_card_visa").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(shop.stripe().charges(), 0);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_stripe_cannot_answer_stays_in_flight_and_the_sweeper_settles_it_once() {
    let shop = Shop::open_stripe(&[("payment.refund_sweep_after_secs", "1".into())]).await;
    let stripe = shop.stripe();
    let learner = shop.learner("learner-1");
    let (oid, pid) = paid_order(&shop, &learner, 1000).await;
    quiet(&shop).await;
    // Stripe fails every attempt of the refund call: the refund is recorded in flight.
    stripe.fail_next(3, 503);
    let (s, r) = refund(&shop, &pid, json!({"reason": "outage"}), "o1").await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["status"], "processing");
    assert_eq!(stripe.refunds(), 0);
    // It holds its share: nothing more can be refunded meanwhile.
    let (s, b) = refund(&shop, &pid, json!({"amount": 1, "reason": "more"}), "o2").await;
    assert_problem(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refund_exceeds_captured",
    );
    // Stripe is back: the sweeper sends it again under the same key, once.
    let done = eventually(WAIT, "the sweeper settled the refund", || async {
        let e = history_entry(&shop, &learner, &pid).await;
        let r = e["refunds"][0].clone();
        (r["status"] == "succeeded").then_some(r)
    })
    .await;
    assert_eq!(done["id"], r["id"]);
    assert_eq!(stripe.refunds(), 1);
    shop.order_status(&learner, &oid, "refunded").await;
    let keys: Vec<_> = stripe
        .posts_to("/v1/refunds")
        .into_iter()
        .map(|q| q.idempotency_key)
        .collect();
    assert!(
        keys.len() >= 4,
        "three failed attempts, then the sweeper's: {keys:?}"
    );
    assert!(
        keys.windows(2).all(|w| w[0] == w[1]),
        "one idempotency key: {keys:?}"
    );
    shop.close().await;
}
