//! Authorization comes first: a caller without the route's role gets 403 whatever it sends
//! (a malformed body, a bad query, an unknown id), and an admin with the same malformed request
//! gets the 400 that proves the body is still validated.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use testkit::TestEnv;

const MALFORMED: &str = "{\"not\": json";

/// Every admin route that reads a body or a query, with the method it takes.
fn admin_routes() -> Vec<(Method, String)> {
    let id = uuid::Uuid::now_v7();
    vec![
        (Method::POST, "/api/v2/admin/pricing".into()),
        (Method::POST, "/api/v2/admin/catalog/courses".into()),
        (Method::PUT, format!("/api/v2/admin/catalog/courses/{id}")),
        (Method::POST, "/api/v2/admin/catalog/programs".into()),
        (Method::PUT, format!("/api/v2/admin/catalog/programs/{id}")),
        (Method::PUT, "/api/v2/admin/catalog/departments/d1".into()),
        (
            Method::PUT,
            "/api/v2/admin/catalog/exchange-rates/EUR".into(),
        ),
        (
            Method::POST,
            format!("/api/v2/admin/registrations/{id}/reject"),
        ),
        (Method::POST, "/api/v2/admin/registrations/bulk".into()),
        (Method::POST, format!("/api/v2/admin/payments/{id}/refund")),
        (Method::POST, format!("/api/v2/admin/refunds/{id}/approve")),
        (Method::POST, format!("/api/v2/admin/refunds/{id}/reject")),
    ]
}

async fn send(app: &testkit::TestApp, token: &str, method: Method, path: &str) -> StatusCode {
    app.client
        .request(method, app.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(MALFORMED)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_gets_403_from_every_admin_route_whatever_the_body() {
    let env = TestEnv::new().await;
    let app = platform(&env).await;
    let learner = env.token("learner-1", &["learner"], &[]);
    for (method, path) in admin_routes() {
        let status = send(&app, &learner, method.clone(), &path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    // A malformed query too.
    for path in [
        "/api/v2/admin/orders?status=bogus&limit=nope",
        "/api/v2/admin/registrations?limit=nope",
        "/api/v2/admin/pricing?limit=nope",
        "/api/v2/admin/refunds?status=bogus",
    ] {
        let (status, _) = get_as(&app, &learner, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "GET {path}");
    }
    // Without a token it is 401, not 400.
    let r = app
        .client
        .post(app.url("/api/v2/admin/pricing"))
        .header("content-type", "application/json")
        .body(MALFORMED)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The right role with the same malformed body: the body is still validated.
    let billing = env.token("billing-1", &["billing-admin"], &[]);
    let enrollment = env.token("enrol-1", &["enrollment-admin"], &["d1"]);
    for (method, path) in admin_routes() {
        let token = if path.contains("/registrations") {
            &enrollment
        } else {
            &billing
        };
        let status = send(&app, token, method.clone(), &path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}");
    }
    app.stop().await;
    env.cleanup().await;
}
