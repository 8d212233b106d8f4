//! Display currencies (ADR-003): the cart converted line by line at the catalog's rate, checkout
//! charging those figures with the quote locked on the order, and an expired quote re-quoted
//! before a payment starts.

use crate::helpers::shop::*;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use testkit::eventually;

async fn set_rate(shop: &Shop, rate: &str) {
    put_expect(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/catalog/exchange-rates/EUR",
        json!({ "rate": rate }),
        StatusCode::OK,
    )
    .await;
    // Readers see a rate within the catalog's staleness bound: wait for it.
    eventually(WAIT, &format!("EUR at {rate}"), || async {
        let r = get_ok(&shop.app, "/api/v2/catalog/exchange-rates").await;
        items(&r)
            .iter()
            .any(|i| i["currency"] == "EUR" && i["rate"] == rate)
            .then_some(())
    })
    .await;
}

async fn pay_in(shop: &Shop, token: &str, currency: &str) -> (StatusCode, Value) {
    send(
        shop.app
            .client
            .put(shop.app.url("/api/v2/cart/currency"))
            .bearer_auth(token)
            .json(&json!({ "currency": currency })),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_pays_in_euros_exactly_the_figures_the_cart_showed() {
    let shop = Shop::open_taxjar(&[]).await;
    set_rate(&shop, "0.92").await;
    let a = shop.course("lms-a", 4900, false).await;
    let learner = shop.learner("learner-1");
    shop.discount_code("TEN", json!({})).await;
    shop.add(&learner, "course", &a).await;
    let (s, b) = pay_in(&shop, &learner, "XYZ").await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let (s, b) = pay_in(&shop, &learner, "GBP").await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "no_exchange_rate");
    post_expect(
        &shop.app,
        &learner,
        "/api/v2/cart/discount",
        json!({"code": "TEN"}),
        StatusCode::OK,
    )
    .await;
    let berlin = json!({"country": "DE", "postalCode": "10115", "city": "Berlin"});
    assert_eq!(shop.bill_to(&learner, berlin).await.0, StatusCode::OK);
    let (s, cart) = pay_in(&shop, &learner, "eur").await;
    assert_eq!(s, StatusCode::OK, "{cart}");
    // USD: 49.00 − 4.90 + 19 % VAT of 44.10 (8.379 → 8.38) = 52.48.
    assert_eq!(
        (&cart["discountAmount"], &cart["tax"], &cart["total"]),
        (&json!(490), &json!(838), &json!(5248))
    );
    // EUR at 0.92, line by line, half to even: 45.08 − 4.51 + 7.71 = 48.28.
    let d = &cart["display"];
    assert_eq!(
        (&d["currency"], &d["exchangeRate"]),
        (&json!("EUR"), &json!("0.92"))
    );
    assert_eq!(
        d["lines"][0],
        json!({"price": 4508, "discount": 451, "tax": 771})
    );
    assert_eq!(
        (&d["subtotal"], &d["discountAmount"], &d["tax"], &d["total"]),
        (&json!(4508), &json!(451), &json!(771), &json!(4828))
    );
    let usd = get_as_ok(&shop.app, &learner, "/api/v2/cart?currency=USD").await;
    assert_eq!(
        usd["display"]["total"], 5248,
        "the cart's own currency converts at 1"
    );

    let order = shop.checkout(&learner).await;
    assert_eq!(
        (&order["currency"], &order["total"]),
        (&json!("EUR"), &json!(4828)),
        "{order}"
    );
    assert_eq!(
        (&order["subtotal"], &order["discountAmount"], &order["tax"]),
        (&json!(4508), &json!(451), &json!(771))
    );
    assert_eq!(
        (&order["displayCurrency"], &order["displayAmount"]),
        (&json!("EUR"), &json!(4828))
    );
    assert_eq!(
        (&order["settlementCurrency"], &order["settlementAmount"]),
        (&json!("USD"), &json!(5248))
    );
    assert_eq!(
        (&order["exchangeRate"], &order["exchangeRateSource"]),
        (&json!("0.92"), &json!("catalog"))
    );
    assert!(order["quoteExpiresAt"].is_string(), "{order}");
    assert_eq!(
        order["items"][0]["settlement"],
        json!({"price": 4900, "discount": 490, "tax": 838})
    );
    assert_eq!(order["items"][0]["price"], 4508);

    let oid = order["id"].as_str().unwrap();
    let paid = shop.pay(&learner, oid, "pm_card_visa").await;
    assert_eq!(
        (&paid["amount"], &paid["currency"]),
        (&json!(4828), &json!("EUR")),
        "{paid}"
    );
    let done = shop.order_status(&learner, oid, "completed").await;
    assert_eq!(done["total"], 4828);

    // A refund in euros, shown in both currencies.
    let pid = paid["id"].as_str().unwrap();
    let (s, r) = crate::refunds::refund(
        &shop,
        pid,
        json!({"amount": 1000, "reason": "partial"}),
        "eur-r1",
    )
    .await;
    assert_eq!(
        (s, &r["amount"], &r["currency"]),
        (StatusCode::CREATED, &json!(1000), &json!("EUR")),
        "{r}"
    );
    let o = eventually(WAIT, "the order partly refunded", || async {
        let o = shop.order(&learner, oid).await;
        (o["refundedAmount"] == 1000).then_some(o)
    })
    .await;
    // 10.00 EUR at 0.92 = 10.8696 USD → 10.87.
    assert_eq!(o["refundedSettlementAmount"], 1087, "{o}");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_quote_is_requoted_before_a_payment_starts_and_the_learner_sees_the_new_amount()
{
    let clock = Arc::new(kernel::ManualClock::new(chrono::Utc::now()));
    let mut factories = commerce::registry();
    factories.retain(|f| f.name() != "cart-order" && f.name() != "payment");
    factories.push(Arc::new(cart_order::CartOrderService {
        clock: Some(clock.clone()),
        ..Default::default()
    }));
    factories.push(Arc::new(payment::PaymentService {
        clock: Some(clock.clone()),
    }));
    let shop = Shop::open_with(
        &[("cart_order.fx_requote_grace_secs", "60".into())],
        factories,
    )
    .await;
    set_rate(&shop, "0.92").await;
    let a = shop.course("lms-a", 4900, false).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &a).await;
    pay_in(&shop, &learner, "EUR").await;
    let order = shop.checkout(&learner).await;
    assert_eq!(
        (&order["currency"], &order["total"]),
        (&json!("EUR"), &json!(4508))
    );
    let oid = order["id"].as_str().unwrap().to_string();
    // A payment begun on the quote, never confirmed.
    let begun = shop.intent(&learner, &oid).await;
    assert_eq!(begun["amount"], 4508);
    set_rate(&shop, "0.95").await;

    // Expired, but within the grace period a payment on the old quote may still be starting.
    clock.advance(chrono::Duration::seconds(30 * 60 + 30));
    let intent = || {
        post(
            &shop.app,
            &learner,
            "/api/v2/payments/create-intent",
            json!({"orderId": oid}),
        )
    };
    let (s, b) = intent().await;
    assert_problem(s, &b, StatusCode::CONFLICT, "quote_expired");
    assert_eq!((&b["requoted"], &b["total"]), (&json!(false), &json!(4508)));
    // The payment begun on the old quote was cancelled at the processor, never to be confirmed.
    let history = get_as_ok(&shop.app, &learner, "/api/v2/payments/history").await;
    let old = items(&history)
        .iter()
        .find(|p| p["id"] == begun["id"])
        .cloned();
    assert_eq!(
        old.map(|p| p["status"].clone()),
        Some(json!("cancelled")),
        "{history}"
    );
    // After it: re-quoted at today's rate, shown, and paid at that.
    clock.advance(chrono::Duration::seconds(60));
    let (s, b) = intent().await;
    assert_problem(s, &b, StatusCode::CONFLICT, "quote_expired");
    assert_eq!(
        (&b["requoted"], &b["total"], &b["currency"]),
        (&json!(true), &json!(4655), &json!("EUR"))
    );
    let seen = shop.order(&learner, &oid).await;
    assert_eq!(
        (
            &seen["total"],
            &seen["exchangeRate"],
            &seen["settlementAmount"]
        ),
        (&json!(4655), &json!("0.95"), &json!(4900))
    );
    let paid = shop.pay(&learner, &oid, "pm_card_visa").await;
    assert_eq!(
        (&paid["amount"], &paid["currency"]),
        (&json!(4655), &json!("EUR"))
    );
    shop.order_status(&learner, &oid, "completed").await;
    shop.close().await;
}
