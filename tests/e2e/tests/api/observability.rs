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
        // The second attempt 3 s after the first: the waiting request is seen in the backlog.
        ("registration.retry_base_ms", "3000".into()),
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
    until(
        &shop,
        "the refused request waiting for its retry",
        &[(r#"outbound_backlog{sender="lms"}"#, 1.0)],
    )
    .await;
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

/// The span `id` and its ancestors in `trace`, nearest first.
fn lineage<'a>(
    trace: &'a [fake_otlp::Span],
    span: &'a fake_otlp::Span,
) -> Vec<&'a fake_otlp::Span> {
    let mut out = vec![span];
    let mut at = span;
    while let Some(parent) = trace.iter().find(|s| s.span_id == at.parent_span_id) {
        out.push(parent);
        at = parent;
    }
    out
}

/// The first span of `trace` named `name` whose attribute `key` is `value` (a retried step has
/// more than one).
fn the<'a>(
    trace: &'a [fake_otlp::Span],
    name: &str,
    key: &str,
    value: &str,
) -> &'a fake_otlp::Span {
    trace
        .iter()
        .find(|s| s.name == name && s.attr(key) == Some(value))
        .unwrap_or_else(|| panic!("no {name} span with {key}={value}"))
}

/// The consumers of `order.completed` whose handling the trace must show.
const COMPLETED_CONSUMERS: [&str; 4] = [
    registration::ORDERS_CONSUMER,
    "notification-orders",
    "payout-orders",
    "certificate-orders",
];

/// Whether every span the test asserts on has been exported, with every parent it names (spans
/// arrive in batches, in any order).
fn whole(trace: &[fake_otlp::Span], client_span: &str) -> bool {
    let has = |name: &str, key: &str, value: &str| {
        trace
            .iter()
            .any(|s| s.name == name && s.attr(key) == Some(value))
    };
    let completed = |consumer: &str| {
        trace.iter().any(|s| {
            s.name == "consume"
                && s.attr("consumer") == Some(consumer)
                && s.attr("subject") == Some(events::subjects::ORDER_COMPLETED)
        })
    };
    has("consume", "consumer", registration::LMS_STATUS_CONSUMER)
        && has("consume", "consumer", cart_order::PAYMENTS_CONSUMER)
        && has("deliver", "sender", "lms")
        && has("http", "path", "/api/v1/webhooks/enrollment-status")
        && COMPLETED_CONSUMERS.iter().all(|c| completed(c))
        && trace.iter().all(|s| {
            s.parent_span_id == client_span || trace.iter().any(|p| p.span_id == s.parent_span_id)
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_is_one_trace_from_the_gateway_through_nats_to_the_lms_and_its_webhook_back() {
    let otlp = fake_otlp::FakeOtlp::start(0).unwrap();
    let shop = Shop::open(&[("telemetry.otlp_endpoint", otlp.traces_url.clone())]).await;
    let course = shop.course("lms-t", 4900, false).await;
    let learner = shop.learner("learner-t");
    // The storefront starts one trace for the purchase and sends it with every request.
    let trace_id = uuid::Uuid::now_v7().simple().to_string();
    let client_span = &uuid::Uuid::now_v7().simple().to_string()[16..];
    let traceparent = format!("00-{trace_id}-{client_span}-01");
    let step = |path: &str, body: serde_json::Value, want: reqwest::StatusCode| {
        let req = shop
            .app
            .client
            .post(shop.app.url(path))
            .bearer_auth(&learner)
            .header("traceparent", &traceparent)
            .json(&body);
        let what = format!("POST {path}");
        async move { expect(&what, want, send(req).await) }
    };
    let created = reqwest::StatusCode::CREATED;
    step(
        "/api/v2/cart/items",
        serde_json::json!({"itemType": "course", "itemId": course}),
        created,
    )
    .await;
    let order = step("/api/v2/cart/checkout", serde_json::json!({}), created).await;
    let order_id = order["id"].as_str().unwrap().to_string();
    let intent = step(
        "/api/v2/payments/create-intent",
        serde_json::json!({"orderId": order_id}),
        created,
    )
    .await;
    let confirm = serde_json::json!({"paymentId": intent["id"], "paymentMethod": "pm_card_visa"});
    step("/api/v2/payments/confirm", confirm, reqwest::StatusCode::OK).await;
    shop.registrations_all(&learner, 1, "enrolled").await;

    // Down to the last link (the LMS's status webhook consumed by registration), exported in
    // batches.
    let trace = eventually(WAIT, "the purchase's spans exported", || async {
        let trace = otlp.trace(&trace_id);
        whole(&trace, client_span).then_some(trace)
    })
    .await;
    // Every span's parent is in the trace, except the storefront's own span.
    for s in &trace {
        assert!(
            s.parent_span_id == client_span || trace.iter().any(|p| p.span_id == s.parent_span_id),
            "{s:#?} has a parent outside the trace"
        );
    }
    // The four requests are children of the storefront's span.
    let http = |path: &str| {
        let found: Vec<_> = trace
            .iter()
            .filter(|s| s.name == "http" && s.attr("path") == Some(path))
            .collect();
        assert_eq!(found.len(), 1, "one http span for {path}");
        found[0]
    };
    for path in [
        "/api/v2/cart/items",
        "/api/v2/cart/checkout",
        "/api/v2/payments/create-intent",
    ] {
        assert_eq!(http(path).parent_span_id, client_span, "{path}");
    }
    let confirm = http("/api/v2/payments/confirm");
    assert_eq!(confirm.parent_span_id, client_span);
    // confirm → payment.succeeded → cart-order completes the order → order.completed → every
    // service that acts on it; registration schedules the LMS request → its delivery → the LMS's
    // webhook back through the gateway → registration consumes the status.
    let paid = the(&trace, "consume", "consumer", cart_order::PAYMENTS_CONSUMER);
    assert!(
        lineage(&trace, paid)
            .iter()
            .any(|s| s.span_id == confirm.span_id),
        "{paid:#?}"
    );
    for consumer in COMPLETED_CONSUMERS {
        let s = trace
            .iter()
            .find(|s| {
                s.name == "consume"
                    && s.attr("consumer") == Some(consumer)
                    && s.attr("subject") == Some(events::subjects::ORDER_COMPLETED)
            })
            .unwrap_or_else(|| panic!("{consumer} consumed no order.completed in the trace"));
        assert!(
            lineage(&trace, s).iter().any(|a| a.span_id == paid.span_id),
            "{consumer} is not under the order's completion: {s:#?}"
        );
    }
    let enrolled = the(&trace, "consume", "consumer", registration::ORDERS_CONSUMER);
    let deliver = the(&trace, "deliver", "sender", "lms");
    assert_eq!(
        deliver.parent_span_id, enrolled.span_id,
        "the LMS request continues its consumer"
    );
    let webhook = http("/api/v1/webhooks/enrollment-status");
    assert!(
        lineage(&trace, webhook)
            .iter()
            .any(|s| s.span_id == deliver.span_id),
        "the LMS's webhook continues the request it answers: {webhook:#?}"
    );
    let status = the(
        &trace,
        "consume",
        "consumer",
        registration::LMS_STATUS_CONSUMER,
    );
    assert!(
        lineage(&trace, status)
            .iter()
            .any(|s| s.span_id == webhook.span_id)
    );
    shop.close().await;
    otlp.stop().await;
}
