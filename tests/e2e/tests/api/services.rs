//! Services tested alone, without the gateway or the services around them: events go in through
//! JetStream as the other services would publish them, and the service's own HTTP API and its
//! outside peers (the fake LMS) show what it did.

use crate::helpers::shop::{LMS_KEY, LMS_SECRET};
use crate::helpers::*;
use bus::Bus;
use events::commerce::v1 as ev;
use fake_lms::{Behaviour, FakeLms};
use prost::Message;
use reqwest::StatusCode;
use testkit::{TestApp, TestEnv, eventually};

fn order_completed(user: &str, course: &uuid::Uuid, amounts: bool) -> ev::OrderCompleted {
    ev::OrderCompleted {
        order_id: uuid::Uuid::now_v7().to_string(),
        order_number: "ORD-2026-00042".into(),
        user_id: user.into(),
        lines: vec![ev::OrderLine {
            item_type: "course".into(),
            item_id: course.to_string(),
            name: "Rust".into(),
            price_minor: 4900,
            department_id: "cs".into(),
            order_item_id: uuid::Uuid::now_v7().to_string(),
            courses: vec![ev::LineCourse {
                course_id: course.to_string(),
                lms_course_id: "lms-rust".into(),
                title: "Rust".into(),
                creator_id: "creator-1".into(),
                instructor_id: "instructor-1".into(),
                approval_required: false,
                revenue_split: Some(ev::RevenueSplit {
                    platform_bps: 3000,
                    creator_bps: 4000,
                    instructor_bps: 3000,
                }),
                allocated_minor: 4900,
            }],
            ..Default::default()
        }],
        amounts: amounts.then(|| ev::Amounts {
            subtotal_minor: 4900,
            total_minor: 4900,
            display_currency: "USD".into(),
            settlement_total_minor: 4900,
            settlement_currency: "USD".into(),
            exchange_rate: "1".into(),
            ..Default::default()
        }),
        payment_id: uuid::Uuid::now_v7().to_string(),
        completed_at: "2026-11-28T10:00:00Z".into(),
        processor_transaction_id: "ch_test".into(),
        processor_fee_minor: 0,
        ..Default::default()
    }
}

async fn publish(bus: &Bus, e: &ev::OrderCompleted) -> uuid::Uuid {
    let envelope = events::Envelope::new(
        "commerce.v1.OrderCompleted",
        "test",
        chrono::Utc::now(),
        None,
    );
    bus.publish(
        events::subjects::ORDER_COMPLETED,
        envelope.to_headers(),
        e.encode_to_vec().into(),
    )
    .await
    .unwrap();
    envelope.id
}

/// Registration alone: an `order.completed` becomes a registration and one enrollment request
/// with the spec's payload; an event that breaks the contract is dead-lettered at its first
/// delivery (a permanent error), not after every backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_alone_turns_an_order_into_an_enrollment_request() {
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
    lms.set_behaviour(Behaviour::Silent);
    let settings = env.settings(&[
        ("registration.lms_url", lms.url.clone()),
        ("registration.lms_api_key", LMS_KEY.into()),
        ("registration.lms_webhook_secret", LMS_SECRET.into()),
    ]);
    let bus = Bus::connect(&settings.bus()).await.unwrap();
    let app = TestApp::spawn(settings, &commerce::registry(), &["registration"]).await;

    let course = uuid::Uuid::now_v7();
    publish(&bus, &order_completed("learner-1", &course, true)).await;
    let sent = eventually(WAIT, "the enrollment request at the LMS", || {
        let lms = &lms;
        async move { lms.received().into_iter().next() }
    })
    .await;
    let payload = &sent.body["payload"];
    assert_eq!(payload["userId"], "learner-1");
    assert_eq!(payload["courseId"], "lms-rust");
    assert_eq!(payload["purchaseMetadata"]["grossAmount"], 4900);
    assert_eq!(payload["purchaseMetadata"]["currency"], "USD");
    assert_eq!(payload["purchaseMetadata"]["contentCreatorId"], "creator-1");

    // The learner sees it through registration's own API; another learner sees nothing.
    let learner = env.token("learner-1", &["learner"], &[]);
    let mine = eventually(WAIT, "the delivery recorded", || {
        let (app, learner) = (&app, &learner);
        async move {
            let list = get_as_ok(app, learner, "/api/v2/registrations").await;
            (list["items"][0]["deliveryStatus"] == "delivered").then_some(list)
        }
    })
    .await;
    let regs = items(&mine);
    assert_eq!(regs.len(), 1);
    assert_eq!(regs[0]["courseId"], course.to_string());
    assert_eq!(regs[0]["status"], "approved");
    assert_eq!(regs[0]["deliveryStatus"], "delivered");
    let other = env.token("learner-2", &["learner"], &[]);
    assert!(items(&get_as_ok(&app, &other, "/api/v2/registrations").await).is_empty());

    // An order event without its amounts can never be applied: dead-lettered at once.
    let poison = publish(&bus, &order_completed("learner-3", &course, false)).await;
    let letters = dead_letters(&bus, "the poison order dead-lettered").await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].event_id, poison.to_string());
    assert_eq!(letters[0].consumer, registration::ORDERS_CONSUMER);
    assert_eq!(
        letters[0].deliveries, "1",
        "permanent errors are not retried"
    );
    assert!(
        letters[0].reason.contains("amounts"),
        "{}",
        letters[0].reason
    );
    let third = env.token("learner-3", &["learner"], &[]);
    let (status, _) = get_as(&app, &third, "/api/v2/registrations").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lms.received().len(), 1, "nothing sent for the poison order");
    app.stop().await;
    lms.stop().await;
    env.cleanup().await;
}

