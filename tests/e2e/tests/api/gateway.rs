//! The gateway: in-process and proxied routing, JWT checks, rate limits, webhook relay,
//! OpenAPI, health and metrics.

use crate::helpers::*;
use reqwest::StatusCode;
use runtime::ServiceFactory;
use serde_json::json;
use std::sync::Arc;
use testkit::{Cable, TestApp, TestEnv, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_to_a_service_in_another_process() {
    let env = TestEnv::new().await;
    let only_catalog: Vec<Arc<dyn ServiceFactory>> = vec![Arc::new(catalog::CatalogService)];
    let catalog = TestApp::spawn(env.settings(&[]), &only_catalog, &["catalog"]).await;
    let gw = TestApp::spawn(
        env.settings(&[
            ("gateway.upstreams.catalog", catalog.base.clone()),
            ("gateway.timeout_ms", "2000".into()),
        ]),
        &commerce::registry(),
        &["gateway"],
    )
    .await;
    let admin = env.token("admin", &["billing-admin"], &[]);
    let (course, _) = course_with_price(&gw, &admin, "lms-p", "cs", 1500).await;
    let r = gw
        .client
        .get(gw.url("/api/v2/catalog/courses"))
        .header("x-request-id", "req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-42");
    let (s, list) = body(r).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["items"][0]["id"], course.as_str());
    assert_eq!(list["items"][0]["price"]["basePrice"], 1500);

    // The gateway refuses a bad token itself.
    let r = gw
        .client
        .get(gw.url("/api/v2/catalog/courses"))
        .bearer_auth("forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A service that is neither here nor configured: 503.
    let (s, b) = get(&gw, "/api/v2/orders").await;
    assert_problem(
        s,
        &b,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
    // The merged document names the proxied service's paths.
    let doc = get_ok(&gw, "/api/openapi.json").await;
    assert!(doc["paths"]["/api/v2/catalog/courses"].is_object());
    assert!(doc["paths"]["/api/v2/admin/pricing"]["post"].is_object());

    catalog.stop().await;
    let (s, b) = get(&gw, "/api/v2/catalog/courses").await;
    assert_problem(s, &b, StatusCode::BAD_GATEWAY, "upstream_unavailable");
    gw.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_checkout_and_payment_posts_per_caller() {
    let env = TestEnv::new().await;
    let settings = env.settings(&[
        ("gateway.rate_limit_burst", "2".into()),
        ("gateway.rate_limit_per_minute", "6".into()),
    ]);
    let app = TestApp::spawn(settings, &commerce::registry(), &["all"]).await;
    let a = env.token("learner-a", &["learner"], &[]);
    let b = env.token("learner-b", &["learner"], &[]);
    // Within the burst the requests reach the cart service, which refuses an empty cart: the
    // status is checked exactly, so a 401 or 500 cannot pass for "not rate limited".
    for _ in 0..2 {
        let (s, b) = send(
            app.client
                .post(app.url("/api/v2/cart/checkout"))
                .bearer_auth(&a)
                .json(&json!({})),
        )
        .await;
        assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "empty_cart");
    }
    let r = app
        .client
        .post(app.url("/api/v2/payments/create-intent"))
        .bearer_auth(&a)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry), "Retry-After {retry}");
    let (_, problem) = body(r).await;
    assert_eq!(problem["code"], "rate_limited");
    let (s, problem) = send(
        app.client
            .post(app.url("/api/v2/cart/checkout"))
            .bearer_auth(&b)
            .json(&json!({})),
    )
    .await;
    assert_ne!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "another caller has its own bucket"
    );
    assert_problem(s, &problem, StatusCode::UNPROCESSABLE_ENTITY, "empty_cart");
    // Reads and browsing are not limited.
    for _ in 0..5 {
        assert_eq!(get(&app, "/api/v2/catalog/courses").await.0, StatusCode::OK);
    }
    app.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_webhooks_into_jetstream_and_acknowledges_after_the_ack() {
    let env = TestEnv::new().await;
    let app = platform(&env).await;
    let raw = r#"{"type":"enrollment.approved","data":{"enrollmentId":"e-1"}}"#;
    let send = || {
        app.client
            .post(app.url("/api/v1/webhooks/enrollment-status"))
            .header("content-type", "application/json")
            .header("webhook-id", "msg_2Lx")
            .header("webhook-timestamp", "1764133000")
            .header("webhook-signature", "v1,c2lnbmF0dXJl")
            .body(raw)
            .send()
    };
    let (s, first) = body(send().await.unwrap()).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(first["duplicate"], false);
    let (s, second) = body(send().await.unwrap()).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(
        second["duplicate"], true,
        "a redelivered webhook is stored once"
    );
    assert_eq!(first["eventId"], second["eventId"]);

    let client = async_nats::connect(testkit::NATS_URL).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js
        .get_stream(format!("INBOUND{}", env.stream_suffix))
        .await
        .unwrap();
    let subject = format!("{}inbound.lms.enrollment-status", env.subject_prefix);
    let msg = stream
        .get_last_raw_message_by_subject(&subject)
        .await
        .unwrap();
    assert_eq!(
        msg.payload.as_ref(),
        raw.as_bytes(),
        "the raw body, byte for byte"
    );
    let h = msg.headers.clone();
    assert_eq!(
        h.get("http-webhook-signature").unwrap().as_str(),
        "v1,c2lnbmF0dXJl"
    );
    assert_eq!(
        h.get("ce-type").unwrap().as_str(),
        "inbound.lms.enrollment-status"
    );
    // A processor webhook must carry its processor's signature: an unsigned one is refused
    // at the edge and never relayed; a signed one is relayed as sent.
    let (s, b) = body(
        app.client
            .post(app.url("/api/v2/payments/webhook/sandbox"))
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_signature");
    let sig = payment::processor::sandbox::sign(
        "whsec_sandbox_dev_secret_change_me",
        chrono::Utc::now().timestamp(),
        b"{}",
    );
    let (s, _) = body(
        app.client
            .post(app.url("/api/v2/payments/webhook/sandbox"))
            .header("Stripe-Signature", sig)
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let p = stream
        .get_last_raw_message_by_subject(&format!(
            "{}inbound.processor.sandbox",
            env.subject_prefix
        ))
        .await
        .unwrap();
    assert_eq!(p.payload.as_ref(), b"{}");
    let (s, _) = body(
        app.client
            .post(app.url("/api/v1/webhooks/Bad_Name"))
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_answer_503_when_jetstream_cannot_store_them() {
    let env = TestEnv::new().await;
    let cable = Cable::to("127.0.0.1:4222").await;
    let settings = env.settings(&[("nats.url", cable.url())]);
    let app = TestApp::spawn(settings, &commerce::registry(), &["gateway"]).await;
    cable.cut();
    eventually(WAIT, "NATS seen as down", || async {
        (get(&app, "/readyz").await.0 == StatusCode::SERVICE_UNAVAILABLE).then_some(())
    })
    .await;
    let r = app
        .client
        .post(app.url("/api/v1/webhooks/enrollment-status"))
        .body("{}")
        .send()
        .await
        .unwrap();
    let (s, b) = body(r).await;
    assert_problem(s, &b, StatusCode::SERVICE_UNAVAILABLE, "relay_unavailable");
    app.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_health_metrics_docs_and_problem_404s() {
    let env = TestEnv::new().await;
    let app = platform(&env).await;
    let (s, b) = get(&app, "/healthz").await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, b) = get(&app, "/readyz").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    get_ok(&app, "/api/v2/catalog/courses").await;
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    let doc = get_ok(&app, "/api/openapi.json").await;
    for path in [
        "/api/v2/catalog/courses",
        "/api/v2/cart/checkout",
        "/api/v2/orders/{id}",
        "/api/v2/payments/confirm",
        "/api/v2/admin/registrations/bulk",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the merged document"
        );
    }
    let r = app.client.get(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("swagger"));
    let (s, b) = get(&app, "/no/such/route").await;
    assert_problem(s, &b, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
    env.cleanup().await;
}
