//! Tax (ADR-002): TaxJar quotes the cart once a billing address is given, checkout quotes once
//! and freezes the figure (a retry never asks again), TaxJar failing is refused or falls back to
//! the manual rates as configured, and approved exemptions zero the tax and are recorded.

use crate::helpers::shop::*;
use crate::helpers::*;
use fake_taxjar::Fault;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn california() -> Value {
    json!({"country": "US", "postalCode": "94103", "region": "CA", "city": "San Francisco"})
}

async fn checkout_with_key(shop: &Shop, token: &str, key: &str) -> (StatusCode, Value) {
    send(
        shop.app
            .client
            .post(shop.app.url("/api/v2/cart/checkout"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&json!({})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taxjar_quotes_the_cart_and_checkout_freezes_the_same_figure_once() {
    let shop = Shop::open_taxjar(&[]).await;
    let a = shop.course("lms-a", 4900, false).await;
    let learner = shop.learner("learner-1");
    shop.discount_code("TEN", json!({})).await;
    let cart = shop.add(&learner, "course", &a).await;
    assert_eq!(
        cart["taxProblem"]["code"], "billing_address_required",
        "{cart}"
    );
    let (s, b) = shop.try_checkout(&learner).await;
    assert_problem(
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "billing_address_required",
    );
    let (s, b) = shop
        .bill_to(&learner, json!({"country": "US", "postalCode": "94103"}))
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(b["field"], "billingAddress.region");

    assert_eq!(
        post(
            &shop.app,
            &learner,
            "/api/v2/cart/discount",
            json!({"code": "ten"})
        )
        .await
        .0,
        StatusCode::OK
    );
    let (s, cart) = shop.bill_to(&learner, california()).await;
    assert_eq!(s, StatusCode::OK, "{cart}");
    // 44.10 after the discount × 7.25 % = 3.19725 → 3.20.
    assert_eq!(
        (&cart["tax"], &cart["taxSource"]),
        (&json!(320), &json!("taxjar")),
        "{cart}"
    );
    assert_eq!(cart["items"][0]["tax"], 320);
    assert_eq!(cart["total"], 4410 + 320);
    let sent = shop.taxjar().requests().pop().unwrap();
    assert_eq!(sent["to_state"], "CA");
    assert_eq!(sent["shipping"], 0);
    assert_eq!(sent["line_items"][0]["unit_price"], json!(49));
    assert_eq!(sent["line_items"][0]["discount"], json!(4.9));
    assert_eq!(sent["line_items"][0]["product_tax_code"], "31000");
    assert_eq!(sent["nexus_addresses"][0]["state"], "CA");

    let before = shop.taxjar().calls();
    let (s, order) = checkout_with_key(&shop, &learner, "tax-key-1").await;
    assert_eq!(s, StatusCode::CREATED, "{order}");
    assert_eq!(shop.taxjar().calls(), before + 1, "checkout quotes once");
    assert_eq!(
        (
            &order["subtotal"],
            &order["discountAmount"],
            &order["tax"],
            &order["total"]
        ),
        (&json!(4900), &json!(490), &json!(320), &json!(4730))
    );
    assert_eq!(order["taxSource"], "taxjar");
    assert_eq!(order["items"][0]["tax"], 320);
    assert_eq!(order["billingAddress"]["region"], "CA");
    shop.taxjar().set_rate("US-CA", "0.10");
    let (s, again) = checkout_with_key(&shop, &learner, "tax-key-1").await;
    assert_eq!((s, &again["total"]), (StatusCode::CREATED, &json!(4730)));
    assert_eq!(
        shop.taxjar().calls(),
        before + 1,
        "a retry never asks TaxJar again"
    );

    let oid = order["id"].as_str().unwrap();
    let paid = shop.pay(&learner, oid, "pm_card_visa").await;
    assert_eq!(
        paid["amount"], 4730,
        "the charge is the figure the cart showed"
    );
    shop.order_status(&learner, oid, "completed").await;

    // Outside the nexus: no tax (and still decided by TaxJar).
    let b = shop.course("lms-b", 1000, false).await;
    shop.add(&learner, "course", &b).await;
    let (_, cart) = shop
        .bill_to(
            &learner,
            json!({"country": "US", "postalCode": "73301", "region": "TX"}),
        )
        .await;
    assert_eq!(
        (&cart["tax"], &cart["taxSource"]),
        (&json!(0), &json!("taxjar")),
        "{cart}"
    );
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taxjar_failing_refuses_the_checkout_when_fail_closed() {
    let shop = Shop::open_taxjar(&[]).await;
    let a = shop.course("lms-a", 1000, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    shop.bill_to(&learner, california()).await;
    for fault in [Fault::ServerError, Fault::Slow(3000), Fault::Malformed] {
        shop.taxjar().fail_next(&[fault]);
        let (s, b) = shop.try_checkout(&learner).await;
        assert_problem(s, &b, StatusCode::SERVICE_UNAVAILABLE, "tax_unavailable");
    }
    let co = shop.env.schema("cart_order").await;
    assert_eq!(
        count(&co, "SELECT count(*) FROM orders").await,
        0,
        "no order without its tax"
    );
    let order = shop.checkout(&learner).await;
    assert_eq!((&order["tax"], &order["total"]), (&json!(73), &json!(1073)));
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taxjar_failing_falls_back_to_the_manual_rates_when_configured() {
    let shop = Shop::open_taxjar(&[("cart_order.tax_on_failure", "fallback".into())]).await;
    let a = shop.course("lms-a", 1000, false).await;
    let learner = shop.learner("learner-1");
    let (s, b) = post(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/tax-rates",
        json!({"country": "US", "region": "CA", "rate": "1.5"}),
    )
    .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    post_expect(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/tax-rates",
        json!({"country": "US", "region": "CA", "rate": "0.05"}),
        StatusCode::CREATED,
    )
    .await;
    shop.add(&learner, "course", &a).await;
    shop.bill_to(&learner, california()).await;
    shop.taxjar().fail_next(&[Fault::Slow(3000)]);
    let order = shop.checkout(&learner).await;
    assert_eq!(
        (&order["tax"], &order["total"], &order["taxSource"]),
        (&json!(50), &json!(1050), &json!("manual_fallback"))
    );
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_exemption_zeroes_the_tax_and_is_recorded_and_an_expired_one_does_not() {
    let (shop, clock) =
        Shop::open_with_order_clock(&[("cart_order.tax_provider", "manual".into())]).await;
    let a = shop.course("lms-a", 2000, false).await;
    let b = shop.course("lms-b", 3000, false).await;
    let learner = shop.learner("learner-1");
    post_expect(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/tax-rates",
        json!({"country": "US", "rate": "0.1"}),
        StatusCode::CREATED,
    )
    .await;
    let expires = chrono::Utc::now() + chrono::Duration::days(30);
    let ex = post_expect(
        &shop.app,
        &learner,
        "/api/v2/tax-exemptions",
        json!({"organisation": "City of Springfield", "exemptionType": "government", "country": "US",
               "certificateRef": "EX-123", "expiresAt": expires}),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(ex["status"], "pending");
    let path = |what: &str| {
        format!(
            "/api/v2/admin/tax-exemptions/{}/{what}",
            ex["id"].as_str().unwrap()
        )
    };
    let (s, body) = post(&shop.app, &learner, &path("approve"), json!({})).await;
    assert_problem(s, &body, StatusCode::FORBIDDEN, "forbidden");
    let (s, body) = post(
        &shop.app,
        &shop.admin,
        &path("approve"),
        json!({"reasn": "typo"}),
    )
    .await;
    assert_problem(s, &body, StatusCode::BAD_REQUEST, "invalid_body");

    // Pending: the tax applies.
    shop.add(&learner, "course", &a).await;
    let (_, cart) = shop.bill_to(&learner, california()).await;
    assert_eq!(cart["tax"], 200, "{cart}");
    post_expect(
        &shop.app,
        &shop.admin,
        &path("approve"),
        json!({}),
        StatusCode::OK,
    )
    .await;
    let (s, body) = post(
        &shop.app,
        &shop.admin,
        &path("reject"),
        json!({"reason": "late"}),
    )
    .await;
    assert_problem(s, &body, StatusCode::CONFLICT, "exemption_reviewed");
    let order = shop.checkout(&learner).await;
    assert_eq!(
        (&order["tax"], &order["total"]),
        (&json!(0), &json!(2000)),
        "{order}"
    );
    assert_eq!(order["taxExemptionIds"], json!([ex["id"]]));

    // Expired: the tax applies again.
    clock.advance(chrono::Duration::days(31));
    shop.add(&learner, "course", &b).await;
    shop.bill_to(&learner, california()).await;
    let order = shop.checkout(&learner).await;
    assert_eq!(
        (&order["tax"], &order["total"]),
        (&json!(300), &json!(3300)),
        "{order}"
    );
    assert_eq!(order["taxExemptionIds"], json!([]));
    shop.close().await;
}