async fn publish_as(bus: &Bus, subject: &str, event_type: &str, payload: Vec<u8>) {
    let envelope = events::Envelope::new(event_type, "test", chrono::Utc::now(), None);
    bus.publish(subject, envelope.to_headers(), payload.into())
        .await
        .unwrap();
}

/// Notification alone: an order's completion that arrives before its checkout (the consumer
/// handles events concurrently) waits for it, so the confirmation goes to the address the learner
/// gave at their latest checkout, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_mails_a_completion_that_overtook_its_checkout_to_the_latest_address_once() {
    let env = TestEnv::new().await;
    let smtp = fake_smtp::FakeSmtp::start(0).await.unwrap();
    let settings = env.settings(&[
        ("notification.smtp_port", smtp.port.to_string()),
        ("notification.retry_base_ms", "50".into()),
    ]);
    let bus = Bus::connect(&settings.bus()).await.unwrap();
    let app = TestApp::spawn(settings, &commerce::registry(), &["notification"]).await;
    let course = uuid::Uuid::now_v7();
    let user = "learner-late";
    // An older checkout told the service an older address.
    let mut older = order_completed(user, &course, true);
    let created = |o: &ev::OrderCompleted, email: &str| ev::OrderCreated {
        order_id: o.order_id.clone(),
        order_number: o.order_number.clone(),
        user_id: user.into(),
        lines: o.lines.clone(),
        customer_email: email.into(),
        customer_name: "Late Learner".into(),
        created_at: chrono::Utc::now().to_rfc3339(),
        ..Default::default()
    };
    older.order_number = "ORD-2026-00041".into();
    publish_as(
        &bus,
        events::subjects::ORDER_CREATED,
        "commerce.v1.OrderCreated",
        created(&older, "old@example.edu").encode_to_vec(),
    )
    .await;
    // The new order's completion first, its checkout (with the new address) afterwards.
    let newer = order_completed(user, &course, true);
    publish(&bus, &newer).await;
    let stream = bus
        .jetstream()
        .get_stream(bus.stream_name("COMMERCE"))
        .await
        .unwrap();
    eventually(
        WAIT,
        "the completion handled, waiting for its checkout",
        || async {
            let info = stream.consumer_info("notification-orders").await.ok()?;
            (info.num_redelivered >= 1).then_some(())
        },
    )
    .await;
    assert!(
        smtp.received().is_empty(),
        "nothing mailed before the checkout"
    );
    publish_as(
        &bus,
        events::subjects::ORDER_CREATED,
        "commerce.v1.OrderCreated",
        created(&newer, "new@example.edu").encode_to_vec(),
    )
    .await;
    let mail = eventually(WAIT, "the confirmation mailed", || async {
        smtp.received().into_iter().find(|m| {
            m.parsed()
                .subject()
                .is_some_and(|s| s.contains("ORD-2026-00042"))
        })
    })
    .await;
    assert_eq!(mail.to, ["new@example.edu"]);
    assert_eq!(
        smtp.received()
            .iter()
            .filter(|m| m
                .parsed()
                .subject()
                .is_some_and(|s| s.contains("ORD-2026-00042")))
            .count(),
        1
    );
    app.stop().await;
    smtp.stop();
    env.cleanup().await;
}
