//! The API contract, derived from the served `/api/openapi.json` so a route added tomorrow is
//! covered: every admin route refuses a learner with 403 whatever the request holds, every known
//! path answers an undeclared method with 405 and `Allow` (in one process and through the
//! gateway's proxy), and the document itself says what the server does (problems, security,
//! envelopes, no internal route). `make contract` fuzzes the same document with schemathesis.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use runtime::ServiceFactory;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use testkit::{TestApp, TestEnv};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `(method, path template, operation)` of every operation in the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push((m.to_string(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// `template` with each path parameter filled with a value of its declared shape.
fn concrete(template: &str, op: &Value) -> String {
    let mut path = template.to_string();
    for p in op["parameters"].as_array().into_iter().flatten() {
        if p["in"] != "path" {
            continue;
        }
        let value = if p["schema"]["format"] == "uuid" {
            uuid::Uuid::now_v7().to_string()
        } else {
            "cs".to_string()
        };
        let name = p["name"].as_str().expect("a name");
        path = path.replace(&format!("{{{name}}}"), &value);
    }
    path
}

/// Administrative routes: the admin area and the revenue ledger.
fn is_admin(path: &str) -> bool {
    path.starts_with("/api/v2/admin/") || path.starts_with("/api/v1/revenue/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_route_in_the_document_refuses_a_learner_before_reading_the_request() {
    let env = TestEnv::new().await;
    let app = platform(&env).await;
    let doc = get_ok(&app, "/api/openapi.json").await;
    let learner = env.token("learner-1", &["learner"], &[]);
    let admin_ops: Vec<_> = operations(&doc)
        .into_iter()
        .filter(|(_, path, _)| is_admin(path))
        .collect();
    assert!(
        admin_ops.len() >= 50,
        "{} admin operations",
        admin_ops.len()
    );
    let mut wrong = Vec::new();
    for (method, template, op) in &admin_ops {
        assert_eq!(
            op["security"],
            json!([{"bearer": []}]),
            "{method} {template} declares the bearer token"
        );
        assert!(
            op["responses"]["403"].is_object(),
            "{method} {template} declares 403"
        );
        // Malformed everything: the body, the query, the Idempotency-Key.
        let path = format!(
            "{}?limit=nope&cursor=bogus&status=bogus&start=someday",
            concrete(template, op)
        );
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let learner_answer = body(
            app.client
                .request(m.clone(), app.url(&path))
                .bearer_auth(&learner)
                .header("content-type", "application/json")
                .header("idempotency-key", "")
                .body("{\"not\": json")
                .send()
                .await
                .unwrap(),
        )
        .await;
        if learner_answer.0 != StatusCode::FORBIDDEN || learner_answer.1["code"] != "forbidden" {
            wrong.push(format!("{method} {path}: {learner_answer:?}"));
        }
        // Nobody at all: 401.
        let anonymous = app
            .client
            .request(m, app.url(&path))
            .header("content-type", "application/json")
            .body("{\"not\": json")
            .send()
            .await
            .unwrap()
            .status();
        if anonymous != StatusCode::UNAUTHORIZED {
            wrong.push(format!("{method} {path} without a token: {anonymous}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    app.stop().await;
    env.cleanup().await;
}

/// Every path of the document, with its declared methods, answers each other method with 405,
/// an `Allow` header naming exactly the declared ones, and a problem.
async fn assert_405s(app: &TestApp, doc: &Value, only: impl Fn(&str) -> bool) -> usize {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        if !only(template) {
            continue;
        }
        let declared: BTreeSet<String> = METHODS
            .iter()
            .filter(|m| item.get(**m).is_some())
            .map(|m| m.to_uppercase())
            .collect();
        let op = METHODS
            .iter()
            .find_map(|m| item.get(*m))
            .expect("an operation");
        let path = concrete(template, op);
        for m in METHODS.map(str::to_uppercase) {
            if declared.contains(&m) {
                continue;
            }
            let r = app
                .client
                .request(Method::from_bytes(m.as_bytes()).unwrap(), app.url(&path))
                .send()
                .await
                .unwrap();
            let allow: BTreeSet<String> = r
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            let content_type = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let (status, problem) = body(r).await;
            checked += 1;
            if status != StatusCode::METHOD_NOT_ALLOWED
                || allow != declared
                || content_type != "application/problem+json"
                || problem["code"] != "method_not_allowed"
            {
                wrong.push(format!(
                    "{m} {path}: {status}, Allow {allow:?} (declared {declared:?}), {content_type} {problem}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_known_path_answers_an_undeclared_method_with_405_and_allow() {
    let env = TestEnv::new().await;
    let app = platform(&env).await;
    let doc = get_ok(&app, "/api/openapi.json").await;
    let checked = assert_405s(&app, &doc, |_| true).await;
    assert!(checked > 250, "{checked} requests");
    // Paths outside the document too: the document itself, health, an internal route.
    for (method, path, allow) in [
        (Method::POST, "/api/openapi.json", "GET"),
        (Method::DELETE, "/readyz", "GET"),
        (Method::GET, "/internal/v1/subscription-orders", "POST"),
    ] {
        let r = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["allow"], allow, "{method} {path}");
        let (s, b) = body(r).await;
        assert_problem(s, &b, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    }
    // An unknown path is still 404.
    let (s, b) = get(&app, "/api/v2/nothing-here").await;
    assert_problem(s, &b, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_behind_the_proxy_answers_405_with_allow_through_the_gateway() {
    let env = TestEnv::new().await;
    let only_catalog: Vec<Arc<dyn ServiceFactory>> = vec![Arc::new(catalog::CatalogService)];
    let catalog = TestApp::spawn(env.settings(&[]), &only_catalog, &["catalog"]).await;
    let gw = TestApp::spawn(
        env.settings(&[("gateway.upstreams.catalog", catalog.base.clone())]),
        &commerce::registry(),
        &["gateway"],
    )
    .await;
    let doc = get_ok(&gw, "/api/openapi.json").await;
    let checked = assert_405s(&gw, &doc, |p| {
        p.starts_with("/api/v2/catalog/")
            || p.starts_with("/api/v2/admin/catalog/")
            || p.starts_with("/api/v2/admin/pricing")
            || p.starts_with("/api/v1/webhooks/")
            || p.starts_with("/api/v2/payments/webhook/")
    })
    .await;
    assert!(checked >= 40, "{checked} requests");
    gw.stop().await;
    catalog.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_states_problems_security_envelopes_and_leaves_internal_routes_out() {
    let env = TestEnv::new().await;
    let app = platform(&env).await;
    let doc = get_ok(&app, "/api/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(
        doc["components"]["schemas"]["Problem"]["required"]
            .as_array()
            .unwrap()
            .contains(&json!("code"))
    );
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.keys().all(|p| !p.starts_with("/internal")));
    for p in [
        "/api/v1/webhooks/{name}",
        "/api/v2/payments/webhook/{processor}",
    ] {
        assert!(paths[p]["post"].is_object(), "{p} is documented");
    }
    let ops = operations(&doc);
    assert!(ops.len() > 100, "{} operations", ops.len());
    for (method, path, op) in &ops {
        for (status, r) in op["responses"].as_object().unwrap() {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    r["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
            }
        }
        if op["security"] == json!([{"bearer": []}]) {
            assert!(op["responses"]["401"].is_object(), "{method} {path} 401");
        }
        for p in op["parameters"].as_array().into_iter().flatten() {
            if p["name"] == "limit" {
                assert_eq!(
                    (&p["schema"]["minimum"], &p["schema"]["maximum"]),
                    (&json!(1), &json!(100)),
                    "{method} {path}"
                );
            }
        }
        // A list answers the envelope.
        let ok = &op["responses"]["200"]["content"]["application/json"]["schema"];
        if method == "get"
            && op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["name"] == "cursor")
        {
            let required = ok["required"].as_array().cloned().unwrap_or_default();
            assert!(
                required.contains(&json!("items")) || ok["$ref"].is_string(),
                "{method} {path} answers a page: {ok}"
            );
        }
    }
    // The gateway's own limits are declared where it applies them.
    for (method, path) in [
        ("post", "/api/v2/cart/checkout"),
        ("post", "/api/v2/payments/confirm"),
        ("get", "/api/v2/certificates/verify/{number}"),
    ] {
        let r = &doc["paths"][path][method]["responses"]["429"];
        assert!(r["headers"]["Retry-After"].is_object(), "{method} {path}");
    }
    app.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_the_document_found_wrong_are_fixed() {
    let env = TestEnv::new().await;
    let app = platform(&env).await;
    let admin = env.token("billing-1", &["billing-admin"], &[]);
    // U+0000 never reaches PostgreSQL (it answered 500): 400 in a query, a path or a body.
    let (s, b) = get(&app, "/api/v2/catalog/courses?q=a%00b").await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_characters");
    let (s, b) = get(&app, "/api/v2/catalog/departments/c%00s").await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_characters");
    let (s, b) = post(
        &app,
        &admin,
        "/api/v2/admin/catalog/courses",
        course_body("lms-nul", "Nul\u{0}Course", "cs"),
    )
    .await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_body");
    assert_eq!(b["field"], "title");

    // A whole number written with a fraction is the integer it is.
    let course = post_expect(
        &app,
        &admin,
        "/api/v2/admin/catalog/courses",
        course_body("lms-whole", "Whole numbers", "cs"),
        StatusCode::CREATED,
    )
    .await;
    let price = post_expect(
        &app,
        &admin,
        "/api/v2/admin/pricing",
        json!({"courseId": course["id"], "priceType": "one-time", "currency": "USD", "basePrice": 4900.0}),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(price["basePrice"], 4900);
    let (s, b) = post(
        &app,
        &admin,
        "/api/v2/admin/pricing",
        json!({"courseId": course["id"], "priceType": "one-time", "currency": "USD", "basePrice": 4900.5}),
    )
    .await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_body");

    // A cart nobody can be found for: neither a login nor a session id.
    let (s, b) = send(
        app.client
            .post(app.url("/api/v2/cart/items"))
            .json(&json!({"itemType": "course", "itemId": course["id"]})),
    )
    .await;
    assert_problem(s, &b, StatusCode::UNAUTHORIZED, "session_required");

    // A revenue period that reads but breaks a rule is 422; one that does not read is 400.
    let path = "/api/v1/revenue/export.csv?start=2026-03-01&end=2026-01-01";
    let (s, b) = get_as(&app, &admin, path).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_period");
    let (s, b) = get_as(&app, &admin, "/api/v1/revenue/export.csv?start=").await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_query");

    // A cursor is what a list gave: braces and URNs are not cursors.
    let (s, b) = get_as(
        &app,
        &admin,
        &format!("/api/v2/admin/pricing?cursor={{{}}}", uuid::Uuid::now_v7()),
    )
    .await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_query");
    app.stop().await;
    env.cleanup().await;
}
