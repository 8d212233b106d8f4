//! Shared test helpers.

pub mod shop;

use reqwest::{Response, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use std::time::Duration;
use testkit::{TestApp, TestEnv};

pub const WAIT: Duration = Duration::from_secs(20);

/// The whole platform in one process, as `commerce serve --services all` runs it.
pub async fn platform(env: &TestEnv) -> TestApp {
    TestApp::spawn(env.settings(&[]), &commerce::registry(), &["all"]).await
}

pub async fn body(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    let v = r.json::<Value>().await.unwrap_or(Value::Null);
    (status, v)
}

pub async fn post(app: &TestApp, token: &str, path: &str, payload: Value) -> (StatusCode, Value) {
    body(
        app.client
            .post(app.url(path))
            .bearer_auth(token)
            .json(&payload)
            .send()
            .await
            .unwrap(),
    )
    .await
}

pub async fn put(app: &TestApp, token: &str, path: &str, payload: Value) -> (StatusCode, Value) {
    body(
        app.client
            .put(app.url(path))
            .bearer_auth(token)
            .json(&payload)
            .send()
            .await
            .unwrap(),
    )
    .await
}

pub async fn get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    body(app.client.get(app.url(path)).send().await.unwrap()).await
}

pub async fn get_as(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    body(
        app.client
            .get(app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await
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
    let (s, c) = post(
        app,
        admin,
        "/api/v2/admin/catalog/courses",
        course_body(lms, &format!("Course {lms}"), dept),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    let (s, p) = post(
        app,
        admin,
        "/api/v2/admin/pricing",
        json!({
            "courseId": id, "priceType": "one-time", "currency": "USD", "basePrice": cents
        }),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    (id, p["id"].as_str().unwrap().to_string())
}

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
