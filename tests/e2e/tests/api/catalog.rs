//! Catalog through the gateway: browse, administer, price history, auth, bad input,
//! idempotency, and events written through the outbox.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use testkit::{Cable, TestApp, TestEnv, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_builds_a_catalog_that_learners_browse() {
    let env = TestEnv::new().await;
    let app = platform(&env).await;
    let admin = env.token("admin-1", &["billing-admin"], &[]);

    put_expect(
        &app,
        &admin,
        "/api/v2/admin/catalog/departments/cs",
        json!({"name": "Computer Science"}),
        StatusCode::OK,
    )
    .await;
    put_expect(
        &app,
        &admin,
        "/api/v2/admin/catalog/departments/cs-ai",
        json!({"name": "AI", "parentId": "cs"}),
        StatusCode::OK,
    )
    .await;
    let (c1, _) = course_with_price(&app, &admin, "lms-1", "cs", 4900).await;
    let (c2, _) = course_with_price(&app, &admin, "lms-2", "cs", 5900).await;
    let (c3, _) = course_with_price(&app, &admin, "lms-3", "math", 1000).await;
    // An unpublished course is not shown publicly.
    let mut hidden = course_body("lms-4", "Hidden", "cs");
    hidden["published"] = json!(false);
    let h = post_expect(
        &app,
        &admin,
        "/api/v2/admin/catalog/courses",
        hidden,
        StatusCode::CREATED,
    )
    .await;

    // Public list, pagination with a cursor.
    let page1 = get_ok(&app, "/api/v2/catalog/courses?limit=2").await;
    assert_eq!(items(&page1).len(), 2);
    let cursor = page1["nextCursor"].as_str().expect("a next page");
    let page2 = get_ok(
        &app,
        &format!("/api/v2/catalog/courses?limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(items(&page2).len(), 1);
    assert!(page2["nextCursor"].is_null());
    let ids: Vec<String> = page1["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page2["items"].as_array().unwrap())
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec![c1.clone(), c2.clone(), c3.clone()]);

    // Department filter and title search.
    let cs = get_ok(&app, "/api/v2/catalog/courses?department=math").await;
    assert_eq!(items(&cs).len(), 1);
    assert_eq!(cs["items"][0]["id"], c3.as_str());
    let found = get_ok(&app, "/api/v2/catalog/courses?q=lms-2").await;
    assert_eq!(items(&found).len(), 1);
    assert_eq!(found["items"][0]["id"], c2.as_str());

    // Detail with the current effective price; the hidden course is 404.
    let d = get_ok(&app, &format!("/api/v2/catalog/courses/{c1}")).await;
    assert_eq!(d["price"]["basePrice"], 4900);
    assert_eq!(d["price"]["currency"], "USD");
    assert_eq!(d["revenueSplit"]["creator"], 0.4);
    assert_eq!(d["available"], true);
    let (s, _) = get(
        &app,
        &format!("/api/v2/catalog/courses/{}", h["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Program with ordered courses and a bundle price.
    let p = post_expect(
        &app,
        &admin,
        "/api/v2/admin/catalog/programs",
        json!({
            "title": "Track", "departmentId": "cs", "courseIds": [c2, c1], "published": true
        }),
        StatusCode::CREATED,
    )
    .await;
    let pid = p["id"].as_str().unwrap();
    post_expect(
        &app,
        &admin,
        "/api/v2/admin/pricing",
        json!({
            "programId": pid, "priceType": "one-time", "currency": "USD", "basePrice": 9000
        }),
        StatusCode::CREATED,
    )
    .await;
    let pd = get_ok(&app, &format!("/api/v2/catalog/programs/{pid}")).await;
    let order: Vec<&str> = pd["courses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(order, vec![c2.as_str(), c1.as_str()]);
    assert_eq!(pd["price"]["basePrice"], 9000);
    assert_eq!(pd["individualTotal"], 4900 + 5900);
    let pl = get_ok(&app, "/api/v2/catalog/programs").await;
    assert_eq!(items(&pl).len(), 1);

    // Department plans.
    for (interval, cents) in [("monthly", 2900), ("annual", 29000)] {
        post_expect(&app, &admin, "/api/v2/admin/pricing", json!({
            "departmentId": "cs", "priceType": "subscription", "currency": "USD", "basePrice": cents,
            "subscription": {"interval": interval, "trialDays": 7}
        }), StatusCode::CREATED)
        .await;
    }
    let dep = get_ok(&app, "/api/v2/catalog/departments/cs").await;
    assert_eq!(dep["name"], "Computer Science");
    assert_eq!(dep["plans"].as_array().unwrap().len(), 2);
    assert_eq!(dep["subDepartmentIds"], json!(["cs-ai"]));
    assert_eq!(dep["publishedCourseCount"], 2);
    let (s, _) = get(&app, "/api/v2/catalog/departments/nowhere").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Display currency through an exchange rate; exact half-even rounding.
    put_expect(
        &app,
        &admin,
        "/api/v2/admin/catalog/exchange-rates/EUR",
        json!({"rate": "0.92"}),
        StatusCode::OK,
    )
    .await;
    let eur = get_ok(&app, &format!("/api/v2/catalog/courses/{c1}?currency=EUR")).await;
    assert_eq!(eur["displayPrice"]["amount"], 4508);
    assert_eq!(eur["displayPrice"]["currency"], "EUR");
    assert_eq!(
        eur["price"]["basePrice"], 4900,
        "settlement price unchanged"
    );
    let (s, b) = get(&app, &format!("/api/v2/catalog/courses/{c1}?currency=GBP")).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "no_exchange_rate");

    // Every change went through the outbox with its event type.
    let cat = env.schema("catalog").await;
    assert_eq!(
        count(
            &cat,
            "SELECT count(*) FROM outbox WHERE event_type = 'commerce.v1.CourseChanged'"
        )
        .await,
        4
    );
    assert_eq!(
        count(
            &cat,
            "SELECT count(*) FROM outbox WHERE event_type = 'commerce.v1.PriceChanged'"
        )
        .await,
        6
    );
    assert_eq!(
        count(
            &cat,
            "SELECT count(*) FROM outbox WHERE event_type = 'commerce.v1.ProgramChanged'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &cat,
            "SELECT count(*) FROM outbox WHERE event_type = 'commerce.v1.DepartmentChanged'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &cat,
            "SELECT count(*) FROM outbox WHERE event_type = 'commerce.v1.ExchangeRateChanged'"
        )
        .await,
        1
    );
    app.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prices_keep_their_history() {
    let env = TestEnv::new().await;
    let app = platform(&env).await;
    let admin = env.token("admin-1", &["billing-admin"], &[]);
    let (course, first) = course_with_price(&app, &admin, "lms-h", "cs", 4900).await;

    // A new price supersedes the current one; the old row stays, its window closed.
    let second = post_expect(
        &app,
        &admin,
        "/api/v2/admin/pricing",
        json!({
            "courseId": course, "priceType": "one-time", "currency": "USD", "basePrice": 3900
        }),
        StatusCode::CREATED,
    )
    .await;
    let d = get_ok(&app, &format!("/api/v2/catalog/courses/{course}")).await;
    assert_eq!(d["price"]["basePrice"], 3900);
    let hist = get_as_ok(
        &app,
        &admin,
        &format!("/api/v2/admin/pricing?courseId={course}"),
    )
    .await;
    let prices = items(&hist);
    assert_eq!(prices.len(), 2);
    assert_eq!(prices[0]["id"], first.as_str());
    assert!(
        !prices[0]["effectiveUntil"].is_null(),
        "the superseded price's window is closed"
    );

    // A price scheduled for the future does not apply yet.
    let future = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    post_expect(&app, &admin, "/api/v2/admin/pricing", json!({
        "courseId": course, "priceType": "one-time", "currency": "USD", "basePrice": 9900, "effectiveFrom": future
    }), StatusCode::CREATED)
    .await;
    let d = get_ok(&app, &format!("/api/v2/catalog/courses/{course}")).await;
    assert_eq!(d["price"]["basePrice"], 3900);

    // Deactivating keeps the row; the course then has no current price.
    let sid = second["id"].as_str().unwrap();
    let b = send_expect(
        app.client
            .delete(app.url(&format!("/api/v2/admin/pricing/{sid}")))
            .bearer_auth(&admin),
        StatusCode::OK,
    )
    .await;
    assert_eq!(b["isActive"], false);
    let d = get_ok(&app, &format!("/api/v2/catalog/courses/{course}")).await;
    assert!(d["price"].is_null(), "{d}");
    let inactive = get_as_ok(
        &app,
        &admin,
        &format!("/api/v2/admin/pricing?courseId={course}&active=false"),
    )
    .await;
    assert_eq!(items(&inactive).len(), 1);
    let cat = env.schema("catalog").await;
    assert_eq!(count(&cat, "SELECT count(*) FROM prices").await, 3);
    // The database itself refuses to delete price history.
    let del = sea_orm::ConnectionTrait::execute_unprepared(&cat, "DELETE FROM prices").await;
    assert!(del.is_err());
    let r = app
        .client
        .delete(app.url(&format!("/api/v2/admin/pricing/{}", uuid::Uuid::now_v7())))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    app.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_and_departments_are_enforced_and_refusals_write_nothing() {
    let env = TestEnv::new().await;
    let app = platform(&env).await;
    let learner = env.token("learner-1", &["learner"], &[]);
    let cs_admin = env.token("dept-1", &["dept-admin"], &["cs"]);
    let cat = env.schema("catalog").await;

    let r = app
        .client
        .post(app.url("/api/v2/admin/catalog/courses"))
        .json(&course_body("x", "X", "cs"))
        .send()
        .await
        .unwrap();
    let (s, b) = body(r).await;
    assert_problem(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let r = app
        .client
        .get(app.url("/api/v2/admin/pricing"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let (s, b) = post(
        &app,
        &learner,
        "/api/v2/admin/catalog/courses",
        course_body("x", "X", "cs"),
    )
    .await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = post(
        &app,
        &cs_admin,
        "/api/v2/admin/catalog/courses",
        course_body("x", "X", "math"),
    )
    .await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(count(&cat, "SELECT count(*) FROM courses").await, 0);
    assert_eq!(count(&cat, "SELECT count(*) FROM outbox").await, 0);

    // Within its department a dept-admin manages courses and prices.
    let (course, price) = course_with_price(&app, &cs_admin, "lms-cs", "cs", 100).await;
    // ... but cannot move them to another department, nor touch another department's prices.
    let billing = env.token("b", &["billing-admin"], &[]);
    let (math_course, math_price) =
        course_with_price(&app, &billing, "lms-math", "math", 100).await;
    let (s, _) = put(
        &app,
        &cs_admin,
        &format!("/api/v2/admin/catalog/courses/{course}"),
        course_body("lms-cs", "Moved", "math"),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = post(
        &app,
        &cs_admin,
        "/api/v2/admin/pricing",
        json!({
            "courseId": math_course, "priceType": "one-time", "currency": "USD", "basePrice": 1
        }),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let r = app
        .client
        .delete(app.url(&format!("/api/v2/admin/pricing/{math_price}")))
        .bearer_auth(&cs_admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let list = get_as_ok(&app, &cs_admin, "/api/v2/admin/pricing").await;
    let listed: Vec<&str> = items(&list)
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        vec![price.as_str()],
        "a dept-admin sees only its departments"
    );
    let (s, _) = get_as(&app, &learner, "/api/v2/admin/pricing").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = put(
        &app,
        &cs_admin,
        "/api/v2/admin/catalog/exchange-rates/EUR",
        json!({"rate": 0.9}),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "exchange rates are for billing-admins"
    );
    assert_eq!(count(&cat, "SELECT count(*) FROM prices").await, 2);
    assert_eq!(
        count(
            &cat,
            "SELECT count(*) FROM courses WHERE department_id = 'math'"
        )
        .await,
        1
    );
    app.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_problem_and_changes_nothing() {
    let env = TestEnv::new().await;
    let app = platform(&env).await;
    let admin = env.token("admin-1", &["billing-admin"], &[]);
    let (course, _) = course_with_price(&app, &admin, "lms-ok", "cs", 100).await;
    let cat = env.schema("catalog").await;
    let before = (
        count(&cat, "SELECT count(*) FROM courses").await,
        count(&cat, "SELECT count(*) FROM prices").await,
        count(&cat, "SELECT count(*) FROM outbox").await,
    );

    // Malformed JSON and wrong types: 400 naming the field.
    let r = app
        .client
        .post(app.url("/api/v2/admin/pricing"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (s, b) = body(r).await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_body");
    let (s, b) = post(
        &app,
        &admin,
        "/api/v2/admin/pricing",
        json!({
            "courseId": course, "priceType": "one-time", "currency": "USD", "basePrice": "cheap"
        }),
    )
    .await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_body");
    assert_eq!(b["field"], "basePrice");
    let (s, b) = post(
        &app,
        &admin,
        "/api/v2/admin/catalog/courses",
        json!({"title": "no ids"}),
    )
    .await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_body");
    assert_eq!(b["field"], "lmsCourseId");

    // Broken rules: 422.
    let price = |extra: serde_json::Value| {
        let mut p = json!({"courseId": course, "priceType": "one-time", "currency": "USD", "basePrice": 100});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        p
    };
    for (payload, code) in [
        (price(json!({"basePrice": -5})), "negative_price"),
        (price(json!({"currency": "XYZ"})), "unknown_currency"),
        (
            price(
                json!({"effectiveFrom": "2027-01-02T00:00:00Z", "effectiveUntil": "2027-01-01T00:00:00Z"}),
            ),
            "invalid_window",
        ),
        (
            price(json!({"courseId": uuid::Uuid::now_v7()})),
            "unknown_course",
        ),
        (price(json!({"priceType": "free"})), "invalid_price"),
    ] {
        let (s, b) = post(&app, &admin, "/api/v2/admin/pricing", payload).await;
        assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, code);
    }
    let mut shares = course_body("lms-s", "Shares", "cs");
    shares["revenueSplit"] = json!({"platform": 0.3, "creator": 0.3, "instructor": 0.3});
    let (s, b) = post(&app, &admin, "/api/v2/admin/catalog/courses", shares).await;
    assert_problem(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_revenue_split",
    );
    let mut window = course_body("lms-w", "Window", "cs");
    window["availableFrom"] = json!("2027-01-02T00:00:00Z");
    window["availableUntil"] = json!("2026-01-01T00:00:00Z");
    let (s, b) = post(&app, &admin, "/api/v2/admin/catalog/courses", window).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_window");
    let (s, b) = post(
        &app,
        &admin,
        "/api/v2/admin/catalog/courses",
        course_body("lms-ok", "Dup", "cs"),
    )
    .await;
    assert_problem(s, &b, StatusCode::CONFLICT, "duplicate_lms_course_id");

    // Unknown ids: 404. Oversized bodies: 413.
    let (s, b) = get(
        &app,
        &format!("/api/v2/catalog/courses/{}", uuid::Uuid::now_v7()),
    )
    .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, _) = get(&app, "/api/v2/catalog/courses/not-a-uuid").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = put(
        &app,
        &admin,
        &format!("/api/v2/admin/catalog/courses/{}", uuid::Uuid::now_v7()),
        course_body("z", "Z", "cs"),
    )
    .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND, "not_found");
    let mut huge = course_body("lms-big", "Big", "cs");
    huge["description"] = json!("x".repeat(400_000));
    let (s, b) = post(&app, &admin, "/api/v2/admin/catalog/courses", huge).await;
    assert_problem(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let (s, b) = get(&app, "/api/v2/catalog/courses?limit=1000").await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_query");

    let after = (
        count(&cat, "SELECT count(*) FROM courses").await,
        count(&cat, "SELECT count(*) FROM prices").await,
        count(&cat, "SELECT count(*) FROM outbox").await,
    );
    assert_eq!(before, after, "refused requests wrote nothing");
    app.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_replays_refuses_reuse_and_serialises_concurrent_duplicates() {
    let env = TestEnv::new().await;
    let app = platform(&env).await;
    let admin = env.token("admin-1", &["billing-admin"], &[]);
    let (course, _) = course_with_price(&app, &admin, "lms-i", "cs", 100).await;
    let cat = env.schema("catalog").await;
    let payload =
        json!({"courseId": course, "priceType": "one-time", "currency": "USD", "basePrice": 250});
    let send = |key: &'static str, p: serde_json::Value| {
        app.client
            .post(app.url("/api/v2/admin/pricing"))
            .bearer_auth(&admin)
            .header("Idempotency-Key", key)
            .json(&p)
            .send()
    };

    let (s1, b1) = body(send("key-1", payload.clone()).await.unwrap()).await;
    assert_eq!(s1, StatusCode::CREATED, "{b1}");
    let r2 = send("key-1", payload.clone()).await.unwrap();
    assert_eq!(r2.headers()["idempotent-replayed"], "true");
    let (s2, b2) = body(r2).await;
    assert_eq!(
        (s2, &b2),
        (StatusCode::CREATED, &b1),
        "same key + same body → the stored response"
    );
    let mut other = payload.clone();
    other["basePrice"] = json!(999);
    let (s, b) = body(send("key-1", other).await.unwrap()).await;
    assert_problem(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    );
    // Keys are scoped to the caller: another admin's identical key is a new request.
    let other_admin = env.token("admin-2", &["billing-admin"], &[]);
    let r = app
        .client
        .post(app.url("/api/v2/admin/pricing"))
        .bearer_auth(&other_admin)
        .header("Idempotency-Key", "key-1")
        .json(&payload)
        .send()
        .await
        .unwrap();
    let (s, b) = body(r).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_ne!(b["id"], b1["id"]);
    assert_eq!(
        count(&cat, "SELECT count(*) FROM prices WHERE amount_minor = 250").await,
        2
    );

    // 20 concurrent requests with one key: exactly one effect; the rest replay it or get 409.
    let futures = (0..20).map(|_| send("key-2", payload.clone()));
    let results = futures_util::future::join_all(futures).await;
    let mut created = std::collections::HashSet::new();
    for r in results {
        let (s, b) = body(r.unwrap()).await;
        match s {
            StatusCode::CREATED => {
                created.insert(b["id"].as_str().unwrap().to_string());
            }
            StatusCode::CONFLICT => assert_eq!(b["code"], "idempotency_key_in_use"),
            other => panic!("unexpected {other}: {b}"),
        }
    }
    assert_eq!(created.len(), 1, "every success is the same price");
    assert_eq!(
        count(&cat, "SELECT count(*) FROM prices WHERE amount_minor = 250").await,
        3
    );
    let (s, _) = body(
        app.client
            .post(app.url("/api/v2/admin/pricing"))
            .bearer_auth(&admin)
            .header("Idempotency-Key", "bad key")
            .json(&payload)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    app.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_makes_readyz_and_writes_503_without_partial_effects() {
    let env = TestEnv::new().await;
    let cable = Cable::to("127.0.0.1:5432").await;
    let via_cable = env
        .db_url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", cable.port));
    let settings = env.settings(&[
        ("database.url", via_cable),
        ("database.connect_timeout_secs", "1".into()),
    ]);
    let app = TestApp::spawn(settings, &commerce::registry(), &["gateway", "catalog"]).await;
    let admin = env.token("admin-1", &["billing-admin"], &[]);
    let (course, _) = course_with_price(&app, &admin, "lms-pg", "cs", 100).await;
    get_ok(&app, "/readyz").await;

    cable.cut();
    let (s, b) = get(&app, "/readyz").await;
    assert_problem(s, &b, StatusCode::SERVICE_UNAVAILABLE, "not_ready");
    let (s, b) = post(
        &app,
        &admin,
        "/api/v2/admin/pricing",
        json!({
            "courseId": course, "priceType": "one-time", "currency": "USD", "basePrice": 777
        }),
    )
    .await;
    assert_problem(
        s,
        &b,
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
    );

    cable.restore();
    eventually(WAIT, "readyz back to 200", || async {
        (get(&app, "/readyz").await.0 == StatusCode::OK).then_some(())
    })
    .await;
    let cat = env.schema("catalog").await;
    assert_eq!(
        count(&cat, "SELECT count(*) FROM prices WHERE amount_minor = 777").await,
        0
    );
    assert_eq!(
        count(&cat, "SELECT count(*) FROM outbox").await,
        2,
        "no event for the refused write"
    );
    app.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_trace_continues_into_its_events() {
    let env = TestEnv::new().await;
    let app = platform(&env).await;
    let admin = env.token("admin-1", &["billing-admin"], &[]);
    let (course, _) = course_with_price(&app, &admin, "lms-t", "cs", 100).await;
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let r = app
        .client
        .post(app.url("/api/v2/admin/pricing"))
        .bearer_auth(&admin)
        .header("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01"))
        .json(&json!({"courseId": course, "priceType": "one-time", "currency": "USD", "basePrice": 4242}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    // The outbox row and the published message carry the caller's trace.
    let client = async_nats::connect(testkit::NATS_URL).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let subject = format!("{}{}", env.subject_prefix, events::subjects::PRICE_CREATED);
    let header = eventually(WAIT, "the price event published", || {
        let js = js.clone();
        let subject = subject.clone();
        let stream = format!("COMMERCE{}", env.stream_suffix);
        async move {
            let s = js.get_stream(stream).await.ok()?;
            let m = s.get_last_raw_message_by_subject(&subject).await.ok()?;
            let amount =
                <events::commerce::v1::PriceChanged as prost::Message>::decode(m.payload.as_ref())
                    .ok()?
                    .amount_minor;
            (amount == 4242)
                .then(|| m.headers.get("traceparent").map(|v| v.as_str().to_string()))?
        }
    })
    .await;
    assert_eq!(header.split('-').nth(1), Some(trace_id), "{header}");
    app.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_idempotency_keys_are_pruned_at_start() {
    let env = TestEnv::new().await;
    let app = platform(&env).await;
    let cat = env.schema("catalog").await;
    sea_orm::ConnectionTrait::execute_unprepared(
        &cat,
        "INSERT INTO idempotency_keys (caller, key, fingerprint, state, created_at) VALUES
             ('u', 'old', 'f', 'completed', now() - interval '3 days'),
             ('u', 'new', 'f', 'completed', now())",
    )
    .await
    .unwrap();
    app.stop().await;
    // The next start of the service runs its upkeep at once.
    let app = platform(&env).await;
    eventually(WAIT, "the old key pruned", || {
        let cat = cat.clone();
        async move {
            (count(
                &cat,
                "SELECT count(*) FROM idempotency_keys WHERE key = 'old'",
            )
            .await
                == 0)
                .then_some(())
        }
    })
    .await;
    assert_eq!(
        count(
            &cat,
            "SELECT count(*) FROM idempotency_keys WHERE key = 'new'"
        )
        .await,
        1
    );
    app.stop().await;
    env.cleanup().await;
}

/// `GET` with an optional `If-None-Match`: the status, the ETag and Cache-Control, the body.
async fn conditional_get(
    app: &TestApp,
    path: &str,
    etag: Option<&str>,
) -> (StatusCode, String, String, serde_json::Value) {
    let mut req = app.client.get(app.url(path));
    if let Some(tag) = etag {
        req = req.header("If-None-Match", tag);
    }
    let r = req.send().await.unwrap();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (etag, cache) = (header("etag"), header("cache-control"));
    let (status, body) = body(r).await;
    (status, etag, cache, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_reads_carry_etags_and_a_price_change_reaches_every_instance_within_a_second() {
    let env = TestEnv::new().await;
    let app = platform(&env).await;
    // A second catalog instance on the same database and bus (another pod of it).
    let other = TestApp::spawn(env.settings(&[]), &commerce::registry(), &["catalog"]).await;
    let admin = env.token("admin-1", &["billing-admin"], &[]);
    let (course, _) = course_with_price(&app, &admin, "lms-etag", "cs", 4900).await;
    let detail = format!("/api/v2/catalog/courses/{course}");

    let (s, etag, cache, d) = conditional_get(&app, &detail, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["price"]["basePrice"], 4900);
    assert_eq!(cache, "public, max-age=1", "a CDN may keep it for a second");
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    let (s, again, _, empty) = conditional_get(&app, &detail, Some(&etag)).await;
    assert_eq!(s, StatusCode::NOT_MODIFIED);
    assert_eq!(again, etag);
    assert!(empty.is_null(), "no body with a 304");
    let (s, _, _, list) = conditional_get(&app, "/api/v2/catalog/courses", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(items(&list).iter().any(|c| c["id"] == course.as_str()));
    let (_, other_etag, _, d) = conditional_get(&other, &detail, None).await;
    assert_eq!(d["price"]["basePrice"], 4900);
    assert_eq!(other_etag, etag, "the same answer, the same ETag");

    // A new price: this instance shows it at once, the other within a second.
    post_expect(
        &app,
        &admin,
        "/api/v2/admin/pricing",
        json!({"courseId": course, "priceType": "one-time", "currency": "USD", "basePrice": 3900}),
        StatusCode::CREATED,
    )
    .await;
    let changed_at = std::time::Instant::now();
    let (s, fresh, _, d) = conditional_get(&app, &detail, Some(&etag)).await;
    assert_eq!(s, StatusCode::OK, "the old ETag no longer matches");
    assert_ne!(fresh, etag);
    assert_eq!(d["price"]["basePrice"], 3900);
    eventually(WAIT, "the other instance shows the new price", || async {
        let (_, _, _, d) = conditional_get(&other, &detail, None).await;
        (d["price"]["basePrice"] == 3900).then_some(())
    })
    .await;
    assert!(
        changed_at.elapsed() < std::time::Duration::from_secs(1),
        "visible everywhere within the 1 s bound after the commit: {:?}",
        changed_at.elapsed()
    );
    other.stop().await;
    app.stop().await;
    env.cleanup().await;
}
