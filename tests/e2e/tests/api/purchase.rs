//! The purchase flow end to end, through the gateway, against real Postgres and JetStream and a
//! fake LMS speaking the connector contract: cart → checkout → intent → confirm → order completed
//! → registrations → enrollment requests → LMS webhook → enrolled.

use crate::helpers::*;
use fake_lms::{Behaviour, FakeLms};
use reqwest::StatusCode;
use runtime::ServiceFactory;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use testkit::{TestApp, TestEnv, eventually};

const LMS_KEY: &str = "test-lms-connector-key";
const LMS_SECRET: &str = "whsec_dGVzdC1sbXMtd2ViaG9vay1zZWNyZXQtMDEyMzQ1Njc4OQ==";

pub struct Shop {
    pub env: TestEnv,
    pub app: TestApp,
    pub lms: FakeLms,
    pub admin: String,
}

impl Shop {
    pub async fn open(extra: &[(&str, String)]) -> Shop {
        Self::open_with(extra, commerce::registry()).await
    }

    pub async fn open_with(
        extra: &[(&str, String)],
        factories: Vec<Arc<dyn ServiceFactory>>,
    ) -> Shop {
        let env = TestEnv::new().await;
        let lms = FakeLms::start(
            fake_lms::Config {
                api_key: LMS_KEY.into(),
                webhook_url: String::new(),
                webhook_secret: LMS_SECRET.into(),
            },
            0,
        )
        .unwrap();
        let mut o: Vec<(&str, String)> = vec![
            ("registration.lms_url", lms.url.clone()),
            ("registration.lms_api_key", LMS_KEY.into()),
            ("registration.lms_webhook_secret", LMS_SECRET.into()),
            ("registration.retry_base_ms", "50".into()),
        ];
        o.extend(extra.iter().cloned());
        let app = TestApp::spawn(env.settings(&o), &factories, &["all"]).await;
        lms.set_webhook_url(&app.url("/api/v1/webhooks/enrollment-status"));
        let admin = env.token("admin", &["billing-admin"], &[]);
        Shop {
            env,
            app,
            lms,
            admin,
        }
    }

    pub async fn close(self) {
        self.app.stop().await;
        self.lms.stop().await;
        self.env.cleanup().await;
    }

    pub fn learner(&self, id: &str) -> String {
        self.env.token(id, &["learner"], &[])
    }

