//! What operators watch: per-route RED metrics labelled by route template, and the backbone's
//! gauges (outbox, consumers, dead letters, outbound deliveries) sampled by the host.

use crate::helpers::shop::Shop;
use crate::helpers::*;
use testkit::eventually;

/// Waits until every `(series, value)` holds on /metrics at once.
async fn until(shop: &Shop, what: &str, want: &[(&str, f64)]) -> String {
    eventually(WAIT, what, || async {
        let text = metrics_text(&shop.app).await;
        want.iter()
            .all(|(s, v)| metric(&text, s) == Some(*v))
            .then_some(text)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_shows_in_route_metrics_and_a_stuck_delivery_in_the_backbone_gauges() {
    let shop = Shop::open(&[
        ("telemetry.sample_secs", "1".into()),
        ("registration.max_attempts", "2".into()),
    ])
    .await;
    // The LMS refuses: the enrollment request waits, then is parked after its two attempts.
    shop.lms.fail_next(100);
    let course = shop.course("lms-m", 4900, false).await;
    let learner = shop.learner("learner-m");
    shop.add(&learner, "course", &course).await;
    let order = shop.checkout(&learner).await;
    let order_id = order["id"].as_str().unwrap().to_string();
    shop.pay(&learner, &order_id, "pm_card_visa").await;
    shop.order_status(&learner, &order_id, "completed").await;
    let text = until(
        &shop,
        "the request parked, every event consumed",
        &[
            (r#"outbound_parked{sender="lms"}"#, 1.0),
            (r#"outbound_backlog{sender="lms"}"#, 0.0),
            (
                r#"consumer_pending_messages{consumer="registration-orders"}"#,
                0.0,
            ),
            (
                r#"consumer_ack_pending_messages{consumer="registration-orders"}"#,
                0.0,
            ),
            (r#"outbox_unpublished_rows{schema="cart_order"}"#, 0.0),
            (
                r#"outbox_oldest_unpublished_age_seconds{schema="payment"}"#,
                0.0,
            ),
            ("dead_letters_stored", 0.0),
        ],
    )
    .await;
    // Payment outcomes by processor, each settled once.
    assert_eq!(
        metric(
            &text,
            r#"payment_outcomes_total{processor="sandbox",outcome="succeeded"}"#
        ),
        Some(1.0),
        "{text}"
    );
    // RED by route template: the order's own path is counted under `{id}`, never by its id.
    let order_route =
        r#"http_requests_total{method="GET",route="/api/v2/orders/{id}",status="200"}"#;
    assert!(
        metric(&text, order_route).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        text.lines()
            .filter(|l| l.starts_with("http_request_duration_seconds_count"))
            .any(|l| l.contains(r#"route="/api/v2/cart/checkout""#)),
        "{text}"
    );
    assert!(!text.contains(&order_id), "a raw path became a label");
    // The LMS is back and the operator redrives: the gauge drops to 0 and the learner is enrolled.
    shop.lms.fail_next(0);
    let admin = shop.env.token("enroll-1", &["enrollment-admin"], &["cs"]);
    let regs = shop.registrations(&learner).await;
    let id = regs[0]["id"].as_str().unwrap();
    post_expect(
        &shop.app,
        &admin,
        &format!("/api/v2/admin/registrations/{id}/redrive"),
        serde_json::json!({}),
        reqwest::StatusCode::OK,
    )
    .await;
    shop.registrations_all(&learner, 1, "enrolled").await;
    until(
        &shop,
        "nothing parked",
        &[(r#"outbound_parked{sender="lms"}"#, 0.0)],
    )
    .await;
    shop.close().await;
}
