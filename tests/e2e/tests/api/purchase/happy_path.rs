//! A learner buys a course and a program with a good card: the order completes, every course is
//! enrolled, the LMS receives the specification's payload with exact money, and afterwards each
//! party sees only what it may.

use crate::helpers::shop::*;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_buys_a_course_and_a_program_and_is_enrolled() {
    let shop = Shop::open(&[]).await;
    let basket = Basket::stock(&shop).await;
    let learner = shop.learner("learner-1");
    let oid = basket.check_out(&shop, &learner).await;

    let paid = shop.pay(&learner, &oid, "pm_card_visa").await;
    assert_eq!(paid["status"], "succeeded");
    assert_eq!(paid["amount"], 15_900);
    let done = shop.order_status(&learner, &oid, "completed").await;
    assert_eq!(done["paymentStatus"], "completed");

    let regs = shop.registrations_all(&learner, 3, "enrolled").await;
    let in_program: Vec<&Value> = regs
        .iter()
        .filter(|r| r["programId"] == basket.p.as_str())
        .collect();
    assert_eq!(in_program.len(), 2);
    assert!(regs.iter().all(|r| {
        r["enrollmentId"]
            .as_str()
            .is_some_and(|e| e.starts_with("enr_"))
    }));
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lms_receives_the_spec_payload_with_exact_money_per_course() {
    let shop = Shop::open(&[]).await;
    let bought = Bought::everything(&shop).await;

    // What the LMS received: the spec's EnrollmentRequestPayload, exact money per course.
    let got = shop.lms.received();
    assert_eq!(got.len(), 3);
    let mut gross = 0;
    for r in &got {
        let b = &r.body;
        assert_eq!(b["source"], "commerce-platform");
        assert_eq!(b["apiKey"], LMS_KEY);
        assert_eq!(b["payload"]["approvalStatus"], "pending");
        assert_eq!(b["payload"]["autoApprove"], true);
        assert_eq!(b["payload"]["orderId"], bought.oid.as_str());
        assert_eq!(b["payload"]["userId"], "learner-1");
        assert_eq!(b["payload"]["purchaseMetadata"]["currency"], "USD");
        assert_eq!(
            b["payload"]["purchaseMetadata"]["contentCreatorId"],
            "creator-1"
        );
        gross += b["payload"]["purchaseMetadata"]["grossAmount"]
            .as_i64()
            .unwrap();
        assert!(r.idempotency_key.is_some());
    }
    assert_eq!(
        gross, 15_900,
        "the bundle price split over its courses sums exactly"
    );
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_sees_and_acts_on_only_their_own_records() {
    let shop = Shop::open(&[]).await;
    let bought = Bought::everything(&shop).await;
    let (learner, oid) = (&bought.learner, &bought.oid);

    let other = shop.learner("learner-2");
    let (s, b) = get_as(&shop.app, &other, &format!("/api/v2/orders/{oid}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let (s, b) = get_as(
        &shop.app,
        &other,
        &format!(
            "/api/v2/registrations/{}",
            bought.regs[0]["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    // `registrations` and `get_as_ok` assert the 200: an empty list is an answer, not an error.
    assert!(shop.registrations(&other).await.is_empty());
    let hist = get_as_ok(&shop.app, learner, "/api/v2/payments/history").await;
    assert_eq!(items(&hist).len(), 1);
    let hist = get_as_ok(&shop.app, &other, "/api/v2/payments/history").await;
    assert!(items(&hist).is_empty());
    let (s, b) = post(
        &shop.app,
        &other,
        "/api/v2/payments/confirm",
        json!({"paymentId": bought.paid["id"], "paymentMethod": "pm_card_visa"}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_admins_filter_and_page_every_order_and_learners_may_not() {
    let shop = Shop::open(&[]).await;
    let bought = Bought::everything(&shop).await;
    let (learner, oid, c) = (&bought.learner, &bought.oid, &bought.basket.c);

    // The billing-admin view with filters.
    let list = get_as_ok(
        &shop.app,
        &shop.admin,
        &format!("/api/v2/admin/orders?status=completed&courseId={c}"),
    )
    .await;
    assert_eq!(items(&list).len(), 1);
    let none = get_as_ok(&shop.app, &shop.admin, "/api/v2/admin/orders?status=failed").await;
    assert!(items(&none).is_empty());
    // A second learner's pending order, for the user filter and pagination.
    let other = shop.learner("learner-2");
    shop.add(&other, "course", &bought.basket.a).await;
    shop.checkout(&other).await;
    let mine = get_as_ok(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/orders?userId=learner-1",
    )
    .await;
    assert_eq!(items(&mine).len(), 1);
    assert_eq!(mine["items"][0]["id"], oid.as_str());
    let theirs = get_as_ok(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/orders?userId=learner-2&status=pending",
    )
    .await;
    assert_eq!(items(&theirs).len(), 1);
    let since = (chrono::Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339()
        .replace('+', "%2B");
    let until = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339()
        .replace('+', "%2B");
    let window = get_as_ok(
        &shop.app,
        &shop.admin,
        &format!("/api/v2/admin/orders?from={since}&to={until}&limit=1"),
    )
    .await;
    assert_eq!(items(&window).len(), 1);
    let cursor = window["nextCursor"].as_str().expect("a second page");
    let next = get_as_ok(
        &shop.app,
        &shop.admin,
        &format!("/api/v2/admin/orders?from={since}&to={until}&limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(items(&next).len(), 1);
    assert_ne!(next["items"][0]["id"], window["items"][0]["id"]);
    let past = get_as_ok(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/orders?to=2020-01-01T00:00:00Z",
    )
    .await;
    assert!(items(&past).is_empty());
    let (s, b) = get_as(&shop.app, learner, "/api/v2/admin/orders").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    shop.close().await;
}