    pub async fn course(&self, lms: &str, cents: i64, approval: bool) -> String {
        let mut body = course_body(lms, &format!("Course {lms}"), "cs");
        body["approvalRequired"] = json!(approval);
        let (s, c) = post(
            &self.app,
            &self.admin,
            "/api/v2/admin/catalog/courses",
            body,
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        let id = c["id"].as_str().unwrap().to_string();
        if cents > 0 {
            let (s, p) = post(
                &self.app,
                &self.admin,
                "/api/v2/admin/pricing",
                json!({
                    "courseId": id, "priceType": "one-time", "currency": "USD", "basePrice": cents
                }),
            )
            .await;
            assert_eq!(s, StatusCode::CREATED, "{p}");
        } else {
            let (s, _) = post(
                &self.app,
                &self.admin,
                "/api/v2/admin/pricing",
                json!({
                    "courseId": id, "priceType": "free", "currency": "USD", "basePrice": 0
                }),
            )
            .await;
            assert_eq!(s, StatusCode::CREATED);
        }
        id
    }

    pub async fn program(&self, courses: &[&str], cents: i64) -> String {
        let (s, p) = post(
            &self.app,
            &self.admin,
            "/api/v2/admin/catalog/programs",
            json!({
                "title": "Track", "departmentId": "cs", "courseIds": courses, "published": true
            }),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        let id = p["id"].as_str().unwrap().to_string();
        let (s, _) = post(
            &self.app,
            &self.admin,
            "/api/v2/admin/pricing",
            json!({
                "programId": id, "priceType": "one-time", "currency": "USD", "basePrice": cents
            }),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        id
    }

    pub async fn add(&self, token: &str, kind: &str, id: &str) -> (StatusCode, Value) {
        post(
            &self.app,
            token,
            "/api/v2/cart/items",
            json!({"itemType": kind, "itemId": id}),
        )
        .await
    }

    pub async fn checkout(&self, token: &str) -> (StatusCode, Value) {
        post(&self.app, token, "/api/v2/cart/checkout", json!({})).await
    }

    /// Intent and confirmation with a Stripe test payment method; returns the payment.
    pub async fn pay(&self, token: &str, order: &str, method: &str) -> Value {
        let (s, intent) = post(
            &self.app,
            token,
            "/api/v2/payments/create-intent",
            json!({"orderId": order}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{intent}");
        let (s, paid) = post(
            &self.app,
            token,
            "/api/v2/payments/confirm",
            json!({
                "paymentId": intent["id"], "paymentMethod": method
            }),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{paid}");
        paid
    }

    pub async fn order_status(&self, token: &str, order: &str, want: &str) -> Value {
        eventually(WAIT, &format!("order {want}"), || async {
            let (_, o) = get_as(&self.app, token, &format!("/api/v2/orders/{order}")).await;
            (o["status"] == want).then_some(o)
        })
        .await
    }

    pub async fn registrations(&self, token: &str) -> Vec<Value> {
        let (_, r) = get_as(&self.app, token, "/api/v2/registrations").await;
        r["items"].as_array().cloned().unwrap_or_default()
    }

    pub async fn registrations_all(&self, token: &str, n: usize, status: &str) -> Vec<Value> {
        eventually(WAIT, &format!("{n} registrations {status}"), || async {
            let regs = self.registrations(token).await;
            (regs.len() == n && regs.iter().all(|r| r["status"] == status)).then_some(regs)
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_buys_a_course_and_a_program_and_is_enrolled() {
    let shop = Shop::open(&[]).await;
    let a = shop.course("lms-a", 4900, false).await;
    let b = shop.course("lms-b", 5900, false).await;
    let c = shop.course("lms-c", 7900, false).await;
    let p = shop.program(&[&b, &c], 11_000).await;
    let learner = shop.learner("learner-1");

    // Anonymous cart by session, merged on the first authenticated request.
    let r = shop
        .app
        .client
        .post(shop.app.url("/api/v2/cart/items"))
        .header("X-Session-Id", "sess-1")
        .json(&json!({"itemType": "course", "itemId": a, "price": 1}))
        .send()
        .await
        .unwrap();
    let (s, cart) = body(r).await;
    assert_eq!(s, StatusCode::CREATED, "{cart}");
    assert_eq!(
        cart["items"][0]["price"], 4900,
        "the catalog price, not the client's"
    );
    let r = shop
        .app
        .client
        .post(shop.app.url("/api/v2/cart/items"))
        .bearer_auth(&learner)
        .header("X-Session-Id", "sess-1")
        .json(&json!({"itemType": "program", "itemId": p}))
        .send()
        .await
        .unwrap();
    let (s, cart) = body(r).await;
    assert_eq!(s, StatusCode::CREATED, "{cart}");
    assert_eq!(
        cart["items"].as_array().unwrap().len(),
        2,
        "the anonymous line merged in: {cart}"
    );
    assert_eq!(cart["total"], 4900 + 11_000);
    let (_, anon) = body(
        shop.app
            .client
            .get(shop.app.url("/api/v2/cart"))
            .header("X-Session-Id", "sess-1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        anon["items"].as_array().unwrap().is_empty(),
        "the anonymous cart is gone"
    );

    let (s, order) = shop.checkout(&learner).await;
    assert_eq!(s, StatusCode::CREATED, "{order}");
    let number = order["orderNumber"].as_str().unwrap();
    assert!(
        number.starts_with(&format!("ORD-{}-", chrono::Utc::now().format("%Y")))
            && number.len() >= 14,
        "{number}"
    );
    assert_eq!(order["status"], "pending");
    assert_eq!(order["total"], 15_900);
    assert_eq!(order["settlementAmount"], 15_900);
    let oid = order["id"].as_str().unwrap().to_string();
    let (s, again) = shop.checkout(&learner).await;
    assert_eq!(
        (s, &again["id"]),
        (StatusCode::OK, &order["id"]),
        "a second checkout returns the same order"
    );

    let paid = shop.pay(&learner, &oid, "pm_card_visa").await;
    assert_eq!(paid["status"], "succeeded");
    assert_eq!(paid["amount"], 15_900);
    let done = shop.order_status(&learner, &oid, "completed").await;
    assert_eq!(done["paymentStatus"], "completed");

    let regs = shop.registrations_all(&learner, 3, "enrolled").await;
    let in_program: Vec<&Value> = regs
        .iter()
        .filter(|r| r["programId"] == p.as_str())
        .collect();
    assert_eq!(in_program.len(), 2);
    assert!(regs.iter().all(|r| {
        r["enrollmentId"]
            .as_str()
            .is_some_and(|e| e.starts_with("enr_"))
    }));

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
        assert_eq!(b["payload"]["orderId"], oid.as_str());
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

    // Owned now: flagged in a new cart and refused at checkout.
    let (_, cart) = shop.add(&learner, "course", &a).await;
    assert_eq!(cart["items"][0]["owned"], true);
    let (s, b) = shop.checkout(&learner).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "already_owned");

    // Own records only.
    let other = shop.learner("learner-2");
    let (s, _) = get_as(&shop.app, &other, &format!("/api/v2/orders/{oid}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = get_as(
        &shop.app,
        &other,
        &format!("/api/v2/registrations/{}", regs[0]["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(shop.registrations(&other).await.is_empty());
    let (_, hist) = get_as(&shop.app, &learner, "/api/v2/payments/history").await;
    assert_eq!(hist["items"].as_array().unwrap().len(), 1);
    let (_, hist) = get_as(&shop.app, &other, "/api/v2/payments/history").await;
    assert!(hist["items"].as_array().unwrap().is_empty());
    let (s, _) = post(
        &shop.app,
        &other,
        "/api/v2/payments/confirm",
        json!({"paymentId": paid["id"], "paymentMethod": "pm_card_visa"}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The billing-admin view with filters.
    let (s, list) = get_as(
        &shop.app,
        &shop.admin,
        &format!("/api/v2/admin/orders?status=completed&courseId={c}"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (_, none) = get_as(&shop.app, &shop.admin, "/api/v2/admin/orders?status=failed").await;
    assert!(none["items"].as_array().unwrap().is_empty());
    // A second learner's pending order, for the user filter and pagination.
    shop.add(&other, "course", &a).await;
    let (s, _) = shop.checkout(&other).await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, mine) = get_as(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/orders?userId=learner-1",
    )
    .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    assert_eq!(mine["items"][0]["id"], oid.as_str());
    let (_, theirs) = get_as(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/orders?userId=learner-2&status=pending",
    )
    .await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 1);
    let since = (chrono::Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339()
        .replace('+', "%2B");
    let until = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339()
        .replace('+', "%2B");
    let (s, window) = get_as(
        &shop.app,
        &shop.admin,
        &format!("/api/v2/admin/orders?from={since}&to={until}&limit=1"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{window}");
    assert_eq!(window["items"].as_array().unwrap().len(), 1);
    let cursor = window["nextCursor"].as_str().expect("a second page");
    let (_, next) = get_as(
        &shop.app,
        &shop.admin,
        &format!("/api/v2/admin/orders?from={since}&to={until}&limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(next["items"].as_array().unwrap().len(), 1);
    assert_ne!(next["items"][0]["id"], window["items"][0]["id"]);
    let (_, past) = get_as(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/orders?to=2020-01-01T00:00:00Z",
    )
    .await;
    assert!(past["items"].as_array().unwrap().is_empty());
    let (s, _) = get_as(&shop.app, &learner, "/api/v2/admin/orders").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_fails_the_order_and_registers_nothing() {
    let shop = Shop::open(&[]).await;
    let a = shop.course("lms-a", 4900, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    let (_, order) = shop.checkout(&learner).await;
    let oid = order["id"].as_str().unwrap();
    let paid = shop.pay(&learner, oid, "pm_card_visa_chargeDeclined").await;
    assert_eq!(paid["status"], "failed");
    assert!(paid["failureReason"].as_str().unwrap().contains("declined"));
    let failed = shop.order_status(&learner, oid, "failed").await;
    assert_eq!(failed["paymentStatus"], "failed");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(shop.registrations(&learner).await.is_empty());
    assert!(shop.lms.received().is_empty());
    // The authentication-required card needs action and completes nothing.
    let b = shop.course("lms-b", 100, false).await;
    shop.add(&learner, "course", &b).await;
    let (_, order) = shop.checkout(&learner).await;
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
async fn approval_required_courses_wait_for_an_admin_and_rejections_are_kept() {
    let shop = Shop::open(&[]).await;
    let r1 = shop.course("lms-r1", 1000, true).await;
    let r2 = shop.course("lms-r2", 2000, true).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &r1).await;
    shop.add(&learner, "course", &r2).await;
    let (_, order) = shop.checkout(&learner).await;
    shop.pay(&learner, order["id"].as_str().unwrap(), "pm_card_visa")
        .await;
    let regs = shop.registrations_all(&learner, 2, "pending").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        shop.lms.received().is_empty(),
        "nothing goes to the LMS before approval"
    );

    let admin = shop.env.token("enroll-1", &["enrollment-admin"], &["cs"]);
    let outsider = shop.env.token("enroll-2", &["enrollment-admin"], &["math"]);
    let (s, queue) = get_as(
        &shop.app,
        &admin,
        "/api/v2/admin/registrations?status=pending",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(queue["items"].as_array().unwrap().len(), 2);
    let (_, theirs) = get_as(&shop.app, &outsider, "/api/v2/admin/registrations").await;
    assert!(
        theirs["items"].as_array().unwrap().is_empty(),
        "another department's admin sees nothing"
    );
    let id_of = |course: &str| {
        regs.iter().find(|r| r["courseId"] == course).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (first, second) = (id_of(&r1), id_of(&r2));
    let (s, _) = post(
        &shop.app,
        &outsider,
        &format!("/api/v2/admin/registrations/{first}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = post(
        &shop.app,
        &learner,
        &format!("/api/v2/admin/registrations/{first}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, a) = post(
        &shop.app,
        &admin,
        &format!("/api/v2/admin/registrations/{first}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(
        (s, a["status"].as_str()),
        (StatusCode::OK, Some("approved"))
    );
    let (s, b) = post(
        &shop.app,
        &admin,
        &format!("/api/v2/admin/registrations/{first}/approve"),
        json!({}),
    )
    .await;
    assert_problem(s, &b, StatusCode::CONFLICT, "illegal_transition");
    let (s, b) = post(
        &shop.app,
        &admin,
        &format!("/api/v2/admin/registrations/{second}/reject"),
        json!({"reason": " "}),
    )
    .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_reason");
    let (s, bulk) = post(&shop.app, &admin, "/api/v2/admin/registrations/bulk", json!({
        "action": "reject", "ids": [second, first, uuid::Uuid::now_v7()], "reason": "prerequisites missing"
    }))
    .await;
    assert_eq!(s, StatusCode::OK);
    let results = bulk["results"].as_array().unwrap();
    assert_eq!(results[0]["ok"], true);
    assert_eq!(results[0]["status"], "rejected");
    assert_eq!(
        (results[1]["ok"].as_bool(), results[1]["code"].as_str()),
        (Some(false), Some("illegal_transition"))
    );
    assert_eq!(results[2]["code"], "not_found");

    eventually(WAIT, "approved one enrolled", || async {
        let regs = shop.registrations(&learner).await;
        let r = regs.iter().find(|r| r["id"] == first.as_str())?;
        (r["status"] == "enrolled").then_some(())
    })
    .await;
    let regs = shop.registrations(&learner).await;
    let rejected = regs.iter().find(|r| r["id"] == second.as_str()).unwrap();
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["rejectionReason"], "prerequisites missing");
    assert_eq!(shop.lms.received().len(), 1);

    // The LMS itself rejecting: the reason is kept for the refund work.
    shop.lms
        .set_behaviour(Behaviour::Reject("course is full".into()));
    let c = shop.course("lms-c", 500, false).await;
    shop.add(&learner, "course", &c).await;
    let (_, order) = shop.checkout(&learner).await;
    shop.pay(&learner, order["id"].as_str().unwrap(), "pm_card_visa")
        .await;
    let r = eventually(WAIT, "LMS rejection recorded", || async {
        let regs = shop.registrations(&learner).await;
        regs.into_iter()
            .find(|r| r["courseId"] == c.as_str() && r["status"] == "rejected")
    })
    .await;
    assert_eq!(r["rejectionReason"], "course is full");
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
    assert_eq!(s, StatusCode::OK);
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
    let (_, order) = shop.checkout(&learner).await;
    let oid = order["id"].as_str().unwrap().to_string();
    let (_, intent) = post(
        &shop.app,
        &learner,
        "/api/v2/payments/create-intent",
        json!({"orderId": oid}),
    )
    .await;
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
    // A forged webhook changes nothing and is acknowledged to the sender only as received.
    let forged = shop
        .app
        .client
        .post(shop.app.url("/api/v2/payments/webhook/sandbox"))
        .header("Stripe-Signature", "t=1,v1=00")
        .body(event.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::ACCEPTED);
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
async fn the_lms_failing_twice_then_succeeding_gives_one_enrollment_with_one_idempotency_id() {
    let shop = Shop::open(&[]).await;
    shop.lms.fail_next(2);
    let a = shop.course("lms-a", 4900, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    let (_, order) = shop.checkout(&learner).await;
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
    let (_, order) = shop.checkout(&learner).await;
    shop.pay(&learner, order["id"].as_str().unwrap(), "pm_card_visa")
        .await;
    let admin = shop.env.token("enroll-1", &["enrollment-admin"], &["cs"]);
    let parked = eventually(WAIT, "the request parked", || async {
        let (_, l) = get_as(
            &shop.app,
            &admin,
            "/api/v2/admin/registrations?deliveryStatus=failed",
        )
        .await;
        l["items"]
            .as_array()
            .filter(|a| a.len() == 1)
            .map(|a| a[0].clone())
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
    let (_, order) = shop.checkout(&learner).await;
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
            let mut c = stream
                .get_consumer::<async_nats::jetstream::consumer::pull::Config>(
                    registration::ORDERS_CONSUMER,
                )
                .await
                .ok()?;
            let info = c.info().await.ok()?;
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
async fn bad_purchases_are_refused_and_change_nothing() {
    let shop = Shop::open(&[]).await;
    let a = shop.course("lms-a", 4900, false).await;
    let learner = shop.learner("learner-1");
    let (s, b) = post(&shop.app, &learner, "/api/v2/cart/checkout", json!({})).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "empty_cart");
    let r = shop
        .app
        .client
        .post(shop.app.url("/api/v2/cart/checkout"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (s, b) = shop
        .add(&learner, "course", &uuid::Uuid::now_v7().to_string())
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND, "not_found");
    let mut hidden = course_body("lms-h", "Hidden", "cs");
    hidden["published"] = json!(false);
    let (_, h) = post(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/catalog/courses",
        hidden,
    )
    .await;
    let (s, b) = shop
        .add(&learner, "course", h["id"].as_str().unwrap())
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "item_unavailable");
    let mut ended = course_body("lms-e", "Ended", "cs");
    ended["availableFrom"] = json!("2020-01-01T00:00:00Z");
    ended["availableUntil"] = json!("2021-01-01T00:00:00Z");
    let (_, e) = post(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/catalog/courses",
        ended,
    )
    .await;
    let (s, b) = shop
        .add(&learner, "course", e["id"].as_str().unwrap())
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "item_unavailable");
    let r = shop
        .app
        .client
        .post(shop.app.url("/api/v2/cart/items"))
        .json(&json!({"itemType": "course", "itemId": a}))
        .send()
        .await
        .unwrap();
    let (s, b) = body(r).await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST, "session_required");

    // A price change between adding and checking out: 409 with the updated cart, no order.
    shop.add(&learner, "course", &a).await;
    let (s, _) = post(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/pricing",
        json!({
            "courseId": a, "priceType": "one-time", "currency": "USD", "basePrice": 5200
        }),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = shop.checkout(&learner).await;
    assert_problem(s, &b, StatusCode::CONFLICT, "price_changed");
    assert_eq!(b["cart"]["items"][0]["price"], 5200);
    let co = shop.env.schema("cart_order").await;
    assert_eq!(count(&co, "SELECT count(*) FROM orders").await, 0);
    let (s, order) = shop.checkout(&learner).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(order["total"], 5200);

    // Another learner cannot pay this order; a paid order cannot be paid again.
    let other = shop.learner("learner-2");
    let oid = order["id"].as_str().unwrap();
    let (s, _) = post(
        &shop.app,
        &other,
        "/api/v2/payments/create-intent",
        json!({"orderId": oid}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = post(
        &shop.app,
        &learner,
        "/api/v2/payments/confirm",
        json!({"paymentId": uuid::Uuid::now_v7(), "paymentMethod": "pm_card_visa"}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = post(
        &shop.app,
        &learner,
        "/api/v2/payments/confirm",
        json!({"paymentId": uuid::Uuid::now_v7(), "paymentMethod": "4242424242424242"}),
    )
    .await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST, "card_data_refused");
    shop.pay(&learner, oid, "pm_card_visa").await;
    shop.order_status(&learner, oid, "completed").await;
    let (s, b) = post(
        &shop.app,
        &learner,
        "/api/v2/payments/create-intent",
        json!({"orderId": oid}),
    )
    .await;
    assert_problem(s, &b, StatusCode::CONFLICT, "order_not_pending");

    // A free course: the order completes without a payment.
    let free = shop.course("lms-free", 0, false).await;
    shop.add(&learner, "course", &free).await;
    let (s, o) = shop.checkout(&learner).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    assert_eq!(o["status"], "completed");
    assert_eq!(o["total"], 0);
    eventually(WAIT, "the free course enrolled", || async {
        let regs = shop.registrations(&learner).await;
        regs.iter()
            .any(|r| r["courseId"] == free.as_str() && r["status"] == "enrolled")
            .then_some(())
    })
    .await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_out_of_order_and_forged_lms_webhooks_are_harmless() {
    let shop = Shop::open(&[]).await;
    let a = shop.course("lms-a", 4900, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    let (_, order) = shop.checkout(&learner).await;
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
        assert_eq!(r.status(), StatusCode::ACCEPTED);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merging_into_an_existing_cart_keeps_every_line_once() {
    let shop = Shop::open(&[]).await;
    let a = shop.course("lms-a", 1000, false).await;
    let b = shop.course("lms-b", 2000, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    for item in [&a, &b] {
        let r = shop
            .app
            .client
            .post(shop.app.url("/api/v2/cart/items"))
            .header("X-Session-Id", "sess-merge")
            .json(&json!({"itemType": "course", "itemId": item}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r = shop
        .app
        .client
        .get(shop.app.url("/api/v2/cart"))
        .bearer_auth(&learner)
        .header("X-Session-Id", "sess-merge")
        .send()
        .await
        .unwrap();
    let (_, cart) = body(r).await;
    let items: Vec<&str> = cart["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["itemId"].as_str().unwrap())
        .collect();
    assert_eq!(items.len(), 2, "{cart}");
    assert!(items.contains(&a.as_str()) && items.contains(&b.as_str()));
    assert_eq!(cart["total"], 3000);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_course_waiting_in_an_unpaid_order_is_not_ordered_twice() {
    let shop = Shop::open(&[]).await;
    let a = shop.course("lms-a", 1000, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    let (s, first) = shop.checkout(&learner).await;
    assert_eq!(s, StatusCode::CREATED);
    shop.add(&learner, "course", &a).await;
    let (s, b) = shop.checkout(&learner).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "already_ordered");
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .contains(first["orderNumber"].as_str().unwrap())
    );
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_captured_after_the_order_failed_still_completes_it() {
    let shop = Shop::open(&[]).await;
    let a = shop.course("lms-a", 1000, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    let (_, order) = shop.checkout(&learner).await;
    let oid = order["id"].as_str().unwrap().to_string();
    let declined = shop
        .pay(&learner, &oid, "pm_card_visa_chargeDeclined")
        .await;
    shop.order_status(&learner, &oid, "failed").await;
    // A second payment that the processor captured while the order was failing (a retry racing
    // the decline): the learner paid, so the order completes and the course is theirs.
    let late = events::commerce::v1::PaymentSucceeded {
        payment_id: uuid::Uuid::now_v7().to_string(),
        order_id: oid.clone(),
        user_id: "learner-1".into(),
        processor: "sandbox".into(),
        processor_transaction_id: "ch_late".into(),
        amount_minor: 1000,
        currency: "USD".into(),
        processor_fee_minor: 0,
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
    assert_ne!(done["paymentId"], declined["id"]);
    shop.registrations_all(&learner, 1, "enrolled").await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carts_and_unpaid_orders_expire() {
    let clock = Arc::new(kernel::ManualClock::new(chrono::Utc::now()));
    let mut factories = commerce::registry();
    factories.retain(|f| f.name() != "cart-order");
    factories.push(Arc::new(cart_order::CartOrderService {
        clock: Some(clock.clone()),
        ..Default::default()
    }));
    let shop = Shop::open_with(
        &[
            ("cart_order.cart_ttl_hours", "2".into()),
            ("cart_order.pending_order_ttl_hours", "24".into()),
            ("cart_order.expiry_interval_secs", "1".into()),
        ],
        factories,
    )
    .await;
    let a = shop.course("lms-a", 1000, false).await;
    let b = shop.course("lms-b", 2000, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    let (s, order) = shop.checkout(&learner).await;
    assert_eq!(s, StatusCode::CREATED);
    shop.add(&learner, "course", &b).await;
    let (_, cart) = get_as(&shop.app, &learner, "/api/v2/cart").await;
    assert_eq!(cart["items"].as_array().unwrap().len(), 1);

    clock.advance(chrono::Duration::hours(3));
    let (_, cart) = get_as(&shop.app, &learner, "/api/v2/cart").await;
    assert!(
        cart["items"].as_array().unwrap().is_empty(),
        "the cart expired: {cart}"
    );
    let co = shop.env.schema("cart_order").await;
    eventually(WAIT, "the expired cart swept", || {
        let co = co.clone();
        async move {
            (count(&co, "SELECT count(*) FROM carts WHERE status = 'open'").await == 0)
                .then_some(())
        }
    })
    .await;
    assert_eq!(
        shop.order_status(&learner, order["id"].as_str().unwrap(), "pending")
            .await["status"],
        "pending"
    );

    clock.advance(chrono::Duration::hours(24));
    let failed = shop
        .order_status(&learner, order["id"].as_str().unwrap(), "failed")
        .await;
    assert!(
        failed["failureReason"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    let (s, b) = post(
        &shop.app,
        &learner,
        "/api/v2/payments/create-intent",
        json!({"orderId": order["id"]}),
    )
    .await;
    assert_problem(s, &b, StatusCode::CONFLICT, "order_not_pending");
    shop.close().await;
}
