//! Events reach a real receiver signed as Stripe signs them; they can be held and released in
//! either order, resent, and retried; and the things Stripe does on its own emit theirs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Api, Receiver, eventually, pay};
use fake_stripe::{RefundMode, Release};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_signed_held_released_resent_and_retried() {
    let receiver = Receiver::start();
    let fake = common::start(&receiver.url);
    let api = Api::new(&fake);

    let paid = pay(&api, "2500", "pm_card_visa").await;
    assert_eq!(paid.status, 200);
    eventually("the payment events", || receiver.hooks().len() == 2).await;
    assert_eq!(
        receiver.types(),
        ["payment_intent.succeeded", "charge.succeeded"]
    );
    let events = receiver.events();
    assert_eq!(events[0]["data"]["object"]["id"], paid.body["id"]);
    assert_eq!(events[0]["api_version"], "2026-09-30.endive");
    assert!(
        events[0]["request"]["id"]
            .as_str()
            .unwrap()
            .starts_with("req_")
    );
    let hook = &receiver.hooks()[0];
    assert!(!common::verify("whsec_other", &hook.signature, &hook.body));
    assert!(!common::verify(common::WHSEC, &hook.signature, "{}"));

    // Held: nothing is sent; released reversed: newest first.
    fake.hold_webhooks(true);
    let pi = paid.body["id"].as_str().unwrap();
    let form = [("payment_intent", pi), ("amount", "500")];
    assert_eq!(api.post("/v1/refunds", Some("r1"), &form).await.status, 200);
    let held: Vec<String> = fake.held().iter().map(|e| e["type"].to_string()).collect();
    assert_eq!(held, [r#""refund.created""#, r#""charge.refunded""#]);
    assert_eq!(fake.held()[0]["request"]["idempotency_key"], "r1");
    assert_eq!(receiver.hooks().len(), 2);
    fake.hold_webhooks(false);
    assert_eq!(fake.release(Release::Reversed).await, 2);
    assert!(fake.held().is_empty());
    assert_eq!(receiver.types()[2..], ["charge.refunded", "refund.created"]);
    assert_eq!(
        receiver.events()[2]["data"]["object"]["amount_refunded"],
        500
    );

    // Resent three times: three more deliveries of the same event, each signed.
    let first = fake.events()[0]["id"].as_str().unwrap().to_string();
    assert_eq!(fake.resend(&first, 3).await, 3);
    let events = receiver.events();
    assert_eq!(events.len(), 7);
    assert!(events[4..].iter().all(|e| e["id"] == first.as_str()));

    // A failing receiver gets three attempts, each recorded.
    receiver.answer(500);
    assert_eq!(fake.resend(&first, 1).await, 0);
    let attempts: Vec<(u16, u32)> = fake.deliveries()[7..]
        .iter()
        .map(|d| (d.status, d.attempt))
        .collect();
    assert_eq!(attempts, [(500, 1), (500, 2), (500, 3)]);
    assert_eq!(receiver.hooks().len(), 10);
    receiver.answer(200);

    // Unreachable: status 0.
    fake.set_webhook_url("http://127.0.0.1:9/nothing-here");
    assert_eq!(fake.resend(&first, 1).await, 0);
    assert!(
        fake.deliveries()[10..]
            .iter()
            .all(|d| d.status == 0 && d.event_id == first)
    );
    fake.stop().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_acts_on_its_own() {
    let receiver = Receiver::start();
    let fake = common::start(&receiver.url);
    let api = Api::new(&fake);

    // 3-D Secure completed: the charge and its events are there when the call returns.
    let intent = pay(&api, "3000", "pm_card_threeDSecure2Required").await;
    assert_eq!(intent.body["status"], "requires_action");
    let pi = intent.body["id"].as_str().unwrap();
    eventually("requires_action", || receiver.hooks().len() == 1).await;
    fake.complete_action(pi, true).await.unwrap();
    assert_eq!(fake.intent(pi).unwrap()["status"], "succeeded");
    assert_eq!(
        receiver.types(),
        [
            "payment_intent.requires_action",
            "payment_intent.succeeded",
            "charge.succeeded"
        ]
    );
    assert!(
        fake.complete_action(pi, true).await.is_err(),
        "no longer requires_action"
    );

    // A Dashboard refund.
    let re = fake.refund_from_dashboard(pi, Some(1000)).await.unwrap();
    assert!(re.starts_with("re_"));
    let got = api.get(&format!("/v1/refunds/{re}")).await;
    assert_eq!(
        (got.body["status"].as_str(), got.body["amount"].as_i64()),
        (Some("succeeded"), Some(1000))
    );
    assert_eq!(receiver.types()[3..], ["refund.created", "charge.refunded"]);
    assert!(receiver.events()[3]["request"]["id"].is_null());

    // Pending, then settled: refund.updated + charge.refunded.
    fake.set_refund_mode(RefundMode::Pending);
    let pending = api
        .post(
            "/v1/refunds",
            None,
            &[("payment_intent", pi), ("amount", "500")],
        )
        .await;
    assert_eq!(pending.body["status"], "pending");
    let pending_id = pending.body["id"].as_str().unwrap();
    eventually("refund.created", || receiver.hooks().len() == 6).await;
    fake.settle_refund(pending_id, true).await.unwrap();
    assert_eq!(receiver.types()[6..], ["refund.updated", "charge.refunded"]);
    assert_eq!(
        receiver.events()[7]["data"]["object"]["amount_refunded"],
        1500
    );

    // Pending, then failed: the amount is refundable again.
    let pending = api
        .post("/v1/refunds", None, &[("payment_intent", pi)])
        .await;
    assert_eq!(pending.body["amount"], 1500);
    let id = pending.body["id"].as_str().unwrap();
    fake.settle_refund(id, false).await.unwrap();
    let failed = api.get(&format!("/v1/refunds/{id}")).await;
    assert_eq!(failed.body["status"], "failed");
    assert!(
        fake.settle_refund(id, true).await.is_err(),
        "no longer pending"
    );

    // Fail mode: created pending, failed at once.
    fake.set_refund_mode(RefundMode::Fail);
    let refund = api
        .post(
            "/v1/refunds",
            None,
            &[("payment_intent", pi), ("amount", "700")],
        )
        .await;
    assert_eq!(refund.body["status"], "pending");
    let id = refund.body["id"].as_str().unwrap();
    let got = api.get(&format!("/v1/refunds/{id}")).await;
    assert_eq!(got.body["status"], "failed");
    assert_eq!(got.body["failure_reason"], "expired_or_canceled_card");
    let charge = api
        .get(&format!(
            "/v1/charges/{}",
            got.body["charge"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        (
            charge.body["amount_refunded"].as_i64(),
            charge.body["refunded"].as_bool()
        ),
        (Some(1500), Some(false))
    );
    let list = api
        .get(&format!("/v1/refunds?payment_intent={pi}&limit=2"))
        .await;
    assert_eq!(
        (
            list.body["data"].as_array().unwrap().len(),
            list.body["has_more"].as_bool()
        ),
        (2, Some(true))
    );
    assert_eq!(fake.refunds(), 4);

    // A dispute: the charge can no longer be refunded.
    let dp = fake.dispute(pi, "fraudulent").await.unwrap();
    let disputes: Vec<_> = receiver
        .events()
        .into_iter()
        .filter(|e| e["type"] == "charge.dispute.created")
        .collect();
    assert_eq!(disputes.len(), 1);
    let dispute = &disputes[0]["data"]["object"];
    assert_eq!(
        (dispute["id"].as_str(), dispute["amount"].as_i64()),
        (Some(dp.as_str()), Some(3000))
    );
    assert_eq!(dispute["status"], "needs_response");
    fake.set_refund_mode(RefundMode::Succeed);
    let refused = api
        .post("/v1/refunds", None, &[("payment_intent", pi)])
        .await;
    assert_eq!((refused.status, refused.code()), (400, "charge_disputed"));

    // Failed 3-D Secure goes back to requires_payment_method.
    let other = pay(&api, "3000", "pm_card_authenticationRequired").await;
    let other = other.body["id"].as_str().unwrap();
    eventually("its requires_action", || {
        receiver
            .events()
            .iter()
            .any(|e| e["data"]["object"]["id"] == other)
    })
    .await;
    fake.complete_action(other, false).await.unwrap();
    let intent = fake.intent(other).unwrap();
    assert_eq!(intent["status"], "requires_payment_method");
    assert_eq!(
        intent["last_payment_error"]["code"],
        "payment_intent_authentication_failure"
    );
    assert_eq!(
        receiver.types().last().unwrap(),
        "payment_intent.payment_failed"
    );
    fake.stop().await;
    receiver.stop().await;
}
