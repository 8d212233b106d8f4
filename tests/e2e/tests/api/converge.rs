//! Elavon Converge against the fake Converge (its XML API, Hosted Payments session tokens, no
//! idempotency keys, no webhooks), through the gateway: a purchase with a Lightbox card token,
//! declines, voids before settlement and returns after it, and answers lost or garbled — each
//! ending with exactly one sale, because Converge is asked by invoice number before any retry.

use crate::helpers::shop::*;
use crate::helpers::*;
use crate::refunds::refund;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const CARD_OK: &str = "4111111111111111";
const CARD_DECLINED: &str = "4000000000000002";

/// What the Lightbox hands the browser for `card` typed into the payment's session.
fn lightbox(shop: &Shop, intent: &Value, card: &str) -> String {
    shop.converge()
        .lightbox_tokenize(intent["clientSecret"].as_str().unwrap(), card)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_buys_through_converge_and_a_full_refund_before_settlement_is_a_void() {
    let shop = Shop::open_converge(&[]).await;
    let converge = shop.converge();
    let config = get_ok(&shop.app, "/api/v2/payments/config").await;
    assert_eq!(config["processor"], "converge");
    assert!(
        config["client"]["hostedPaymentsUrl"]
            .as_str()
            .unwrap()
            .ends_with("/hosted-payments")
    );

    let (learner, oid, intent) = shop.order_with_payment("learner-1", "lms-cv1", 4900).await;
    assert_eq!(intent["processor"], "converge");
    // The intent is the payment's invoice number; the session token opens the Lightbox.
    assert_eq!(intent["intentId"].as_str().unwrap().len(), 25, "{intent}");
    let token = lightbox(&shop, &intent, CARD_OK);
    assert_eq!(token.len(), 16, "Converge's tokens are digits");
    assert!(token.ends_with("1111"));

    shop.confirm_paid(&learner, &intent, &token).await;
    assert_eq!(converge.sales(), 1);
    assert!(converge.duplicate_sales().is_empty());
    let sale = converge
        .transactions()
        .into_iter()
        .find(|t| t.transaction_type == "SALE")
        .unwrap();
    assert_eq!(sale.amount, "49.00");
    assert_eq!(sale.invoice_number.as_deref(), intent["intentId"].as_str());
    shop.order_status(&learner, &oid, "completed").await;

    // Today's batch has not settled: the whole amount is voided.
    let pid = intent["id"].as_str().unwrap();
    let (s, r) = refund(&shop, pid, json!({"reason": "changed my mind"}), "cv-r1").await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(converge.voids(), 1);
    assert_eq!(converge.returns(), 0);
    shop.order_status(&learner, &oid, "refunded").await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_settlement_parts_are_returned_and_a_part_before_it_waits_for_the_batch() {
    let shop = Shop::open_converge(&[("payment.refund_sweep_after_secs", "1".into())]).await;
    let converge = shop.converge();
    let (learner, oid, intent) = shop.order_with_payment("learner-1", "lms-cv2", 3000).await;
    let token = lightbox(&shop, &intent, CARD_OK);
    let (_, paid) = shop.try_confirm(&learner, &intent, &token).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    shop.order_status(&learner, &oid, "completed").await;
    let pid = intent["id"].as_str().unwrap();

    // Before the batch settles, a part cannot be voided: the refund waits, holding its share.
    let (s, waiting) = refund(
        &shop,
        pid,
        json!({"amount": 1000, "reason": "part"}),
        "cv-a",
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{waiting}");
    assert_eq!(waiting["status"], "processing", "{waiting}");
    assert_eq!(converge.returns() + converge.voids(), 0);
    // The batch settles: the sweeper returns it (once).
    converge.settle_batch();
    let pay = shop.env.schema("payment").await;
    testkit::eventually(WAIT, "the waiting refund returned", || async {
        let n = count(
            &pay,
            &format!(
                "SELECT count(*) FROM refunds WHERE id = '{}' AND status = 'succeeded'",
                waiting["id"].as_str().unwrap()
            ),
        )
        .await;
        (n == 1).then_some(())
    })
    .await;
    assert_eq!(converge.returns(), 1);
    let (s, rest) = refund(&shop, pid, json!({"reason": "the rest"}), "cv-b").await;
    assert_eq!(s, StatusCode::CREATED, "{rest}");
    assert_eq!(rest["amount"], 2000);
    assert_eq!(rest["status"], "succeeded", "{rest}");
    assert_eq!(converge.returns(), 2);
    let (s, b) = refund(&shop, pid, json!({"amount": 1, "reason": "more"}), "cv-c").await;
    assert_problem(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refund_exceeds_captured",
    );
    assert_eq!(converge.returns(), 2);
    shop.order_status(&learner, &oid, "refunded").await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_leaves_the_payment_payable_and_another_card_pays_once() {
    let shop = Shop::open_converge(&[]).await;
    let converge = shop.converge();
    let (learner, oid, intent) = shop.order_with_payment("learner-1", "lms-cv3", 2500).await;
    let declined = lightbox(&shop, &intent, CARD_DECLINED);
    let (s, b) = shop.try_confirm(&learner, &intent, &declined).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "pending", "{b}");
    assert_eq!(b["failureReason"], "declined");
    // The session was used: asking for the payment again gives a fresh one for the Lightbox.
    assert!(
        converge
            .lightbox_tokenize(intent["clientSecret"].as_str().unwrap(), CARD_OK)
            .is_err()
    );
    let again = post_expect(
        &shop.app,
        &learner,
        "/api/v2/payments/create-intent",
        json!({"orderId": oid}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["id"], intent["id"], "the same payment");
    assert_ne!(
        again["clientSecret"], intent["clientSecret"],
        "a new session"
    );
    let token = lightbox(&shop, &again, CARD_OK);
    shop.confirm_paid(&learner, &intent, &token).await;
    assert_eq!(converge.sale_attempts(), 2);
    assert_eq!(converge.sales(), 1);
    shop.order_status(&learner, &oid, "completed").await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_whose_answer_was_lost_is_found_by_invoice_and_never_sold_twice() {
    let shop = Shop::open_converge(&[]).await;
    let converge = shop.converge();
    let (learner, oid, intent) = shop.order_with_payment("learner-1", "lms-cv4", 1800).await;
    let token = lightbox(&shop, &intent, CARD_OK);
    // The sale is made but its answer comes after the platform stopped waiting. Sending it
    // again would charge twice: Converge is asked first.
    converge.delay_next_sale(Duration::from_millis(1500));
    shop.confirm_paid(&learner, &intent, &token).await;
    assert_eq!(converge.sales(), 1, "exactly one sale");
    assert!(converge.duplicate_sales().is_empty());
    assert!(
        converge.txnqueries() >= 2,
        "asked before selling and after the lost answer"
    );
    shop.order_status(&learner, &oid, "completed").await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbled_answers_are_a_typed_error_that_changes_nothing_and_sell_once() {
    let shop = Shop::open_converge(&[]).await;
    let converge = shop.converge();
    let (learner, oid, intent) = shop.order_with_payment("learner-1", "lms-cv5", 1500).await;
    // Fuzzed answers never panic the reader (a unit property test); here, end to end:
    let token = lightbox(&shop, &intent, CARD_OK);
    converge.malformed_next(50);
    let (s, b) = shop.try_confirm(&learner, &intent, &token).await;
    assert_problem(
        s,
        &b,
        StatusCode::SERVICE_UNAVAILABLE,
        "processor_unavailable",
    );
    let h = shop.history_entry(&learner, &intent).await;
    assert_ne!(h["status"], "succeeded", "{h}");
    assert_eq!(shop.order(&learner, &oid).await["status"], "pending");
    // Every answer garbled, the first query among them: no sale was ever sent blind.
    assert_eq!(converge.sale_attempts(), 0);
    // Only the sale's answer garbled: the sale happened, and asking finds it. The attempt that
    // never got an answer is sent again only once it has had time to show up at Converge
    // (until then: 409 payment_in_progress).
    converge.malformed_next(0);
    converge.malformed_next_sale();
    let deadline = std::time::Instant::now() + WAIT;
    let (s, paid) = loop {
        let (s, b) = shop.try_confirm(&learner, &intent, &token).await;
        if s != StatusCode::CONFLICT || std::time::Instant::now() > deadline {
            break (s, b);
        }
        assert_eq!(b["code"], "payment_in_progress", "{b}");
        // Asked again at a pace the gateway's rate limit allows.
        tokio::time::sleep(Duration::from_millis(700)).await;
    };
    assert_eq!(s, StatusCode::OK, "{paid}");
    assert_eq!(paid["status"], "succeeded", "{paid}");
    assert_eq!(converge.sales(), 1);
    assert!(converge.duplicate_sales().is_empty());
    shop.order_status(&learner, &oid, "completed").await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_numbers_are_refused_and_converge_webhooks_do_not_exist() {
    let shop = Shop::open_converge(&[]).await;
    let (learner, oid, intent) = shop.order_with_payment("learner-1", "lms-cv6", 900).await;
    let (s, b) = shop.try_confirm(&learner, &intent, CARD_OK).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "card_data_refused");
    assert_eq!(shop.converge().sale_attempts(), 0);
    // Anything posted as a Converge webhook is dropped: nothing settles the payment.
    let (s, _) = send(
        shop.app
            .client
            .post(shop.app.url("/api/v2/payments/webhook/converge"))
            .header("content-type", "application/json")
            .body(json!({"paymentId": intent["id"], "status": "succeeded"}).to_string()),
    )
    .await;
    assert!(s.is_success(), "{s}");
    shop.settled().await;
    assert_eq!(
        shop.history_entry(&learner, &intent).await["status"],
        "pending"
    );
    assert_eq!(shop.order(&learner, &oid).await["status"], "pending");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_is_asked_about_again_and_sells_once() {
    let shop = Shop::open_converge(&[]).await;
    let converge = shop.converge();
    let (learner, oid, intent) = shop.order_with_payment("learner-1", "lms-cv7", 1100).await;
    let token = lightbox(&shop, &intent, CARD_OK);
    // The first question fails with a 503: it is asked again before anything is sold.
    converge.fail_next(1, 503);
    let (s, paid) = shop.try_confirm(&learner, &intent, &token).await;
    assert_eq!(
        (s, &paid["status"]),
        (StatusCode::OK, &json!("succeeded")),
        "{paid}"
    );
    assert_eq!(converge.sales(), 1);
    let kinds: Vec<String> = converge
        .requests()
        .into_iter()
        .map(|r| format!("{}:{}", r.transaction_type, r.status))
        .collect();
    assert_eq!(kinds, ["txnquery:503", "txnquery:200", "ccsale:200"]);
    shop.order_status(&learner, &oid, "completed").await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_confirms_at_once_sell_once() {
    let shop = Shop::open_converge(&[]).await;
    let converge = shop.converge();
    let (learner, oid, intent) = shop.order_with_payment("learner-1", "lms-cv8", 2100).await;
    let token = lightbox(&shop, &intent, CARD_OK);
    // The sale takes longer than the platform waits; a second confirm (a double click) comes
    // while it is still being made. Converge has no idempotency key: it must not be sold again.
    converge.delay_next_sale(Duration::from_millis(1500));
    let (a, b) = tokio::join!(shop.try_confirm(&learner, &intent, &token), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        shop.try_confirm(&learner, &intent, &token).await
    });
    assert_eq!(
        (a.0, &a.1["status"]),
        (StatusCode::OK, &json!("succeeded")),
        "{}",
        a.1
    );
    match b.0 {
        StatusCode::CONFLICT => assert_eq!(b.1["code"], "payment_in_progress", "{}", b.1),
        StatusCode::OK => assert_eq!(b.1["status"], "succeeded", "{}", b.1),
        other => panic!("second confirm answered {other}: {}", b.1),
    }
    assert_eq!(converge.sales(), 1, "sold once");
    assert!(converge.duplicate_sales().is_empty());
    shop.order_status(&learner, &oid, "completed").await;
    shop.close().await;
}
