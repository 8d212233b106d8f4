//! Refunds decided by a billing-admin (`POST /api/v2/admin/payments/{id}/refund`): never more than
//! the capture, also when refunds race; one processor refund per refund; the order's refunded
//! total and status follow through `refund.issued`.

use crate::helpers::shop::*;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::eventually;

/// Refunds the sandbox processor has made in this test's process (each test is its own process).
async fn processor_refunds(shop: &Shop) -> u64 {
    let text = metrics_text(&shop.app).await;
    metric(&text, r#"processor_refunds_total{processor="sandbox"}"#).unwrap_or(0.0) as u64
}

pub(crate) async fn paid_order(shop: &Shop, learner: &str, cents: i64) -> (String, String) {
    let course = shop.course("lms-r", cents, false).await;
    shop.add(learner, "course", &course).await;
    let order = shop.checkout(learner).await;
    let oid = order["id"].as_str().unwrap().to_string();
    let paid = shop.pay(learner, &oid, "pm_card_visa").await;
    assert_eq!(paid["status"], "succeeded");
    shop.order_status(learner, &oid, "completed").await;
    (oid, paid["id"].as_str().unwrap().to_string())
}

pub(crate) async fn refund(
    shop: &Shop,
    payment: &str,
    body: Value,
    key: &str,
) -> (StatusCode, Value) {
    send(
        shop.app
            .client
            .post(
                shop.app
                    .url(&format!("/api/v2/admin/payments/{payment}/refund")),
            )
            .bearer_auth(&shop.admin)
            .header("Idempotency-Key", key)
            .json(&body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_never_exceed_the_capture_and_a_full_refund_refunds_the_order() {
    let shop = Shop::open(&[]).await;
    let learner = shop.learner("learner-1");
    let (oid, pid) = paid_order(&shop, &learner, 1000).await;

    let (s, first) = refund(
        &shop,
        &pid,
        json!({"amount": 333, "reason": "duplicate"}),
        "r1",
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!(first["status"], "succeeded");
    assert_eq!(first["amount"], 333);
    let partly = eventually(WAIT, "the order partly refunded", || async {
        let o = shop.order(&learner, &oid).await;
        (o["refundedAmount"] == 333).then_some(o)
    })
    .await;
    assert_eq!(partly["status"], "completed");
    assert_eq!(partly["paymentStatus"], "partial-refund");

    // The same Idempotency-Key is the same refund, not a second one.
    let (s, again) = refund(
        &shop,
        &pid,
        json!({"amount": 333, "reason": "duplicate"}),
        "r1",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["id"], first["id"]);
    let (s, b) = refund(&shop, &pid, json!({"amount": 5, "reason": "other"}), "r1").await;
    assert_problem(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    );

    let (s, second) = refund(
        &shop,
        &pid,
        json!({"amount": 333, "reason": "partial"}),
        "r2",
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{second}");
    // No amount: everything that remains.
    let (s, rest) = refund(&shop, &pid, json!({"reason": "the rest"}), "r3").await;
    assert_eq!(s, StatusCode::CREATED, "{rest}");
    assert_eq!(rest["amount"], 334);
    assert_eq!(processor_refunds(&shop).await, 3);

    // Nothing remains: refused before any processor call.
    let (s, b) = refund(
        &shop,
        &pid,
        json!({"amount": 1, "reason": "one more"}),
        "r4",
    )
    .await;
    assert_problem(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refund_exceeds_captured",
    );
    assert_eq!(b["remaining"], 0);
    assert_eq!(processor_refunds(&shop).await, 3);

    let refunded = shop.order_status(&learner, &oid, "refunded").await;
    assert_eq!(refunded["paymentStatus"], "refunded");
    assert_eq!(refunded["refundedAmount"], 1000);
    // The learner's history shows the refunds beside the payment.
    let history = get_as_ok(&shop.app, &learner, "/api/v2/payments/history").await;
    let payment = &items(&history)[0];
    assert_eq!(payment["id"], pid.as_str());
    let amounts: Vec<i64> = payment["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, vec![334, 333, 333]);
    // A fully refunded course is no longer owned: the learner may buy it again.
    let course = refunded["items"][0]["itemId"].as_str().unwrap().to_string();
    shop.add(&learner, "course", &course).await;
    let again = shop.checkout(&learner).await;
    assert_eq!(again["status"], "pending");
    let pay = shop.env.schema("payment").await;
    assert_eq!(
        count(
            &pay,
            "SELECT count(*) FROM refunds WHERE status = 'succeeded'"
        )
        .await,
        3
    );
    assert_eq!(
        count(&pay, "SELECT sum(amount_minor)::bigint FROM refunds").await,
        1000
    );
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_full_refunds_make_one_processor_refund() {
    let shop = Shop::open(&[]).await;
    let learner = shop.learner("learner-1");
    let (_, pid) = paid_order(&shop, &learner, 4900).await;
    let (a, b) = tokio::join!(
        refund(&shop, &pid, json!({"reason": "full"}), "c1"),
        refund(&shop, &pid, json!({"reason": "full"}), "c2"),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::CREATED, StatusCode::UNPROCESSABLE_ENTITY],
        "{} / {}",
        a.1,
        b.1
    );
    let refused = if a.0 == StatusCode::CREATED {
        &b.1
    } else {
        &a.1
    };
    assert_eq!(refused["code"], "refund_exceeds_captured");
    assert_eq!(processor_refunds(&shop).await, 1);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_captured_payment_of_an_existing_id_is_refunded() {
    let shop = Shop::open(&[]).await;
    let learner = shop.learner("learner-1");
    let course = shop.course("lms-p", 1000, false).await;
    shop.add(&learner, "course", &course).await;
    let order = shop.checkout(&learner).await;
    let intent = shop.intent(&learner, order["id"].as_str().unwrap()).await;
    let pid = intent["id"].as_str().unwrap();
    let (s, b) = refund(&shop, pid, json!({"reason": "not paid"}), "p1").await;
    assert_problem(s, &b, StatusCode::CONFLICT, "payment_not_captured");
    let unknown = uuid::Uuid::now_v7().to_string();
    let (s, b) = refund(&shop, &unknown, json!({"reason": "x"}), "p2").await;
    assert_problem(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = refund(&shop, pid, json!({"reason": "  "}), "p3").await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_refund");
    assert_eq!(processor_refunds(&shop).await, 0);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_refund_cancels_the_registrations_and_tells_the_lms_once() {
    let shop = Shop::open(&[]).await;
    let learner = shop.learner("learner-1");
    let (oid, pid) = paid_order(&shop, &learner, 4900).await;
    let enrolled = shop.registrations_all(&learner, 1, "enrolled").await;
    let registration = enrolled[0]["id"].as_str().unwrap().to_string();

    // A partial refund leaves the enrollment alone. Positive signal first: the order shows the
    // refund (cart-order consumed `refund.issued`), then every consumer has settled.
    let (s, b) = refund(
        &shop,
        &pid,
        json!({"amount": 900, "reason": "goodwill"}),
        "f1",
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    eventually(WAIT, "the partial refund on the order", || async {
        (shop.order(&learner, &oid).await["refundedAmount"] == 900).then_some(())
    })
    .await;
    shop.settled().await;
    assert_eq!(shop.registrations(&learner).await[0]["status"], "enrolled");
    assert!(shop.lms.unenrollments().is_empty());

    // The rest: the registration is cancelled and the LMS asked once to unenroll it.
    let (s, b) = refund(&shop, &pid, json!({"reason": "course withdrawn"}), "f2").await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    shop.registrations_all(&learner, 1, "cancelled").await;
    let sent = eventually(WAIT, "the unenrollment request", || async {
        shop.lms.unenrollments().into_iter().next()
    })
    .await;
    let payload = &sent.body["payload"];
    assert_eq!(payload["orderItemId"], registration.as_str());
    assert_eq!(payload["userId"], "learner-1");
    assert_eq!(payload["orderId"], oid.as_str());
    assert_eq!(payload["reason"], "refunded");
    shop.settled().await;
    assert_eq!(shop.lms.unenrollments().len(), 1, "told once");
    let reg = shop.env.schema("registration").await;
    assert_eq!(
        count(
            &reg,
            "SELECT count(*) FROM unenrollments WHERE status = 'delivered'"
        )
        .await,
        1
    );
    shop.close().await;
}

pub(crate) async fn ask(shop: &Shop, learner: &str, order: &str, key: &str) -> (StatusCode, Value) {
    send(
        shop.app
            .client
            .post(
                shop.app
                    .url(&format!("/api/v2/orders/{order}/refund-requests")),
            )
            .bearer_auth(learner)
            .header("Idempotency-Key", key)
            .json(&json!({"reason": "the course was not what I expected"})),
    )
    .await
}

/// The request as the billing-admins' queue shows it, once it got there.
pub(crate) async fn queued(shop: &Shop, request: &str) -> Value {
    eventually(WAIT, "the request in the admin queue", || async {
        let q = get_as_ok(
            &shop.app,
            &shop.admin,
            "/api/v2/admin/refunds?status=requested",
        )
        .await;
        items(&q).iter().find(|r| r["id"] == request).cloned()
    })
    .await
}

pub(crate) async fn decide(
    shop: &Shop,
    request: &str,
    action: &str,
    body: Value,
) -> (StatusCode, Value) {
    post(
        &shop.app,
        &shop.admin,
        &format!("/api/v2/admin/refunds/{request}/{action}"),
        body,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_asks_and_a_billing_admin_approves_part_and_rejects_the_rest() {
    let shop = Shop::open(&[]).await;
    let learner = shop.learner("learner-1");
    let (oid, pid) = paid_order(&shop, &learner, 1000).await;

    let (s, asked) = ask(&shop, &learner, &oid, "q1").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{asked}");
    assert_eq!(asked["amount"], 1000);
    let rid = asked["id"].as_str().unwrap().to_string();
    // Another learner's order does not exist for them.
    let other = shop.learner("learner-2");
    let (s, b) = ask(&shop, &other, &oid, "q2").await;
    assert_problem(s, &b, StatusCode::NOT_FOUND, "not_found");

    let row = queued(&shop, &rid).await;
    assert_eq!(row["paymentId"], pid.as_str());
    assert_eq!(row["amount"], 1000);
    assert_eq!(row["userId"], "learner-1");

    // Approved for part of it: one processor refund of 400.
    let (s, approved) = decide(&shop, &rid, "approve", json!({"amount": 400})).await;
    assert_eq!(s, StatusCode::OK, "{approved}");
    assert_eq!(approved["request"]["status"], "approved");
    assert_eq!(approved["refund"]["status"], "succeeded");
    assert_eq!(approved["refund"]["amount"], 400);
    let (s, b) = decide(&shop, &rid, "approve", json!({})).await;
    assert_problem(s, &b, StatusCode::CONFLICT, "illegal_transition");
    assert_eq!(processor_refunds(&shop).await, 1);
    eventually(WAIT, "the partial refund on the order", || async {
        (shop.order(&learner, &oid).await["refundedAmount"] == 400).then_some(())
    })
    .await;

    // Asked again for the rest, and rejected with a reason: no money moves.
    let (s, again) = ask(&shop, &learner, &oid, "q3").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{again}");
    assert_eq!(again["amount"], 600);
    let rid2 = again["id"].as_str().unwrap().to_string();
    queued(&shop, &rid2).await;
    let (s, b) = decide(&shop, &rid2, "reject", json!({"reason": ""})).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_refund");
    let (s, rejected) = decide(&shop, &rid2, "reject", json!({"reason": "used most of it"})).await;
    assert_eq!(s, StatusCode::OK, "{rejected}");
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["decisionReason"], "used most of it");
    assert_eq!(processor_refunds(&shop).await, 1);
    let rejected_list = get_as_ok(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/refunds?status=rejected",
    )
    .await;
    assert_eq!(items(&rejected_list).len(), 1);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_approvals_make_one_refund_and_unpaid_orders_cannot_be_asked() {
    let shop = Shop::open(&[]).await;
    let learner = shop.learner("learner-1");
    let (oid, _) = paid_order(&shop, &learner, 2500).await;
    let (s, asked) = ask(&shop, &learner, &oid, "c1").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{asked}");
    let rid = asked["id"].as_str().unwrap().to_string();
    queued(&shop, &rid).await;
    let (a, b) = tokio::join!(
        decide(&shop, &rid, "approve", json!({})),
        decide(&shop, &rid, "approve", json!({})),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{} / {}",
        a.1,
        b.1
    );
    assert_eq!(processor_refunds(&shop).await, 1);
    shop.order_status(&learner, &oid, "refunded").await;

    // A pending (unpaid) order has nothing to refund.
    let course = shop.course("lms-u", 700, false).await;
    shop.add(&learner, "course", &course).await;
    let pending = shop.checkout(&learner).await;
    let (s, b) = ask(&shop, &learner, pending["id"].as_str().unwrap(), "c2").await;
    assert_problem(s, &b, StatusCode::CONFLICT, "order_not_refundable");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_registration_asks_for_its_lines_refund_and_waits_for_approval() {
    let shop = Shop::open(&[]).await;
    shop.lms
        .set_behaviour(fake_lms::Behaviour::Reject("no seats left".into()));
    let learner = shop.learner("learner-1");
    let (oid, pid) = paid_order(&shop, &learner, 1500).await;
    let rejected = shop.registrations_all(&learner, 1, "rejected").await;
    let registration = rejected[0]["id"].as_str().unwrap().to_string();

    // The rejection asked for a refund of the line; it waits in the queue (ADR-001).
    let request = eventually(WAIT, "the line's refund request", || async {
        let q = get_as_ok(
            &shop.app,
            &shop.admin,
            "/api/v2/admin/refunds?status=requested",
        )
        .await;
        items(&q)
            .iter()
            .find(|r| r["registrationId"] == registration.as_str())
            .cloned()
    })
    .await;
    assert_eq!(request["amount"], 1500);
    assert_eq!(request["paymentId"], pid.as_str());
    assert_eq!(request["requestedBy"], "registration");
    assert!(
        request["reason"]
            .as_str()
            .unwrap()
            .contains("no seats left")
    );
    assert_eq!(
        processor_refunds(&shop).await,
        0,
        "nothing moves before approval"
    );

    let rid = request["id"].as_str().unwrap();
    let (s, approved) = decide(&shop, rid, "approve", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{approved}");
    assert_eq!(approved["refund"]["amount"], 1500);
    shop.order_status(&learner, &oid, "refunded").await;
    assert_eq!(processor_refunds(&shop).await, 1);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_a_request_with_nothing_left_refunds_nothing_and_keeps_it_queued() {
    let shop = Shop::open(&[]).await;
    let learner = shop.learner("learner-1");
    let (oid, pid) = paid_order(&shop, &learner, 800).await;
    let (s, asked) = ask(&shop, &learner, &oid, "n1").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{asked}");
    let rid = asked["id"].as_str().unwrap().to_string();
    queued(&shop, &rid).await;
    // Meanwhile a billing-admin refunded the whole payment directly.
    let (s, b) = refund(&shop, &pid, json!({"reason": "chargeback risk"}), "n2").await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = decide(&shop, &rid, "approve", json!({})).await;
    assert_problem(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refund_exceeds_captured",
    );
    assert_eq!(processor_refunds(&shop).await, 1);
    // The request is back in the queue, where it can be rejected.
    let back = queued(&shop, &rid).await;
    assert_eq!(back["status"], "requested");
    let (s, b) = decide(&shop, &rid, "reject", json!({"reason": "already refunded"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    shop.close().await;
}
