//! Paying: a declined card that leaves the order payable, an authentication-required card, a
//! confirm racing its own webhooks, a capture after the order expired, and concurrent intents
//! under one idempotency key.

use crate::helpers::shop::*;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_keeps_the_order_payable_and_registers_nothing_until_another_card_pays() {
    let shop = Shop::open(&[]).await;
    let a = shop.course("lms-a", 4900, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    let order = shop.checkout(&learner).await;
    let oid = order["id"].as_str().unwrap();
    let declined = shop.pay(&learner, oid, "pm_card_visa_chargeDeclined").await;
    // PAY-006: the attempt failed, the payment did not; it waits for another method.
    assert_eq!(declined["status"], "pending");
    assert!(
        declined["failureReason"]
            .as_str()
            .unwrap()
            .contains("declined")
    );
    // Positive signal first: the decline has run its whole course. The audit row of the decline
    // is written in the same transaction as its `payment.failed` outbox row, and `settled()`
    // then waits until every outbox is published and every consumer (cart-order's payment
    // consumer and registration's order consumer included) has acknowledged all it was sent.
    let pay = shop.env.schema("payment").await;
    assert_eq!(
        count(
            &pay,
            "SELECT count(*) FROM payment_audit WHERE action = 'declined'"
        )
        .await,
        1
    );
    shop.settled().await;
    let still = shop.order(&learner, oid).await;
    assert_eq!(
        still["status"], "pending",
        "a decline does not fail the order"
    );
    assert_eq!(still["paymentStatus"], "pending");
    assert!(shop.registrations(&learner).await.is_empty());
    let reg = shop.env.schema("registration").await;
    assert_eq!(count(&reg, "SELECT count(*) FROM deliveries").await, 0);
    assert!(shop.lms.received().is_empty());
    // The same payment is offered again, and another card pays it: one payment, one capture.
    let again = post_expect(
        &shop.app,
        &learner,
        "/api/v2/payments/create-intent",
        json!({"orderId": oid}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["id"], declined["id"]);
    let paid = post_expect(
        &shop.app,
        &learner,
        "/api/v2/payments/confirm",
        json!({"paymentId": declined["id"], "paymentMethod": "pm_card_visa"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(paid["status"], "succeeded");
    assert!(paid["failureReason"].is_null());
    // The sandbox's default fee (290 bps + 30) of 49.00 is 1.72, on the payment and its event.
    assert_eq!(paid["processorFee"], 172);
    let payload =
        testkit::eventually(WAIT, "payment.succeeded in the outbox", || {
            let pay = pay.clone();
            async move {
                sea_orm::ConnectionTrait::query_one_raw(&pay, sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT payload FROM outbox WHERE event_type = 'commerce.v1.PaymentSucceeded'",
            ))
            .await
            .unwrap()
            .map(|row| row.try_get::<Vec<u8>>("", "payload").unwrap())
            }
        })
        .await;
    let succeeded: events::commerce::v1::PaymentSucceeded =
        prost::Message::decode(payload.as_slice()).unwrap();
    assert_eq!(succeeded.processor_fee_minor, 172);
    assert_eq!(succeeded.amount_minor, 4900);
    shop.order_status(&learner, oid, "completed").await;
    shop.registrations_all(&learner, 1, "enrolled").await;
    assert_eq!(
        count(&pay, "SELECT count(*) FROM payments").await,
        1,
        "one payment for the order"
    );
    // The authentication-required card needs action and completes nothing.
    let b = shop.course("lms-b", 100, false).await;
    shop.add(&learner, "course", &b).await;
    let order = shop.checkout(&learner).await;
    let paid = shop
        .pay(
            &learner,
            order["id"].as_str().unwrap(),
            "pm_card_authenticationRequired",
        )
        .await;
    assert_eq!(paid["status"], "processing");
    assert_eq!(paid["nextAction"], "use_stripe_sdk");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_checkouts_or_intents_with_one_key_make_one_order_and_one_payment() {
    // A burst above the gateway's default rate limit is part of this test's load.
    let shop = Shop::open(&[("gateway.rate_limit_burst", "100".into())]).await;
    let a = shop.course("lms-a", 4900, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    let send = |path: &'static str, body: Value, key: &'static str| {
        shop.app
            .client
            .post(shop.app.url(path))
            .bearer_auth(&learner)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let results = futures_util::future::join_all(
        (0..20).map(|_| send("/api/v2/cart/checkout", json!({}), "checkout-1")),
    )
    .await;
    let mut orders = std::collections::HashSet::new();
    for r in results {
        let (s, b) = body(r.unwrap()).await;
        match s {
            StatusCode::CREATED | StatusCode::OK => {
                orders.insert(b["id"].as_str().unwrap().to_string());
            }
            StatusCode::CONFLICT => assert_eq!(b["code"], "idempotency_key_in_use", "{b}"),
            other => panic!("{other}: {b}"),
        }
    }
    assert_eq!(orders.len(), 1);
    let oid = orders.into_iter().next().unwrap();
    let co = shop.env.schema("cart_order").await;
    assert_eq!(count(&co, "SELECT count(*) FROM orders").await, 1);

    let body_ = json!({"orderId": oid});
    let results = futures_util::future::join_all(
        (0..20).map(|_| send("/api/v2/payments/create-intent", body_.clone(), "intent-1")),
    )
    .await;
    let mut payments = std::collections::HashSet::new();
    for r in results {
        let (s, b) = body(r.unwrap()).await;
        match s {
            StatusCode::CREATED | StatusCode::OK => {
                payments.insert(b["id"].as_str().unwrap().to_string());
            }
            StatusCode::CONFLICT => assert_eq!(b["code"], "idempotency_key_in_use", "{b}"),
            other => panic!("{other}: {b}"),
        }
    }
    assert_eq!(payments.len(), 1);
    // Without a key, a second intent for the same order is still the same payment.
    let (s, again) = post(
        &shop.app,
        &learner,
        "/api/v2/payments/create-intent",
        json!({"orderId": oid, "amount": 1}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert!(payments.contains(again["id"].as_str().unwrap()));
    assert_eq!(again["amount"], 4900, "the amount comes from the order");
    let pay = shop.env.schema("payment").await;
    assert_eq!(count(&pay, "SELECT count(*) FROM payments").await, 1);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirm_racing_its_webhooks_completes_exactly_once() {
    let secret = "whsec_race_test_secret_0123456789";
    // The sandbox's own webhooks go nowhere here; the test sends them itself, many times.
    let shop = Shop::open(&[
        ("payment.sandbox_webhook_secret", secret.into()),
        (
            "payment.sandbox_webhook_url",
            "http://127.0.0.1:9/nowhere".into(),
        ),
    ])
    .await;
    let a = shop.course("lms-a", 4900, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    let order = shop.checkout(&learner).await;
    let oid = order["id"].as_str().unwrap().to_string();
    let intent = shop.intent(&learner, &oid).await;
    let event = json!({
        "id": "evt_race_1", "type": "payment_intent.succeeded",
        "data": {"object": {"id": intent["intentId"], "amount": 4900, "currency": "usd", "status": "succeeded"}}
    })
    .to_string();
    let webhook = || {
        let sig = payment::processor::sandbox::sign(
            secret,
            chrono::Utc::now().timestamp(),
            event.as_bytes(),
        );
        shop.app
            .client
            .post(shop.app.url("/api/v2/payments/webhook/sandbox"))
            .header("Stripe-Signature", sig)
            .body(event.clone())
            .send()
    };
    let confirm = || {
        shop.app
            .client
            .post(shop.app.url("/api/v2/payments/confirm"))
            .bearer_auth(&learner)
            .json(&json!({"paymentId": intent["id"], "paymentMethod": "pm_card_visa"}))
            .send()
    };
    let (hooks, confirms) = tokio::join!(
        futures_util::future::join_all((0..5).map(|_| webhook())),
        futures_util::future::join_all((0..5).map(|_| confirm())),
    );
    assert!(
        hooks
            .iter()
            .all(|r| r.as_ref().unwrap().status() == StatusCode::ACCEPTED)
    );
    for r in confirms {
        let (s, b) = body(r.unwrap()).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["status"], "succeeded");
    }
    shop.order_status(&learner, &oid, "completed").await;
    shop.registrations_all(&learner, 1, "enrolled").await;
    let pay = shop.env.schema("payment").await;
    let co = shop.env.schema("cart_order").await;
    assert_eq!(
        count(
            &pay,
            "SELECT count(*) FROM outbox WHERE subject = 'commerce.payment.succeeded'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &pay,
            "SELECT count(*) FROM payment_audit WHERE action = 'succeeded'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &co,
            "SELECT count(*) FROM outbox WHERE subject = 'commerce.order.completed'"
        )
        .await,
        1
    );
    assert_eq!(shop.lms.received().len(), 1);
    // The webhooks were applied (a no-op on the settled payment), not refused: every consumer
    // has settled and nothing was dead-lettered.
    shop.settled().await;
    let bus = bus::Bus::connect(&shop.env.settings(&[]).bus())
        .await
        .unwrap();
    assert!(bus.dead_letters().await.unwrap().is_empty());
    // A forged webhook is refused at the edge and changes nothing.
    let forged = shop
        .app
        .client
        .post(shop.app.url("/api/v2/payments/webhook/sandbox"))
        .header("Stripe-Signature", "t=1,v1=00")
        .body(event.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    // Payments are immutable in the database itself.
    assert!(
        sea_orm::ConnectionTrait::execute_unprepared(&pay, "DELETE FROM payments")
            .await
            .is_err()
    );
    assert!(
        sea_orm::ConnectionTrait::execute_unprepared(&pay, "UPDATE payments SET amount_minor = 1")
            .await
            .is_err()
    );
    assert!(
        sea_orm::ConnectionTrait::execute_unprepared(&pay, "UPDATE payments SET status = 'failed'")
            .await
            .is_err()
    );
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_captured_after_the_order_failed_still_completes_it() {
    let (shop, clock) =
        Shop::open_with_order_clock(&[("cart_order.pending_order_ttl_hours", "24".into())]).await;
    let a = shop.course("lms-a", 1000, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    let order = shop.checkout(&learner).await;
    let oid = order["id"].as_str().unwrap().to_string();
    // The order expires unpaid.
    clock.advance(chrono::Duration::hours(25));
    shop.order_status(&learner, &oid, "failed").await;
    // A payment the processor captured while the order was expiring (a slow confirmation racing
    // the expiry): the learner paid, so the order completes and the course is theirs.
    let late = events::commerce::v1::PaymentSucceeded {
        payment_id: uuid::Uuid::now_v7().to_string(),
        order_id: oid.clone(),
        user_id: "learner-1".into(),
        processor: "sandbox".into(),
        processor_transaction_id: "ch_late".into(),
        amount_minor: 1000,
        currency: "USD".into(),
        processor_fee_minor: 0,
        payment_method_type: "card".into(),
        succeeded_at: chrono::Utc::now().to_rfc3339(),
    };
    let bus = bus::Bus::connect(&shop.env.settings(&[]).bus())
        .await
        .unwrap();
    let env_ = events::Envelope::new(
        "commerce.v1.PaymentSucceeded",
        "payment",
        chrono::Utc::now(),
        None,
    );
    bus.publish(
        events::subjects::PAYMENT_SUCCEEDED,
        env_.to_headers(),
        prost::Message::encode_to_vec(&late).into(),
    )
    .await
    .unwrap();
    let done = shop.order_status(&learner, &oid, "completed").await;
    assert!(done["failureReason"].is_null());
    assert_eq!(done["paymentId"], late.payment_id.as_str());
    shop.registrations_all(&learner, 1, "enrolled").await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payment_form_config_is_public_and_names_each_departments_processor() {
    let shop = Shop::open(&[]).await;
    let config = get_ok(&shop.app, "/api/v2/payments/config?departmentId=cs").await;
    assert_eq!(config["departmentId"], "cs");
    assert_eq!(config["processor"], "sandbox");
    assert_eq!(
        config["client"]["testPaymentMethods"]["pm_card_visa"],
        "succeeds"
    );
    let default = get_ok(&shop.app, "/api/v2/payments/config").await;
    assert!(default["departmentId"].is_null());
    assert_eq!(default["processor"], "sandbox");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispute_is_recorded_once_on_the_payment_and_the_order_and_changes_nothing_else() {
    let secret = "whsec_dispute_test_secret_0123456789";
    let shop = Shop::open(&[("payment.sandbox_webhook_secret", secret.into())]).await;
    let a = shop.course("lms-a", 4900, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    let order = shop.checkout(&learner).await;
    let oid = order["id"].as_str().unwrap().to_string();
    let paid = shop.pay(&learner, &oid, "pm_card_visa").await;
    shop.order_status(&learner, &oid, "completed").await;
    let event = json!({
        "id": "evt_dispute_1", "type": "charge.dispute.created",
        "data": {"object": {"id": "dp_1", "object": "dispute", "amount": 4900, "currency": "usd",
            "reason": "fraudulent", "payment_intent": paid["intentId"]}}
    })
    .to_string();
    // The processor sends it three times.
    for _ in 0..3 {
        let sig = payment::processor::sandbox::sign(
            secret,
            chrono::Utc::now().timestamp(),
            event.as_bytes(),
        );
        let r = shop
            .app
            .client
            .post(shop.app.url("/api/v2/payments/webhook/sandbox"))
            .header("Stripe-Signature", sig)
            .body(event.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    let seen = testkit::eventually(WAIT, "the dispute on the admin's order view", || async {
        let o = get_as_ok(
            &shop.app,
            &shop.admin,
            &format!("/api/v2/admin/orders/{oid}"),
        )
        .await;
        (o["disputeReason"] == "fraudulent").then_some(o)
    })
    .await;
    assert!(seen["disputedAt"].is_string());
    assert_eq!(seen["status"], "completed", "no automatic action");
    let history = get_as_ok(&shop.app, &learner, "/api/v2/payments/history").await;
    assert_eq!(items(&history)[0]["dispute"]["id"], "dp_1");
    assert_eq!(items(&history)[0]["status"], "succeeded");
    shop.settled().await;
    let pay = shop.env.schema("payment").await;
    assert_eq!(
        count(
            &pay,
            "SELECT count(*) FROM payment_audit WHERE action = 'disputed'"
        )
        .await,
        1,
        "recorded once"
    );
    assert_eq!(
        count(
            &pay,
            "SELECT count(*) FROM outbox WHERE subject = 'commerce.payment.disputed'"
        )
        .await,
        1
    );
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_attempts_past_the_threshold_are_held_for_review_until_cleared() {
    let shop = Shop::open(&[("payment.velocity_max_declines", "3".into())]).await;
    let a = shop.course("lms-a", 1000, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    let order = shop.checkout(&learner).await;
    let oid = order["id"].as_str().unwrap();
    let intent = shop.intent(&learner, oid).await;
    let confirm = |method: &'static str| {
        post(
            &shop.app,
            &learner,
            "/api/v2/payments/confirm",
            json!({"paymentId": intent["id"], "paymentMethod": method}),
        )
    };
    for _ in 0..3 {
        let (s, p) = confirm("pm_card_visa_chargeDeclined").await;
        assert_eq!(
            (s, &p["status"]),
            (StatusCode::OK, &json!("pending")),
            "{p}"
        );
    }
    // The fourth attempt, even with a good card, is held.
    let (s, b) = confirm("pm_card_visa").await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "payment_review_required");
    let (s, b) = confirm("pm_card_visa").await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "payment_review_required");
    // Nor does a held learner start a payment for another order.
    let b_course = shop.course("lms-b", 2000, false).await;
    shop.add(&learner, "course", &b_course).await;
    let other = shop.checkout(&learner).await;
    let (s, b) = post(
        &shop.app,
        &learner,
        "/api/v2/payments/create-intent",
        json!({"orderId": other["id"]}),
    )
    .await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "payment_review_required");
    let (s, b) = get_as(&shop.app, &learner, "/api/v2/admin/payment-reviews").await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let queue = get_as_ok(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/payment-reviews?status=open",
    )
    .await;
    let open = items(&queue);
    assert_eq!(open.len(), 1, "{queue}");
    assert_eq!(
        (&open[0]["userId"], &open[0]["declines"]),
        (&json!("learner-1"), &json!(3))
    );
    assert_eq!(
        shop.order(&learner, oid).await["status"],
        "pending",
        "nothing was charged"
    );

    let path = format!(
        "/api/v2/admin/payment-reviews/{}/clear",
        open[0]["id"].as_str().unwrap()
    );
    let cleared = post_expect(&shop.app, &shop.admin, &path, json!({}), StatusCode::OK).await;
    assert_eq!(cleared["status"], "cleared");
    let (s, b) = post(&shop.app, &shop.admin, &path, json!({})).await;
    assert_problem(s, &b, StatusCode::CONFLICT, "review_cleared");
    let (s, p) = confirm("pm_card_visa").await;
    assert_eq!(
        (s, &p["status"]),
        (StatusCode::OK, &json!("succeeded")),
        "{p}"
    );
    shop.order_status(&learner, oid, "completed").await;
    shop.close().await;
}

/// `learner` confirms `payment` with `method`, from client address `ip`.
async fn confirm_from(
    shop: &Shop,
    learner: &str,
    payment: &Value,
    method: &str,
    ip: &str,
) -> (StatusCode, Value) {
    send(
        shop.app
            .client
            .post(shop.app.url("/api/v2/payments/confirm"))
            .bearer_auth(learner)
            .header("x-forwarded-for", ip)
            .json(&json!({"paymentId": payment["id"], "paymentMethod": method})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declines_from_one_client_address_hold_every_learner_behind_it() {
    let shop = Shop::open(&[("payment.velocity_max_declines_per_ip", "3".into())]).await;
    const IP: &str = "203.0.113.7";
    // Three learners, one decline each from the same address: none of them alone is suspect.
    let mut learners = Vec::new();
    for n in 0..3 {
        let (learner, _, payment) = shop
            .order_with_payment(&format!("ip-{n}"), &format!("lms-ip-{n}"), 1000)
            .await;
        let (s, p) =
            confirm_from(&shop, &learner, &payment, "pm_card_visa_chargeDeclined", IP).await;
        assert_eq!(
            (s, &p["status"]),
            (StatusCode::OK, &json!("pending")),
            "{p}"
        );
        learners.push((learner, payment));
    }
    // A fourth learner from that address is held, even with a good card.
    let (fourth, _, payment) = shop.order_with_payment("ip-3", "lms-ip-3", 1000).await;
    let (s, b) = confirm_from(&shop, &fourth, &payment, "pm_card_visa", IP).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "payment_review_required");
    // The same learner from another address pays: the hold is the address's.
    let (s, p) = confirm_from(&shop, &fourth, &payment, "pm_card_visa", "198.51.100.9").await;
    assert_eq!(
        (s, &p["status"]),
        (StatusCode::OK, &json!("succeeded")),
        "{p}"
    );
    let queue = get_as_ok(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/payment-reviews?status=open",
    )
    .await;
    let open = items(&queue);
    assert_eq!(open.len(), 1, "{queue}");
    assert_eq!(
        (&open[0]["kind"], &open[0]["subject"]),
        (&json!("ip"), &json!(IP))
    );
    assert_eq!(open[0]["declines"], 3);
    // Cleared: the address may pay again.
    let path = format!(
        "/api/v2/admin/payment-reviews/{}/clear",
        open[0]["id"].as_str().unwrap()
    );
    post_expect(&shop.app, &shop.admin, &path, json!({}), StatusCode::OK).await;
    let (learner, payment) = &learners[0];
    let (s, p) = confirm_from(&shop, learner, payment, "pm_card_visa", IP).await;
    assert_eq!(
        (s, &p["status"]),
        (StatusCode::OK, &json!("succeeded")),
        "{p}"
    );
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_declined_again_and_again_holds_every_learner_who_tried_it() {
    // Square names the card (its fingerprint); three declines of one card hold it.
    let shop = Shop::open_square(&[("payment.velocity_max_declines_per_card", "3".into())]).await;
    let declined = "cnon:card-nonce-declined";
    let (a, _, pa) = shop.order_with_payment("card-a", "lms-card-a", 1000).await;
    let (b, _, pb) = shop.order_with_payment("card-b", "lms-card-b", 1000).await;
    let (c, _, pc) = shop.order_with_payment("card-c", "lms-card-c", 1000).await;
    // Different addresses, different learners: only the card links them.
    for (n, (learner, payment)) in [(&a, &pa), (&b, &pb), (&a, &pa)].into_iter().enumerate() {
        let ip = format!("192.0.2.{}", n + 10);
        let (s, p) = confirm_from(&shop, learner, payment, declined, &ip).await;
        assert_eq!(
            (s, &p["status"]),
            (StatusCode::OK, &json!("pending")),
            "{p}"
        );
    }
    // A learner who was declined with that card is held, whatever card they bring now.
    let (s, body) = confirm_from(&shop, &b, &pb, "cnon:card-nonce-ok", "192.0.2.50").await;
    assert_problem(s, &body, StatusCode::FORBIDDEN, "payment_review_required");
    let (s, body) = confirm_from(&shop, &a, &pa, "cnon:card-nonce-ok", "192.0.2.51").await;
    assert_problem(s, &body, StatusCode::FORBIDDEN, "payment_review_required");
    // A learner who never used it pays.
    let (s, p) = confirm_from(&shop, &c, &pc, "cnon:card-nonce-ok", "192.0.2.52").await;
    assert_eq!(
        (s, &p["status"]),
        (StatusCode::OK, &json!("succeeded")),
        "{p}"
    );
    assert_eq!(shop.square().payments(), 1, "nothing charged while held");
    let queue = get_as_ok(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/payment-reviews?status=open",
    )
    .await;
    let open = items(&queue);
    assert_eq!(open.len(), 1, "{queue}");
    assert_eq!(open[0]["kind"], "card");
    assert!(
        open[0]["subject"].as_str().unwrap().starts_with("sq-1-"),
        "{queue}"
    );
    assert_eq!(open[0]["declines"], 3);
    shop.close().await;
}
