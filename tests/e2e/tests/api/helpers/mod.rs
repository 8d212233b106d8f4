//! Shared test helpers.
//!
//! The HTTP helpers come in two kinds. The raw ones ([`post`], [`put`], [`get`], [`get_as`],
//! [`send`]) return the status with the body, for tests that assert a refusal. The typed ones
//! ([`post_expect`], [`put_expect`], [`get_ok`], [`get_as_ok`], [`send_expect`]) take the status
//! they expect and panic with the request, the status and the body when it differs, so that an
//! assertion on the data ("the list is empty") can never pass on a 401 or a 500.

pub mod shop;

use reqwest::{RequestBuilder, Response, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use std::time::Duration;
use testkit::{TestApp, TestEnv};

pub const WAIT: Duration = Duration::from_secs(20);

/// What JetStream says of the durable consumer `durable` of `stream` (`None` while it cannot).
pub async fn consumer_info(
    stream: &async_nats::jetstream::stream::Stream,
    durable: &str,
) -> Option<async_nats::jetstream::consumer::Info> {
    let mut c = stream
        .get_consumer::<async_nats::jetstream::consumer::pull::Config>(durable)
        .await
        .ok()?;
    c.info().await.ok().cloned()
}

/// The parked messages, once there is at least one.
pub async fn dead_letters(bus: &bus::Bus, what: &str) -> Vec<bus::DeadLetter> {
    testkit::eventually(WAIT, what, || {
        let bus = bus.clone();
        async move { bus.dead_letters().await.ok().filter(|l| !l.is_empty()) }
    })
    .await
}

/// The whole platform in one process, as `commerce serve --services all` runs it.
pub async fn platform(env: &TestEnv) -> TestApp {
    TestApp::spawn(env.settings(&[]), &commerce::registry(), &["all"]).await
}

/// The status and the body: JSON as parsed, any other text as a JSON string, nothing as null.
pub async fn body(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, v)
}

/// The body of an answer whose status must be `want`; panics naming `what`, the status and the
/// body otherwise.
pub fn expect(what: &str, want: StatusCode, (got, body): (StatusCode, Value)) -> Value {
    if got != want {
        panic!("{what}: expected {want}, got {got}: {body}");
    }
    body
}

/// Sends a request built by the caller (custom headers, no token...).
pub async fn send(req: RequestBuilder) -> (StatusCode, Value) {
    body(req.send().await.unwrap()).await
}

/// Sends a request built by the caller and returns its body, asserting the status.
pub async fn send_expect(req: RequestBuilder, want: StatusCode) -> Value {
    let what = req
        .try_clone()
        .and_then(|r| r.build().ok())
        .map(|r| format!("{} {}", r.method(), r.url().path()))
        .unwrap_or_else(|| "request".into());
    expect(&what, want, send(req).await)
}

pub async fn post(app: &TestApp, token: &str, path: &str, payload: Value) -> (StatusCode, Value) {
    send(
        app.client
            .post(app.url(path))
            .bearer_auth(token)
            .json(&payload),
    )
    .await
}

/// POST as `token`, asserting the status; returns the body.
pub async fn post_expect(
    app: &TestApp,
    token: &str,
    path: &str,
    payload: Value,
    want: StatusCode,
) -> Value {
    expect(
        &format!("POST {path}"),
        want,
        post(app, token, path, payload).await,
    )
}

pub async fn put(app: &TestApp, token: &str, path: &str, payload: Value) -> (StatusCode, Value) {
    send(
        app.client
            .put(app.url(path))
            .bearer_auth(token)
            .json(&payload),
    )
    .await
}

/// PUT as `token`, asserting the status; returns the body.
pub async fn put_expect(
    app: &TestApp,
    token: &str,
    path: &str,
    payload: Value,
    want: StatusCode,
) -> Value {
    expect(
        &format!("PUT {path}"),
        want,
        put(app, token, path, payload).await,
    )
}

pub async fn get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    send(app.client.get(app.url(path))).await
}

/// An anonymous GET that must answer 200; returns the body.
pub async fn get_ok(app: &TestApp, path: &str) -> Value {
    expect(&format!("GET {path}"), StatusCode::OK, get(app, path).await)
}

pub async fn get_as(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    send(app.client.get(app.url(path)).bearer_auth(token)).await
}

/// A GET as `token` that must answer 200; returns the body.
pub async fn get_as_ok(app: &TestApp, token: &str, path: &str) -> Value {
    expect(
        &format!("GET {path}"),
        StatusCode::OK,
        get_as(app, token, path).await,
    )
}

/// The `items` of a list answer; panics with the body when it has none.
pub fn items(list: &Value) -> &Vec<Value> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a list answer with `items`: {list}"))
}

pub fn course_body(lms: &str, title: &str, dept: &str) -> Value {
    json!({
        "lmsCourseId": lms, "title": title, "departmentId": dept,
        "contentCreatorId": "creator-1", "instructorId": "instructor-1", "published": true
    })
}

/// Creates a published course with a one-time USD price; returns (course id, price id).
pub async fn course_with_price(
    app: &TestApp,
    admin: &str,
    lms: &str,
    dept: &str,
    cents: i64,
) -> (String, String) {
    let c = post_expect(
        app,
        admin,
        "/api/v2/admin/catalog/courses",
        course_body(lms, &format!("Course {lms}"), dept),
        StatusCode::CREATED,
    )
    .await;
    let id = c["id"].as_str().unwrap().to_string();
    let p = post_expect(
        app,
        admin,
        "/api/v2/admin/pricing",
        json!({
            "courseId": id, "priceType": "one-time", "currency": "USD", "basePrice": cents
        }),
        StatusCode::CREATED,
    )
    .await;
    (id, p["id"].as_str().unwrap().to_string())
}

/// The single `bigint` a query returns (`SELECT count(*) ...`).
pub async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            sql.to_string(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

pub fn assert_problem(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], expected.as_u16(), "{body}");
}

/// The platform's /metrics text (200).
pub async fn metrics_text(app: &TestApp) -> String {
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

/// The value of the sample whose name and labels are exactly `series`, if present.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.rsplit_once(' ').filter(|(s, _)| *s == series))
        .and_then(|(_, v)| v.parse().ok())
}
