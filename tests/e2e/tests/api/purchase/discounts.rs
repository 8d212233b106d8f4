//! Discount codes (CAT-004, CART-004): admins manage them, learners apply them to the lines they
//! cover, checkout reserves a use that completion consumes and failure releases, and the limits
//! hold when many learners check out at once.

use crate::helpers::shop::*;
use crate::helpers::*;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn apply(shop: &Shop, token: &str, code: &str) -> (StatusCode, Value) {
    post(
        &shop.app,
        token,
        "/api/v2/cart/discount",
        json!({ "code": code }),
    )
    .await
}

async fn admin_view(shop: &Shop, id: &Value) -> Value {
    get_as_ok(
        &shop.app,
        &shop.admin,
        &format!("/api/v2/admin/discounts/{}", id.as_str().unwrap()),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_takes_off_the_lines_it_covers_and_the_charge_and_order_carry_it() {
    let shop = Shop::open(&[]).await;
    let basket = Basket::stock(&shop).await;
    let learner = shop.learner("learner-1");
    let c = shop
        .discount_code(
            "Courses15",
            json!({"discountValue": 15, "applicableTo": "courses"}),
        )
        .await;
    assert_eq!(
        (c["usedCount"].as_i64(), c["isActive"].as_bool()),
        (Some(0), Some(true))
    );
    shop.add(&learner, "course", &basket.a).await;
    shop.add(&learner, "program", &basket.p).await;

    // Case does not matter; only the course line is covered: 15 % of 49.00.
    let (s, cart) = apply(&shop, &learner, "courses15").await;
    assert_eq!(s, StatusCode::OK, "{cart}");
    assert_eq!(cart["discountCode"], "Courses15");
    assert_eq!(cart["discountAmount"], 735);
    assert_eq!(cart["items"][0]["discount"], 735);
    assert_eq!(cart["items"][1]["discount"], 0);
    assert_eq!(cart["total"], 15_900 - 735);
    assert!(cart["discountProblem"].is_null(), "{cart}");
    let again = get_as_ok(&shop.app, &learner, "/api/v2/cart").await;
    assert_eq!(again["total"], cart["total"], "the cart keeps showing it");

    let order = shop.checkout(&learner).await;
    assert_eq!(order["discountCode"], "Courses15");
    assert_eq!(
        (
            &order["subtotal"],
            &order["discountAmount"],
            &order["total"]
        ),
        (&json!(15_900), &json!(735), &json!(15_165))
    );
    assert_eq!(order["items"][0]["discount"], 735);
    assert_eq!(order["settlementAmount"], 15_165);
    assert_eq!(admin_view(&shop, &c["id"]).await["reservedCount"], 1);

    let oid = order["id"].as_str().unwrap();
    let paid = shop.pay(&learner, oid, "pm_card_visa").await;
    assert_eq!(
        paid["amount"], 15_165,
        "the charge is the figure the cart showed"
    );
    shop.order_status(&learner, oid, "completed").await;
    let after = testkit::eventually(WAIT, "the use consumed", || async {
        let v = admin_view(&shop, &c["id"]).await;
        (v["usedCount"] == 1).then_some(v)
    })
    .await;
    assert_eq!(after["reservedCount"], 0);
    shop.registrations_all(&learner, 3, "enrolled").await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_code_makes_a_free_order_that_completes_without_a_payment() {
    let shop = Shop::open(&[]).await;
    let a = shop.course("lms-a", 4900, false).await;
    let learner = shop.learner("learner-1");
    let c = shop
        .discount_code("FREE100", json!({"discountValue": 100}))
        .await;
    shop.add(&learner, "course", &a).await;
    let (s, cart) = apply(&shop, &learner, "FREE100").await;
    assert_eq!((s, &cart["total"]), (StatusCode::OK, &json!(0)), "{cart}");
    let order = shop.checkout(&learner).await;
    assert_eq!(order["status"], "completed");
    assert_eq!(
        (&order["total"], &order["discountAmount"]),
        (&json!(0), &json!(4900))
    );
    assert_eq!(admin_view(&shop, &c["id"]).await["usedCount"], 1);
    shop.registrations_all(&learner, 1, "enrolled").await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_codes_name_their_reason_and_change_nothing() {
    let shop = Shop::open(&[]).await;
    let basket = Basket::stock(&shop).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &basket.a).await;
    let now = chrono::Utc::now();
    let day = chrono::Duration::days(1);
    shop.discount_code(
        "OLD",
        json!({"validFrom": now - day * 10, "validUntil": now - day}),
    )
    .await;
    shop.discount_code("SOON", json!({"validFrom": now + day}))
        .await;
    shop.discount_code("BIG", json!({"minPurchase": 10_000, "currency": "USD"}))
        .await;
    shop.discount_code("PROGS", json!({"applicableTo": "programs"}))
        .await;
    shop.discount_code("OFF", json!({"isActive": false})).await;
    shop.discount_code(
        "EUROS",
        json!({"discountType": "fixed", "discountValue": 500, "currency": "EUR"}),
    )
    .await;
    shop.discount_code("MATH", json!({"departmentId": "math"}))
        .await;
    let cases = [
        ("NOPE", StatusCode::NOT_FOUND, "discount_not_found"),
        // Another department's code answers exactly as no code at all.
        ("MATH", StatusCode::NOT_FOUND, "discount_not_found"),
        ("OLD", StatusCode::UNPROCESSABLE_ENTITY, "discount_expired"),
        (
            "SOON",
            StatusCode::UNPROCESSABLE_ENTITY,
            "discount_not_yet_valid",
        ),
        (
            "BIG",
            StatusCode::UNPROCESSABLE_ENTITY,
            "discount_below_minimum",
        ),
        (
            "PROGS",
            StatusCode::UNPROCESSABLE_ENTITY,
            "discount_not_applicable",
        ),
        (
            "EUROS",
            StatusCode::UNPROCESSABLE_ENTITY,
            "discount_not_applicable",
        ),
        ("OFF", StatusCode::UNPROCESSABLE_ENTITY, "discount_inactive"),
    ];
    let mut not_found = vec![];
    for (c, status, problem) in cases {
        let (s, b) = apply(&shop, &learner, c).await;
        assert_problem(s, &b, status, problem);
        if problem == "discount_not_found" {
            not_found.push(b["detail"].clone());
        }
    }
    assert_eq!(
        not_found[0], not_found[1],
        "no way to tell a foreign code from none"
    );
    let cart = get_as_ok(&shop.app, &learner, "/api/v2/cart").await;
    assert!(
        cart["discountCode"].is_null() && cart["total"] == 4900,
        "{cart}"
    );

    // A code that stops applying after it was applied: shown, and checkout refuses with it.
    let ok = shop
        .discount_code("COURSES", json!({"applicableTo": "courses"}))
        .await;
    assert_eq!(apply(&shop, &learner, "COURSES").await.0, StatusCode::OK);
    let body = json!({"isActive": false});
    let path = format!("/api/v2/admin/discounts/{}", ok["id"].as_str().unwrap());
    let (s, b) = send(
        shop.app
            .client
            .patch(shop.app.url(&path))
            .bearer_auth(&shop.admin)
            .json(&body),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let cart = get_as_ok(&shop.app, &learner, "/api/v2/cart").await;
    assert_eq!(
        cart["discountProblem"]["code"], "discount_inactive",
        "{cart}"
    );
    assert_eq!(
        (&cart["discountAmount"], &cart["total"]),
        (&json!(0), &json!(4900))
    );
    let (s, b) = shop.try_checkout(&learner).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "discount_inactive");
    let (s, cart) = send(
        shop.app
            .client
            .delete(shop.app.url("/api/v2/cart/discount"))
            .bearer_auth(&learner),
    )
    .await;
    assert!(
        s == StatusCode::OK && cart["discountCode"].is_null(),
        "{cart}"
    );
    let order = shop.checkout(&learner).await;
    assert_eq!(
        (&order["total"], &order["discountAmount"]),
        (&json!(4900), &json!(0))
    );
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_codes_within_their_departments_and_bad_codes_are_refused() {
    let shop = Shop::open(&[]).await;
    let learner = shop.learner("learner-1");
    let cs_admin = shop.env.token("cs-admin", &["dept-admin"], &["cs"]);
    let post_as = |token: String, body: Value| {
        let shop = &shop;
        async move { post(&shop.app, &token, "/api/v2/admin/discounts", body).await }
    };
    // Authorization first: a learner gets 403 whatever the body.
    let (s, b) = post_as(learner.clone(), json!({"nonsense": true})).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = post_as(
        cs_admin.clone(),
        json!({"code": "X1", "departmentId": "math", "discountType": "percentage", "discountValue": 5}),
    )
    .await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = post_as(
        cs_admin.clone(),
        json!({"code": "X1", "discountType": "percentage", "discountValue": 5}),
    )
    .await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let base = json!({"code": "GOOD", "departmentId": "cs", "discountType": "percentage", "discountValue": 5});
    let bad = [
        (json!({"discountValue": 101}), "discountValue"),
        (json!({"discountValue": -5}), "discountValue"),
        (
            json!({"discountType": "fixed", "discountValue": 500}),
            "currency",
        ),
        (
            json!({"discountType": "fixed", "discountValue": 500, "currency": "XYZ"}),
            "currency",
        ),
        (
            json!({"validFrom": "2026-06-01T00:00:00Z", "validUntil": "2026-05-01T00:00:00Z"}),
            "validUntil",
        ),
        (json!({"maxUses": 0}), "maxUses"),
        (json!({"code": "has space"}), "code"),
    ];
    for (patch, field) in bad {
        let mut body = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, b) = post_as(cs_admin.clone(), body.clone()).await;
        assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(b["field"], field, "{body} → {b}");
    }
    let (s, good) = post_as(cs_admin.clone(), base.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{good}");
    let mut dup = base.clone();
    dup["code"] = json!("good");
    let (s, b) = post_as(cs_admin.clone(), dup).await;
    assert_problem(s, &b, StatusCode::CONFLICT, "discount_code_taken");
    let math = shop
        .discount_code("MATHONLY", json!({"departmentId": "math"}))
        .await;

    // Lists: the dept-admin sees cs codes only; the billing-admin every code.
    let mine = get_as_ok(&shop.app, &cs_admin, "/api/v2/admin/discounts").await;
    assert_eq!(items(&mine).len(), 1, "{mine}");
    let all = get_as_ok(&shop.app, &shop.admin, "/api/v2/admin/discounts?limit=1").await;
    assert_eq!(items(&all).len(), 1);
    assert!(all["nextCursor"].is_string(), "{all}");
    let path = |v: &Value| format!("/api/v2/admin/discounts/{}", v["id"].as_str().unwrap());
    let (s, b) = get_as(&shop.app, &cs_admin, &path(&math)).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");

    // An unused code can be deleted; a used one only deactivated, its amount frozen.
    let (s, _) = send(
        shop.app
            .client
            .delete(shop.app.url(&path(&good)))
            .bearer_auth(&cs_admin),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = get_as(&shop.app, &cs_admin, &path(&good)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let a = shop.course("lms-a", 1000, false).await;
    let used = shop.discount_code("USED", json!({})).await;
    shop.add(&learner, "course", &a).await;
    assert_eq!(apply(&shop, &learner, "USED").await.0, StatusCode::OK);
    shop.checkout(&learner).await;
    let (s, b) = send(
        shop.app
            .client
            .delete(shop.app.url(&path(&used)))
            .bearer_auth(&cs_admin),
    )
    .await;
    assert_problem(s, &b, StatusCode::CONFLICT, "discount_in_use");
    let patch = |body: Value| {
        shop.app
            .client
            .patch(shop.app.url(&path(&used)))
            .bearer_auth(&cs_admin)
            .json(&body)
    };
    let (s, b) = send(patch(json!({"discountValue": 50}))).await;
    assert_problem(s, &b, StatusCode::CONFLICT, "discount_in_use");
    let (s, b) = send(patch(json!({"isActive": false, "maxUses": 5}))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (&b["isActive"], &b["maxUses"], &b["discountValue"]),
        (&json!(false), &json!(5), &json!(10))
    );
    let (s, b) = send(patch(json!({"maxUses": null}))).await;
    assert!(s == StatusCode::OK && b["maxUses"].is_null(), "{b}");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_with_ten_uses_goes_to_exactly_ten_of_a_hundred_concurrent_checkouts() {
    let shop = Shop::open(&[("gateway.rate_limit_burst", "1000".into())]).await;
    let a = shop.course("lms-a", 2500, false).await;
    let c = shop.discount_code("TEN", json!({"maxUses": 10})).await;
    let learners: Vec<String> = (0..100)
        .map(|i| shop.learner(&format!("learner-{i}")))
        .collect();
    for l in &learners {
        shop.add(l, "course", &a).await;
        assert_eq!(apply(&shop, l, "TEN").await.0, StatusCode::OK);
    }
    let results = join_all(learners.iter().map(|l| shop.try_checkout(l))).await;
    let won = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    for (s, b) in &results {
        if *s != StatusCode::CREATED {
            assert_problem(
                *s,
                b,
                StatusCode::UNPROCESSABLE_ENTITY,
                "discount_exhausted",
            );
        } else {
            assert_eq!(b["discountAmount"], 250, "{b}");
        }
    }
    assert_eq!(won, 10);
    let co = shop.env.schema("cart_order").await;
    assert_eq!(
        count(
            &co,
            "SELECT count(*) FROM orders WHERE discount_id IS NOT NULL"
        )
        .await,
        10
    );
    assert_eq!(
        count(&co, "SELECT count(*) FROM orders").await,
        10,
        "the refused made no order"
    );
    assert_eq!(admin_view(&shop, &c["id"]).await["reservedCount"], 10);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_learner_gets_a_once_per_learner_code_once_however_often_they_check_out() {
    let shop = Shop::open(&[("gateway.rate_limit_burst", "1000".into())]).await;
    let a = shop.course("lms-a", 2500, false).await;
    let b = shop.course("lms-b", 3500, false).await;
    shop.discount_code("ONCE", json!({"maxUsesPerUser": 1}))
        .await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    assert_eq!(apply(&shop, &learner, "ONCE").await.0, StatusCode::OK);
    let results = join_all((0..20).map(|_| shop.try_checkout(&learner))).await;
    let ids: std::collections::HashSet<String> = results
        .iter()
        .filter(|(s, _)| s.is_success())
        .map(|(_, b)| b["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 1, "{results:?}");
    for (s, body) in &results {
        assert!(
            s.is_success() || body["code"] == "cart_changed",
            "{s} {body}"
        );
    }
    // A new cart: the learner's use is held by the pending order.
    shop.add(&learner, "course", &b).await;
    let (s, body) = apply(&shop, &learner, "ONCE").await;
    assert_problem(
        s,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "discount_already_used",
    );
    let co = shop.env.schema("cart_order").await;
    assert_eq!(
        count(
            &co,
            "SELECT count(*) FROM orders WHERE discount_id IS NOT NULL"
        )
        .await,
        1
    );
    // Another learner still may.
    let other = shop.learner("learner-2");
    shop.add(&other, "course", &a).await;
    assert_eq!(apply(&shop, &other, "ONCE").await.0, StatusCode::OK);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_order_gives_its_use_back() {
    let (shop, clock) = Shop::open_with_order_clock(&[
        ("cart_order.cart_ttl_hours", "72".into()),
        ("cart_order.pending_order_ttl_hours", "24".into()),
    ])
    .await;
    let a = shop.course("lms-a", 1000, false).await;
    let c = shop.discount_code("SINGLE", json!({"maxUses": 1})).await;
    let first = shop.learner("learner-1");
    let second = shop.learner("learner-2");
    shop.add(&first, "course", &a).await;
    assert_eq!(apply(&shop, &first, "SINGLE").await.0, StatusCode::OK);
    let order = shop.checkout(&first).await;
    shop.add(&second, "course", &a).await;
    let (s, b) = apply(&shop, &second, "SINGLE").await;
    assert_problem(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "discount_exhausted",
    );

    clock.advance(chrono::Duration::hours(25));
    shop.order_status(&first, order["id"].as_str().unwrap(), "failed")
        .await;
    let v = admin_view(&shop, &c["id"]).await;
    assert_eq!(
        (&v["reservedCount"], &v["usedCount"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(apply(&shop, &second, "SINGLE").await.0, StatusCode::OK);
    let o = shop.checkout(&second).await;
    assert_eq!(o["discountAmount"], 100);
    shop.close().await;
}
