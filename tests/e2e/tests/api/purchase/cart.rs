//! Carts and checkout: anonymous carts merged on sign-in, one pending order per checkout,
//! owned and already-ordered courses refused, expiry, and bad input.

use crate::helpers::shop::*;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use testkit::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_cart_is_priced_by_the_catalog_and_merged_on_sign_in() {
    let shop = Shop::open(&[]).await;
    let basket = Basket::stock(&shop).await;
    let (a, p) = (&basket.a, &basket.p);
    let learner = shop.learner("learner-1");

    // Anonymous cart by session, merged on the first authenticated request.
    let cart = send_expect(
        shop.app
            .client
            .post(shop.app.url("/api/v2/cart/items"))
            .header("X-Session-Id", "sess-1")
            .json(&json!({"itemType": "course", "itemId": a, "price": 1})),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        cart["items"][0]["price"], 4900,
        "the catalog price, not the client's"
    );
    let cart = send_expect(
        shop.app
            .client
            .post(shop.app.url("/api/v2/cart/items"))
            .bearer_auth(&learner)
            .header("X-Session-Id", "sess-1")
            .json(&json!({"itemType": "program", "itemId": p})),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        items(&cart).len(),
        2,
        "the anonymous line merged in: {cart}"
    );
    assert_eq!(cart["total"], 4900 + 11_000);
    let anon = send_expect(
        shop.app
            .client
            .get(shop.app.url("/api/v2/cart"))
            .header("X-Session-Id", "sess-1"),
        StatusCode::OK,
    )
    .await;
    assert!(items(&anon).is_empty(), "the anonymous cart is gone");
    // The merged cart is what gets ordered.
    let order = shop.checkout(&learner).await;
    assert_eq!(order["total"], 15_900);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_makes_one_pending_order_and_a_second_checkout_returns_it() {
    let shop = Shop::open(&[]).await;
    let basket = Basket::stock(&shop).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &basket.a).await;
    shop.add(&learner, "program", &basket.p).await;

    let order = shop.checkout(&learner).await;
    let number = order["orderNumber"].as_str().unwrap();
    assert!(
        number.starts_with(&format!("ORD-{}-", chrono::Utc::now().format("%Y")))
            && number.len() >= 14,
        "{number}"
    );
    assert_eq!(order["status"], "pending");
    assert_eq!(order["total"], 15_900);
    assert_eq!(order["settlementAmount"], 15_900);
    let (s, again) = shop.try_checkout(&learner).await;
    assert_eq!(
        (s, &again["id"]),
        (StatusCode::OK, &order["id"]),
        "a second checkout returns the same order"
    );
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owned_course_is_flagged_in_a_new_cart_and_refused_at_checkout() {
    let shop = Shop::open(&[]).await;
    let bought = Bought::everything(&shop).await;
    let learner = &bought.learner;

    // Owned now: flagged in a new cart and refused at checkout.
    let cart = shop.add(learner, "course", &bought.basket.a).await;
    assert_eq!(cart["items"][0]["owned"], true);
    let (s, b) = shop.try_checkout(learner).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "already_owned");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cart_requests_are_refused_and_change_nothing() {
    let shop = Shop::open(&[]).await;
    let a = shop.course("lms-a", 4900, false).await;
    let learner = shop.learner("learner-1");
    let (s, b) = shop.try_checkout(&learner).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "empty_cart");
    let (s, b) = send(
        shop.app
            .client
            .post(shop.app.url("/api/v2/cart/checkout"))
            .json(&json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    let (s, b) = shop
        .try_add(&learner, "course", &uuid::Uuid::now_v7().to_string())
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND, "not_found");
    let mut hidden = course_body("lms-h", "Hidden", "cs");
    hidden["published"] = json!(false);
    let h = post_expect(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/catalog/courses",
        hidden,
        StatusCode::CREATED,
    )
    .await;
    let (s, b) = shop
        .try_add(&learner, "course", h["id"].as_str().unwrap())
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "item_unavailable");
    let mut ended = course_body("lms-e", "Ended", "cs");
    ended["availableFrom"] = json!("2020-01-01T00:00:00Z");
    ended["availableUntil"] = json!("2021-01-01T00:00:00Z");
    let e = post_expect(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/catalog/courses",
        ended,
        StatusCode::CREATED,
    )
    .await;
    let (s, b) = shop
        .try_add(&learner, "course", e["id"].as_str().unwrap())
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "item_unavailable");
    let (s, b) = send(
        shop.app
            .client
            .post(shop.app.url("/api/v2/cart/items"))
            .json(&json!({"itemType": "course", "itemId": a})),
    )
    .await;
    // Whose cart it would be is unknown: a login or a session id identifies it (401).
    assert_problem(s, &b, StatusCode::UNAUTHORIZED, "session_required");

    let co = shop.env.schema("cart_order").await;
    assert_eq!(count(&co, "SELECT count(*) FROM cart_items").await, 0);
    assert_eq!(count(&co, "SELECT count(*) FROM orders").await, 0);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_changed_since_adding_answers_409_with_the_updated_cart_and_no_order() {
    let shop = Shop::open(&[]).await;
    let a = shop.course("lms-a", 4900, false).await;
    let learner = shop.learner("learner-1");
    // A price change between adding and checking out: 409 with the updated cart, no order.
    shop.add(&learner, "course", &a).await;
    post_expect(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/pricing",
        json!({
            "courseId": a, "priceType": "one-time", "currency": "USD", "basePrice": 5200
        }),
        StatusCode::CREATED,
    )
    .await;
    let (s, b) = shop.try_checkout(&learner).await;
    assert_problem(s, &b, StatusCode::CONFLICT, "price_changed");
    assert_eq!(b["cart"]["items"][0]["price"], 5200);
    let co = shop.env.schema("cart_order").await;
    assert_eq!(count(&co, "SELECT count(*) FROM orders").await, 0);
    let order = shop.checkout(&learner).await;
    assert_eq!(order["total"], 5200);

    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_for_other_learners_unknown_payments_card_data_and_paid_orders_are_refused() {
    let shop = Shop::open(&[]).await;
    let a = shop.course("lms-a", 5200, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    let order = shop.checkout(&learner).await;
    // Another learner cannot pay this order; a paid order cannot be paid again.
    let other = shop.learner("learner-2");
    let oid = order["id"].as_str().unwrap();
    let (s, b) = post(
        &shop.app,
        &other,
        "/api/v2/payments/create-intent",
        json!({"orderId": oid}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let (s, b) = post(
        &shop.app,
        &learner,
        "/api/v2/payments/confirm",
        json!({"paymentId": uuid::Uuid::now_v7(), "paymentMethod": "pm_card_visa"}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let (s, b) = post(
        &shop.app,
        &learner,
        "/api/v2/payments/confirm",
        json!({"paymentId": uuid::Uuid::now_v7(), "paymentMethod": "4242424242424242"}),
    )
    .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "card_data_refused");
    assert_eq!(b["field"], "paymentMethod");
    // In any field of any JSON body, even one the route would ignore.
    let (s, b) = post(
        &shop.app,
        &learner,
        "/api/v2/cart/items",
        json!({"itemType": "course", "itemId": a, "price": {"note": "4000 0566 5566 5556"}}),
    )
    .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "card_data_refused");
    assert_eq!(b["field"], "price.note");
    assert!(!b.to_string().contains("5556"), "the number is not echoed");
    shop.pay(&learner, oid, "pm_card_visa").await;
    shop.order_status(&learner, oid, "completed").await;
    let (s, b) = post(
        &shop.app,
        &learner,
        "/api/v2/payments/create-intent",
        json!({"orderId": oid}),
    )
    .await;
    assert_problem(s, &b, StatusCode::CONFLICT, "order_not_pending");

    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_free_order_completes_without_a_payment_and_enrolls() {
    let shop = Shop::open(&[]).await;
    let learner = shop.learner("learner-1");
    // A free course: the order completes without a payment.
    let free = shop.course("lms-free", 0, false).await;
    shop.add(&learner, "course", &free).await;
    let o = shop.checkout(&learner).await;
    assert_eq!(o["status"], "completed");
    assert_eq!(o["total"], 0);
    eventually(WAIT, "the free course enrolled", || async {
        let regs = shop.registrations(&learner).await;
        regs.iter()
            .any(|r| r["courseId"] == free.as_str() && r["status"] == "enrolled")
            .then_some(())
    })
    .await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merging_into_an_existing_cart_keeps_every_line_once() {
    let shop = Shop::open(&[]).await;
    let a = shop.course("lms-a", 1000, false).await;
    let b = shop.course("lms-b", 2000, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    for item in [&a, &b] {
        send_expect(
            shop.app
                .client
                .post(shop.app.url("/api/v2/cart/items"))
                .header("X-Session-Id", "sess-merge")
                .json(&json!({"itemType": "course", "itemId": item})),
            StatusCode::CREATED,
        )
        .await;
    }
    let cart = send_expect(
        shop.app
            .client
            .get(shop.app.url("/api/v2/cart"))
            .bearer_auth(&learner)
            .header("X-Session-Id", "sess-merge"),
        StatusCode::OK,
    )
    .await;
    let lines: Vec<&str> = items(&cart)
        .iter()
        .map(|i| i["itemId"].as_str().unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{cart}");
    assert!(lines.contains(&a.as_str()) && lines.contains(&b.as_str()));
    assert_eq!(cart["total"], 3000);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_course_waiting_in_an_unpaid_order_is_not_ordered_twice() {
    let shop = Shop::open(&[]).await;
    let a = shop.course("lms-a", 1000, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    let first = shop.checkout(&learner).await;
    shop.add(&learner, "course", &a).await;
    let (s, b) = shop.try_checkout(&learner).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "already_ordered");
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .contains(first["orderNumber"].as_str().unwrap())
    );
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carts_and_unpaid_orders_expire() {
    let (shop, clock) = Shop::open_with_order_clock(&[
        ("cart_order.cart_ttl_hours", "2".into()),
        ("cart_order.pending_order_ttl_hours", "24".into()),
    ])
    .await;
    let a = shop.course("lms-a", 1000, false).await;
    let b = shop.course("lms-b", 2000, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    let order = shop.checkout(&learner).await;
    shop.add(&learner, "course", &b).await;
    let cart = get_as_ok(&shop.app, &learner, "/api/v2/cart").await;
    assert_eq!(items(&cart).len(), 1);

    clock.advance(chrono::Duration::hours(3));
    let cart = get_as_ok(&shop.app, &learner, "/api/v2/cart").await;
    assert!(items(&cart).is_empty(), "the cart expired: {cart}");
    let co = shop.env.schema("cart_order").await;
    eventually(WAIT, "the expired cart swept", || {
        let co = co.clone();
        async move {
            (count(&co, "SELECT count(*) FROM carts WHERE status = 'open'").await == 0)
                .then_some(())
        }
    })
    .await;
    assert_eq!(
        shop.order_status(&learner, order["id"].as_str().unwrap(), "pending")
            .await["status"],
        "pending"
    );

    clock.advance(chrono::Duration::hours(24));
    let failed = shop
        .order_status(&learner, order["id"].as_str().unwrap(), "failed")
        .await;
    assert!(
        failed["failureReason"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    let (s, b) = post(
        &shop.app,
        &learner,
        "/api/v2/payments/create-intent",
        json!({"orderId": order["id"]}),
    )
    .await;
    assert_problem(s, &b, StatusCode::CONFLICT, "order_not_pending");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_cart_not_yet_swept_gives_way_to_a_new_one() {
    // The sweep is an hour away: the expired cart still holds the learner's one open slot.
    let (shop, clock) = Shop::open_with_order_clock(&[
        ("cart_order.cart_ttl_hours", "2".into()),
        ("cart_order.expiry_interval_secs", "3600".into()),
    ])
    .await;
    let a = shop.course("lms-a", 1000, false).await;
    let b = shop.course("lms-b", 2000, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    clock.advance(chrono::Duration::hours(3));
    let cart = shop.add(&learner, "course", &b).await;
    let lines: Vec<&str> = items(&cart)
        .iter()
        .map(|i| i["itemId"].as_str().unwrap())
        .collect();
    assert_eq!(
        lines,
        [b.as_str()],
        "a new cart with the new line only: {cart}"
    );
    let co = shop.env.schema("cart_order").await;
    assert_eq!(
        count(&co, "SELECT count(*) FROM carts").await,
        1,
        "the expired one is gone"
    );
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checkouts_take_unique_increasing_order_numbers_without_waiting_on_one_row() {
    let shop = Shop::open(&[("gateway.rate_limit_burst", "100".into())]).await;
    let course = shop.course("lms-n", 1000, false).await;
    let learners: Vec<String> = (0..12)
        .map(|i| shop.learner(&format!("learner-{i}")))
        .collect();
    for l in &learners {
        shop.add(l, "course", &course).await;
    }
    let orders = futures_util::future::join_all(learners.iter().map(|l| shop.checkout(l))).await;
    let number = |o: &serde_json::Value| -> i64 {
        let n = o["orderNumber"].as_str().unwrap();
        let year = chrono::Utc::now().format("%Y").to_string();
        let digits = n.strip_prefix(&format!("ORD-{year}-")).unwrap();
        assert_eq!(digits.len(), 5, "{n}");
        digits.parse().unwrap()
    };
    let mut numbers: Vec<i64> = orders.iter().map(number).collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), learners.len(), "every order its own number");
    // A later checkout numbers after all of them.
    let late = shop.learner("learner-late");
    shop.add(&late, "course", &course).await;
    let last = shop.checkout(&late).await;
    assert!(number(&last) > *numbers.last().unwrap());
    // No counter row is left for checkouts to queue on.
    let db = shop.env.schema("cart_order").await;
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pg_class WHERE relname = 'order_numbers'"
        )
        .await,
        0
    );
    shop.close().await;
}
