//! The revenue ledger (payout service): one exact entry per paid course line, reversals for
//! refunds, signed webhooks to the (fake) Payout Platform exactly once, the reports of CAT-009
//! and the CSV export through the gateway, and who may read them.

use crate::helpers::shop::*;
use crate::helpers::*;
use crate::refunds::{paid_order, refund};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use testkit::eventually;

fn pg(sql: &str) -> Statement {
    Statement::from_string(sea_orm::DatabaseBackend::Postgres, sql)
}

/// Waits until the fake Payout Platform has accepted `n` webhooks of `kind`.
async fn webhooks(shop: &Shop, kind: &str, n: usize) -> Vec<Value> {
    eventually(WAIT, &format!("{n} {kind} webhooks"), || async {
        let got: Vec<Value> = shop
            .payout
            .received()
            .into_iter()
            .filter(|r| r.kind == kind)
            .map(|r| r.body)
            .collect();
        (got.len() >= n).then_some(got)
    })
    .await
}

/// Σ of each party's amounts over the whole ledger, in the order currency.
async fn party_sums(db: &DatabaseConnection) -> Vec<i64> {
    let r = db
        .query_one_raw(pg(
            "SELECT sum(gross_minor)::bigint AS g, sum(fee_minor)::bigint AS f, sum(net_minor)::bigint AS n,
                 sum(platform_minor)::bigint AS p, sum(creator_minor)::bigint AS c,
                 sum(instructor_minor)::bigint AS i FROM ledger_entries",
        ))
        .await
        .unwrap()
        .unwrap();
    ["g", "f", "n", "p", "c", "i"]
        .iter()
        .map(|c| r.try_get::<i64>("", c).unwrap())
        .collect()
}

