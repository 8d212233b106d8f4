//! The LMS connector: retries with one idempotency id, parking and redrive after the retry
//! limit, duplicate/late/forged status webhooks, and the order consumer killed mid-handling.

use crate::helpers::shop::*;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use testkit::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lms_failing_twice_then_succeeding_gives_one_enrollment_with_one_idempotency_id() {
    let shop = Shop::open(&[]).await;
    shop.lms.fail_next(2);
    let a = shop.course("lms-a", 4900, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    let order = shop.checkout(&learner).await;
    shop.pay(&learner, order["id"].as_str().unwrap(), "pm_card_visa")
        .await;
    shop.registrations_all(&learner, 1, "enrolled").await;
    let got = shop.lms.received();
    assert_eq!(
        got.iter().map(|r| r.answered).collect::<Vec<_>>(),
        vec![503, 503, 200]
    );
    let keys: std::collections::HashSet<_> = got
        .iter()
        .map(|r| r.idempotency_key.clone().unwrap())
        .collect();
    assert_eq!(keys.len(), 1, "the same idempotency id on every attempt");
    assert_eq!(shop.lms.enrollment_count(), 1);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_retry_limit_a_request_is_parked_visible_and_redriven() {
    let shop = Shop::open(&[("registration.max_attempts", "3".into())]).await;
    shop.lms.fail_next(100);
    let a = shop.course("lms-a", 4900, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    let order = shop.checkout(&learner).await;
    shop.pay(&learner, order["id"].as_str().unwrap(), "pm_card_visa")
        .await;
    let admin = shop.env.token("enroll-1", &["enrollment-admin"], &["cs"]);
    let parked = eventually(WAIT, "the request parked", || async {
        let l = get_as_ok(
            &shop.app,
            &admin,
            "/api/v2/admin/registrations?deliveryStatus=failed",
        )
        .await;
        let parked = items(&l);
        (parked.len() == 1).then(|| parked[0].clone())
    })
    .await;
    assert_eq!(parked["deliveryAttempts"], 3);
    assert_eq!(parked["status"], "approved");
    assert_eq!(shop.lms.received().len(), 3);
    shop.lms.fail_next(0);
    let id = parked["id"].as_str().unwrap();
    let (s, b) = post(
        &shop.app,
        &admin,
        &format!("/api/v2/admin/registrations/{id}/redrive"),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    shop.registrations_all(&learner, 1, "enrolled").await;
    let (s, b) = post(
        &shop.app,
        &admin,
        &format!("/api/v2/admin/registrations/{id}/redrive"),
        json!({}),
    )
    .await;
    assert_problem(s, &b, StatusCode::CONFLICT, "illegal_transition");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registration_consumer_killed_mid_handling_creates_no_duplicate() {
    let faults = bus::FaultPlan::default();
    faults.die_after_commit.store(1, Ordering::SeqCst);
    let mut factories = commerce::registry();
    factories.retain(|f| f.name() != "registration");
    factories.push(Arc::new(registration::RegistrationService {
        faults: faults.clone(),
        tune_consumer: Some(Arc::new(|s| s.ack_wait = Duration::from_secs(1))),
        ..Default::default()
    }));
    let shop = Shop::open_with(&[], factories).await;
    let b = shop.course("lms-b", 5900, false).await;
    let c = shop.course("lms-c", 7900, false).await;
    let p = shop.program(&[&b, &c], 10_000).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "program", &p).await;
    let order = shop.checkout(&learner).await;
    shop.pay(&learner, order["id"].as_str().unwrap(), "pm_card_visa")
        .await;
    shop.registrations_all(&learner, 2, "enrolled").await;
    let client = async_nats::connect(testkit::NATS_URL).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js
        .get_stream(format!("COMMERCE{}", shop.env.stream_suffix))
        .await
        .unwrap();
    eventually(WAIT, "the order event redelivered and acked", || {
        let stream = stream.clone();
        async move {
            let info = consumer_info(&stream, registration::ORDERS_CONSUMER).await?;
            (info.delivered.consumer_sequence >= 2 && info.num_ack_pending == 0).then_some(())
        }
    })
    .await;
    assert_eq!(
        faults.die_after_commit.load(Ordering::SeqCst),
        0,
        "the fault fired"
    );
    let reg = shop.env.schema("registration").await;
    assert_eq!(count(&reg, "SELECT count(*) FROM registrations").await, 2);
    assert_eq!(count(&reg, "SELECT count(*) FROM deliveries").await, 2);
    assert_eq!(shop.lms.received().len(), 2);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_out_of_order_and_forged_lms_webhooks_are_harmless() {
    let shop = Shop::open(&[]).await;
    let a = shop.course("lms-a", 4900, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    let order = shop.checkout(&learner).await;
    shop.pay(&learner, order["id"].as_str().unwrap(), "pm_card_visa")
        .await;
    let regs = shop.registrations_all(&learner, 1, "enrolled").await;
    let reg = regs[0]["id"].as_str().unwrap().to_string();
    let enrollment = regs[0]["enrollmentId"].as_str().unwrap().to_string();

    let send = |event: &str, id: &str, secret: &str| {
        let body = json!({
            "source": "cadence-lms", "event": event,
            "payload": {"enrollmentId": enrollment, "orderId": order["id"], "orderItemId": reg,
                        "status": if event.ends_with("approved") { "approved" } else { "rejected" },
                        "processedAt": chrono::Utc::now().to_rfc3339(), "processedBy": "admin-9",
                        "rejectionReason": "late"}
        })
        .to_string();
        let ts = chrono::Utc::now().timestamp();
        let sig = web::standard_webhooks::sign(secret, id, ts, body.as_bytes()).unwrap();
        shop.app
            .client
            .post(shop.app.url("/api/v1/webhooks/enrollment-status"))
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(body)
            .send()
    };
    // Replayed approval, a late rejection after enrolment, and a forged rejection.
    for r in [
        send("enrollment.approved", "msg_dup_1", LMS_SECRET)
            .await
            .unwrap(),
        send("enrollment.approved", "msg_dup_1", LMS_SECRET)
            .await
            .unwrap(),
        send("enrollment.rejected", "msg_late_2", LMS_SECRET)
            .await
            .unwrap(),
        send(
            "enrollment.rejected",
            "msg_forged_3",
            "whsec_Zm9yZ2VkLXNlY3JldC0wMTIzNDU2Nzg5MDEyMzQ1",
        )
        .await
        .unwrap(),
    ] {
        let (s, b) = body(r).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    }
    let reg_db = shop.env.schema("registration").await;
    eventually(WAIT, "every webhook consumed", || {
        let reg_db = reg_db.clone();
        async move {
            (count(
                &reg_db,
                "SELECT count(*) FROM inbox WHERE consumer = 'registration-lms-status'",
            )
            .await
                >= 4)
                .then_some(())
        }
    })
    .await;
    let now = shop.registrations(&learner).await;
    assert_eq!(now[0]["status"], "enrolled");
    assert!(now[0]["rejectionReason"].is_null());
    assert_eq!(
        count(
            &reg_db,
            "SELECT count(*) FROM outbox WHERE subject = 'commerce.registration.enrolled'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &reg_db,
            "SELECT count(*) FROM outbox WHERE subject = 'commerce.registration.rejected'"
        )
        .await,
        0
    );
    shop.close().await;
}
