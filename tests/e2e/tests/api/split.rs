//! The shape operators deploy: every service in its own host, the gateway proxying to each
//! (`gateway.upstreams`) and the services calling each other by their internal URLs
//! (`internal.urls`). A purchase, its emails, a certificate and a refund go through it as they
//! do in one process.

use crate::helpers::shop::*;
use crate::helpers::*;
use crate::refunds::refund;
use fake_lms::Completion;
use reqwest::StatusCode;
use serde_json::json;
use testkit::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_service_in_its_own_host_a_purchase_a_certificate_and_a_refund_work() {
    let shop = Shop::open_split(&[]).await;
    assert_eq!(shop.hosts.len(), 7, "seven services beside the gateway");
    let learner = shop
        .env
        .learner_with_profile("ada", "ada@example.edu", "Ada Lovelace");
    // Catalog writes and reads through the gateway's proxy.
    let a = shop.course("lms-split-a", 4900, false).await;
    let b = shop.course("lms-split-b", 2500, false).await;
    shop.add(&learner, "course", &a).await;
    shop.add(&learner, "course", &b).await;
    // Checkout asks catalog (internal URL); the payment asks cart-order and catalog; the sandbox
    // processor's webhook comes back through the gateway.
    let order = shop.checkout(&learner).await;
    let oid = order["id"].as_str().unwrap().to_string();
    assert_eq!(order["total"], 7400, "{order}");
    let paid = shop.pay(&learner, &oid, "pm_card_visa").await;
    assert_eq!(paid["status"], "succeeded");
    shop.order_status(&learner, &oid, "completed").await;
    // Registration enrolls through the LMS, whose webhook comes back through the gateway.
    shop.registrations_all(&learner, 2, "enrolled").await;
    assert_eq!(shop.lms.enrollment_count(), 2);
    // The ledger's webhook reaches the Payout Platform, and the receipt reaches the learner.
    eventually(WAIT, "revenue recorded at the Payout Platform", || async {
        (shop.payout.received().len() == 2).then_some(())
    })
    .await;
    let mailed = |subject: String| {
        let smtp = &shop.smtp;
        async move {
            eventually(WAIT, &subject.clone(), || async {
                smtp.received()
                    .iter()
                    .any(|m| {
                        m.to == ["ada@example.edu"]
                            && m.parsed().subject().is_some_and(|s| s.contains(&subject))
                    })
                    .then_some(())
            })
            .await
        }
    };
    mailed(order["orderNumber"].as_str().unwrap().to_string()).await;

    // The LMS's completion webhook reaches certificate (through the gateway and NATS); its PDF
    // downloads through the gateway; notification fetches it to mail it (internal URL).
    let done = Completion::all("ada", "Ada Lovelace", "lms-split-a", 3);
    assert_eq!(shop.lms.complete(&done, "split-w1").await, 202);
    let certs = eventually(WAIT, "one certificate", || async {
        let l = get_as_ok(&shop.app, &learner, "/api/v2/certificates").await;
        (items(&l).len() == 1).then(|| items(&l).clone())
    })
    .await;
    let id = certs[0]["id"].as_str().unwrap();
    let r = shop
        .app
        .client
        .get(shop.app.url(&format!("/api/v2/certificates/{id}/download")))
        .bearer_auth(&learner)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.unwrap().starts_with(b"%PDF-"));
    mailed("Your certificate for".to_string()).await;

    // A billing-admin refunds part of it: payment to the processor, then the order and ledger.
    let pid = paid["id"].as_str().unwrap();
    let (s, refunded) = refund(
        &shop,
        pid,
        json!({"amount": 2500, "reason": "duplicate"}),
        "split-r1",
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{refunded}");
    assert_eq!(refunded["status"], "succeeded");
    eventually(WAIT, "the order partly refunded", || async {
        let o = shop.order(&learner, &oid).await;
        (o["refundedAmount"] == 2500 && o["paymentStatus"] == "partial-refund").then_some(())
    })
    .await;
    eventually(WAIT, "the reversal at the Payout Platform", || async {
        (shop
            .payout
            .received()
            .iter()
            .any(|r| r.kind == "refund-issued"))
        .then_some(())
    })
    .await;
    shop.close().await;
}