async fn clean(db: &DatabaseConnection) {
    let (orders, violations) = payout::verify::verify(db).await.unwrap();
    assert!(orders > 0);
    assert!(violations.is_empty(), "{violations:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_course_is_recorded_to_the_cent_synced_once_and_reported() {
    let shop = Shop::open(&[]).await;
    let learner = shop.learner("learner-rev");
    // 10.01 USD; the sandbox fee is 2.9 % + 0.30 → 0.59; net 9.42 split 30/40/30.
    let (oid, _) = paid_order(&shop, &learner, 1001).await;
    let hooks = webhooks(&shop, "revenue-recorded", 1).await;
    let p = &hooks[0]["payload"];
    assert_eq!(hooks[0]["source"], "commerce-platform");
    assert_eq!(hooks[0]["event"], "payment.completed");
    assert_eq!(p["orderId"], oid.as_str());
    assert_eq!(p["courseId"], "lms-r");
    assert_eq!(p["learnerId"], "learner-rev");
    assert_eq!(p["contentCreatorId"], "creator-1");
    assert_eq!(p["instructorId"], "instructor-1");
    assert_eq!(
        (
            &p["grossAmount"],
            &p["processorFee"],
            &p["netAmount"],
            &p["currency"]
        ),
        (&json!(1001), &json!(59), &json!(942), &json!("USD"))
    );
    assert!(p["transactionId"].as_str().unwrap().starts_with("ch_"));
    assert_eq!(shop.payout.bad_signatures(), 0);

    let db = shop.env.schema("payout").await;
    assert_eq!(party_sums(&db).await, vec![1001, 59, 942, 283, 377, 282]);
    clean(&db).await;
    // Append-only: the database itself refuses a change or a removal.
    for sql in [
        "UPDATE ledger_entries SET gross_minor = 0",
        "UPDATE ledger_entries SET course_name = 'x'",
        "DELETE FROM ledger_entries",
    ] {
        let err = db.execute_raw(pg(sql)).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(party_sums(&db).await, vec![1001, 59, 942, 283, 377, 282]);

    // The reports, once the LMS enrolled the learner.
    shop.registrations_all(&learner, 1, "enrolled").await;
    let course = shop.registrations(&learner).await[0]["courseId"]
        .as_str()
        .unwrap()
        .to_string();
    let report = eventually(WAIT, "the enrollment counted", || async {
        let r = get_as_ok(
            &shop.app,
            &shop.admin,
            &format!("/api/v1/revenue/by-course/{course}"),
        )
        .await;
        (r["totals"]["enrollments"] == 1).then_some(r)
    })
    .await;
    assert_eq!(report["courseName"], "Course lms-r");
    assert_eq!(report["currency"], "USD");
    assert_eq!(report["totals"]["grossRevenue"], 1001);
    assert_eq!(report["totals"]["netRevenue"], 942);
    assert_eq!(report["totals"]["completionRate"], Value::Null);
    let months = report["byMonth"].as_array().unwrap();
    assert_eq!(months.len(), 12);
    let this_month = chrono::Utc::now().format("%Y-%m").to_string();
    let last = &months[11];
    assert_eq!(
        (&last["month"], &last["grossRevenue"], &last["enrollments"]),
        (&json!(this_month), &json!(1001), &json!(1))
    );
    assert_eq!(months[0]["grossRevenue"], 0);

    let creator = get_as_ok(
        &shop.app,
        &shop.admin,
        "/api/v1/revenue/by-creator/creator-1",
    )
    .await;
    assert_eq!(creator["creatorId"], "creator-1");
    assert_eq!(
        creator["totals"],
        json!({"totalRevenue": 1001, "creatorShare": 377, "courseCount": 1, "totalEnrollments": 1})
    );
    assert_eq!(creator["byCourse"][0]["revenue"], 1001);
    let instructor = get_as_ok(
        &shop.app,
        &shop.admin,
        "/api/v1/revenue/by-instructor/instructor-1",
    )
    .await;
    assert_eq!(
        instructor["totals"],
        json!({"totalRevenue": 1001, "instructorShare": 282, "activeLearners": 1, "completedLearners": null})
    );
    assert_eq!(instructor["byCourse"][0]["learnerCount"], 1);
    // A period without the purchase reports zeros, never a default period.
    let old = get_as_ok(
        &shop.app,
        &shop.admin,
        &format!("/api/v1/revenue/by-course/{course}?start=2020-01-01&end=2020-03-01"),
    )
    .await;
    assert_eq!(old["totals"]["grossRevenue"], 0);
    assert_eq!(old["byMonth"].as_array().unwrap().len(), 2);
    let (s, b) = get_as(
        &shop.app,
        &shop.admin,
        &format!("/api/v1/revenue/by-course/{course}?start=someday"),
    )
    .await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_query");

    // The export: a header and one row per entry, synced once the Payout Platform answered.
    let csv = eventually(WAIT, "the entry synced", || async {
        let r = shop
            .app
            .client
            .get(shop.app.url("/api/v1/revenue/export.csv"))
            .bearer_auth(&shop.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let text = r.text().await.unwrap();
        text.contains("synced-to-payout").then_some(text)
    })
    .await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("entry_id,kind,"));
    assert!(lines[1].contains(",revenue,"));
    assert!(
        lines[1].contains(",1001,59,942,283,3000,377,4000,282,3000,USD,"),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains(&hooks_entry_id(&shop)), "{}", lines[1]);
    shop.close().await;
}

fn hooks_entry_id(shop: &Shop) -> String {
    shop.payout.received()[0].ledger_entry_id.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_and_redelivered_orders_make_one_webhook_per_line() {
    let shop = Shop::open(&[]).await;
    let learner = shop.learner("learner-retry");
    // The Payout Platform answers 500 twice, then 200.
    shop.payout.fail_next(2);
    let (_, _) = paid_order(&shop, &learner, 2500).await;
    webhooks(&shop, "revenue-recorded", 1).await;
    assert!(shop.payout.requests() >= 3, "{}", shop.payout.requests());
    // Every order event published again: the ledger and the Payout Platform see nothing new.
    let cart = shop.env.schema("cart_order").await;
    let n = bus::outbox::replay(&cart, 0, i64::MAX).await.unwrap();
    assert!(n > 0);
    shop.settled().await;
    let db = shop.env.schema("payout").await;
    assert_eq!(count(&db, "SELECT count(*) FROM ledger_entries").await, 1);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM deliveries WHERE status = 'delivered' AND attempts = 3"
        )
        .await,
        1
    );
    assert_eq!(shop.payout.received().len(), 1);
    clean(&db).await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_after_sync_reverse_exactly_and_a_full_refund_nets_every_party_to_zero() {
    let shop = Shop::open(&[]).await;
    let learner = shop.learner("learner-refund");
    let (_, pid) = paid_order(&shop, &learner, 1001).await;
    webhooks(&shop, "revenue-recorded", 1).await;
    let db = shop.env.schema("payout").await;
    eventually(WAIT, "the entry synced", || async {
        (count(
            &db,
            "SELECT count(*) FROM deliveries WHERE status = 'delivered'",
        )
        .await
            == 1)
            .then_some(())
    })
    .await;

    let (s, r) = refund(
        &shop,
        &pid,
        json!({"amount": 400, "reason": "partial"}),
        "r1",
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let first = webhooks(&shop, "refund-issued", 1).await;
    let p = &first[0]["payload"];
    assert_eq!(first[0]["event"], "refund.issued");
    assert_eq!(
        (&p["refundAmount"], &p["fullRefund"]),
        (&json!(400), &json!(false))
    );
    assert_eq!(p["reason"], "partial");
    shop.settled().await;
    assert_eq!(
        shop.payout
            .received()
            .iter()
            .filter(|r| r.kind == "refund-issued")
            .count(),
        1
    );
    // 400 of 1001 back: the fee in proportion (59 × 400/1001 = 23.58 → 24), the net 376 split
    // over what each party had.
    let sums = party_sums(&db).await;
    assert_eq!(sums[0], 601);
    assert_eq!(sums[1], 35);
    assert_eq!(sums[2], 566);
    assert_eq!(sums[3] + sums[4] + sums[5], 566);
    clean(&db).await;

    let (s, r) = refund(
        &shop,
        &pid,
        json!({"amount": 601, "reason": "the rest"}),
        "r2",
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let both = webhooks(&shop, "refund-issued", 2).await;
    assert_eq!(both[1]["payload"]["refundAmount"], 601);
    assert_eq!(both[1]["payload"]["fullRefund"], true);
    shop.settled().await;
    assert_eq!(shop.payout.received().len(), 3);
    assert_eq!(party_sums(&db).await, vec![0; 6]);
    clean(&db).await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_for_admins_their_departments_and_the_people_they_are_about() {
    let shop = Shop::open(&[]).await;
    let learner = shop.learner("learner-scope");
    paid_order(&shop, &learner, 1500).await;
    webhooks(&shop, "revenue-recorded", 1).await;
    let course = eventually(WAIT, "the registration", || async {
        shop.registrations(&learner)
            .await
            .first()
            .and_then(|r| r["courseId"].as_str().map(str::to_string))
    })
    .await;
    let by_course = format!("/api/v1/revenue/by-course/{course}");
    let math = shop.env.token("dept-math", &["dept-admin"], &["math"]);
    let cs = shop.env.token("dept-cs", &["dept-admin"], &["cs"]);
    let creator = shop.env.token("creator-1", &["learner"], &[]);
    let other = shop.env.token("creator-2", &["learner"], &[]);

    let (s, b) = get_as(&shop.app, &learner, &by_course).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = get_as(&shop.app, &math, &by_course).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let r = get_as_ok(&shop.app, &cs, &by_course).await;
    assert_eq!(r["totals"]["grossRevenue"], 1500);
    // A dept-admin sees a creator's courses in their departments only.
    let r = get_as_ok(&shop.app, &math, "/api/v1/revenue/by-creator/creator-1").await;
    assert_eq!(r["totals"]["totalRevenue"], 0);
    let r = get_as_ok(&shop.app, &cs, "/api/v1/revenue/by-creator/creator-1").await;
    assert_eq!(r["totals"]["totalRevenue"], 1500);
    // The creator reads their own report, nobody else's.
    let r = get_as_ok(&shop.app, &creator, "/api/v1/revenue/by-creator/creator-1").await;
    // 15.00 USD: fee 43.5 → 44 (half to even) + 30 = 74; net 1426 × 40 % = 570.4 → 570.
    assert_eq!(r["totals"]["creatorShare"], 570);
    let (s, b) = get_as(&shop.app, &other, "/api/v1/revenue/by-creator/creator-1").await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = get_as(
        &shop.app,
        &creator,
        "/api/v1/revenue/by-instructor/instructor-1",
    )
    .await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = get_as(&shop.app, &creator, &by_course).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    // Unknown to the ledger: 404 for an admin.
    let (s, b) = get_as(
        &shop.app,
        &shop.admin,
        &format!("/api/v1/revenue/by-course/{}", uuid::Uuid::now_v7()),
    )
    .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = get_as(&shop.app, &shop.admin, "/api/v1/revenue/by-creator/nobody").await;
    assert_problem(s, &b, StatusCode::NOT_FOUND, "not_found");
    // The export is for billing-admins.
    let (s, b) = get_as(&shop.app, &cs, "/api/v1/revenue/export.csv").await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, _) = get(&shop.app, "/api/v1/revenue/export.csv").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, b) = get_as(&shop.app, &cs, "/api/v1/revenue/deliveries").await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dept_admin_sees_the_sales_of_a_course_made_in_their_departments() {
    let shop = Shop::open(&[]).await;
    // A math course, sold alone and inside a cs program.
    let (course, _) = course_with_price(&shop.app, &shop.admin, "lms-m", "math", 1000).await;
    let program = shop.program(&[course.as_str()], 2000).await;
    let alone = shop.learner("learner-alone");
    shop.add(&alone, "course", &course).await;
    let o = shop.checkout(&alone).await;
    shop.pay(&alone, o["id"].as_str().unwrap(), "pm_card_visa")
        .await;
    let bundled = shop.learner("learner-bundle");
    shop.add(&bundled, "program", &program).await;
    let o = shop.checkout(&bundled).await;
    shop.pay(&bundled, o["id"].as_str().unwrap(), "pm_card_visa")
        .await;
    webhooks(&shop, "revenue-recorded", 2).await;
    let path = format!("/api/v1/revenue/by-course/{course}");
    let all = get_as_ok(&shop.app, &shop.admin, &path).await;
    assert_eq!(all["totals"]["grossRevenue"], 3000);
    let math = shop.env.token("dept-math", &["dept-admin"], &["math"]);
    let r = get_as_ok(&shop.app, &math, &path).await;
    assert_eq!(r["totals"]["grossRevenue"], 1000);
    assert_eq!(r["byMonth"][11]["grossRevenue"], 1000);
    let cs = shop.env.token("dept-cs", &["dept-admin"], &["cs"]);
    let r = get_as_ok(&shop.app, &cs, &path).await;
    assert_eq!(r["totals"]["grossRevenue"], 2000);
    let art = shop.env.token("dept-art", &["dept-admin"], &["art"]);
    let (s, b) = get_as(&shop.app, &art, &path).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    clean(&shop.env.schema("payout").await).await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revenue_routes_are_documented_and_refuse_the_wrong_role_before_reading_input() {
    let shop = Shop::open(&[]).await;
    let doc = get_ok(&shop.app, "/api/openapi.json").await;
    for (path, method, statuses) in [
        (
            "/api/v1/revenue/by-course/{courseId}",
            "get",
            &["200", "400", "401", "403", "404"][..],
        ),
        (
            "/api/v1/revenue/by-creator/{creatorId}",
            "get",
            &["200", "400", "401", "403", "404"],
        ),
        (
            "/api/v1/revenue/by-instructor/{instructorId}",
            "get",
            &["200", "400", "401", "403", "404"],
        ),
        (
            "/api/v1/revenue/export.csv",
            "get",
            &["200", "400", "401", "403"],
        ),
        ("/api/v1/revenue/deliveries", "get", &["200", "401", "403"]),
        (
            "/api/v1/revenue/deliveries/{entryId}/redrive",
            "post",
            &["202", "401", "403", "404", "409"],
        ),
    ] {
        let op = &doc["paths"][path][method];
        assert!(
            op.is_object(),
            "{method} {path} missing from the merged document"
        );
        for s in statuses {
            assert!(
                op["responses"][s].is_object(),
                "{method} {path} does not document {s}"
            );
        }
    }
    let params = doc["paths"]["/api/v1/revenue/by-course/{courseId}"]["get"]["parameters"]
        .as_array()
        .unwrap();
    for name in ["courseId", "start", "end"] {
        assert!(params.iter().any(|p| p["name"] == name), "parameter {name}");
    }

    // A learner is refused whatever the input: 403, never 400 or 404.
    let learner = shop.learner("learner-nosy");
    let bad = "?start=garbage&end=worse";
    for path in [
        format!("/api/v1/revenue/by-course/not-a-uuid{bad}"),
        format!("/api/v1/revenue/export.csv{bad}"),
        format!("/api/v1/revenue/by-creator/someone-else{bad}"),
        "/api/v1/revenue/deliveries".to_string(),
    ] {
        let (s, b) = get_as(&shop.app, &learner, &path).await;
        assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    }
    let (s, b) = post(
        &shop.app,
        &learner,
        "/api/v1/revenue/deliveries/not-a-uuid/redrive",
        json!({"anything": [1, 2, 3]}),
    )
    .await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    shop.close().await;
}
