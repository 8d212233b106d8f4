//! The PaymentIntent life cycle over raw HTTP: declines, 3-D Secure, wallets, cancellation,
//! expansion, validation, refunds' errors and authentication.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Api, Receiver, eventually, pay};

type Form<'a> = &'a [(&'a str, &'a str)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_then_a_good_one_and_3ds() {
    let receiver = Receiver::start();
    let fake = common::start(&receiver.url);
    let api = Api::new(&fake);

    let form = [
        ("amount", "1999"),
        ("currency", "usd"),
        ("payment_method_types[]", "card"),
    ];
    let created = api.post("/v1/payment_intents", None, &form).await;
    assert_eq!(created.body["status"], "requires_payment_method");
    let pi = created.body["id"].as_str().unwrap();
    let confirm = format!("/v1/payment_intents/{pi}/confirm");
    let declined = api.post(
        &confirm,
        None,
        &[("payment_method", "pm_card_visa_chargeDeclined")],
    );
    let declined = declined.await;
    assert_eq!((declined.status, declined.code()), (402, "card_declined"));
    let error = &declined.body["error"];
    assert_eq!(error["type"], "card_error");
    assert_eq!(error["decline_code"], "generic_decline");
    assert_eq!(error["message"], "Your card was declined.");
    assert_eq!(error["payment_intent"]["id"], pi);
    assert_eq!(error["payment_intent"]["status"], "requires_payment_method");
    let last_error = &fake.intent(pi).unwrap()["last_payment_error"];
    assert_eq!(
        (last_error["type"].as_str(), last_error["code"].as_str()),
        (Some("card_error"), Some("card_declined"))
    );
    eventually("payment_failed", || receiver.hooks().len() == 1).await;
    assert_eq!(receiver.types(), ["payment_intent.payment_failed"]);

    let paid = api.post(
        &confirm,
        None,
        &[
            ("payment_method", "pm_card_visa"),
            ("expand[]", "latest_charge"),
        ],
    );
    let paid = paid.await;
    assert_eq!(paid.body["status"], "succeeded");
    assert!(paid.body["last_payment_error"].is_null());
    let charge = &paid.body["latest_charge"];
    assert_eq!(
        (charge["object"].as_str(), charge["amount"].as_i64()),
        (Some("charge"), Some(1999))
    );
    assert!(
        charge["balance_transaction"]
            .as_str()
            .unwrap()
            .starts_with("txn_")
    );
    assert_eq!((fake.charge_attempts(), fake.charges()), (2, 1));
    eventually("the payment", || receiver.hooks().len() == 3).await;

    let again = api
        .post(&confirm, None, &[("payment_method", "pm_card_visa")])
        .await;
    assert_eq!(
        (again.status, again.code()),
        (400, "payment_intent_unexpected_state")
    );
    assert_eq!(again.body["error"]["payment_intent"]["status"], "succeeded");
    let cancel = api
        .post(&format!("/v1/payment_intents/{pi}/cancel"), None, &[])
        .await;
    assert_eq!(
        (cancel.status, cancel.code()),
        (400, "payment_intent_unexpected_state")
    );

    // 3-D Secure: requires_action until Stripe finishes it.
    let challenged = pay(&api, "5000", "pm_card_threeDSecure2Required").await;
    assert_eq!(challenged.body["status"], "requires_action");
    let next = &challenged.body["next_action"];
    assert_eq!(next["type"], "use_stripe_sdk");
    assert_eq!(next["use_stripe_sdk"]["type"], "three_d_secure_redirect");
    let id = challenged.body["id"].as_str().unwrap();
    eventually("requires_action", || receiver.hooks().len() == 4).await;
    fake.complete_action(id, true).await.unwrap();
    let done = api
        .get(&format!(
            "/v1/payment_intents/{id}?expand[0]=latest_charge.balance_transaction"
        ))
        .await;
    assert_eq!(
        (
            done.body["status"].as_str(),
            done.body["amount_received"].as_i64()
        ),
        (Some("succeeded"), Some(5000))
    );
    assert_eq!(
        done.body["latest_charge"]["balance_transaction"]["fee"],
        175
    );
    assert_eq!(
        receiver.types()[4..],
        ["payment_intent.succeeded", "charge.succeeded"]
    );
    assert_eq!((fake.charge_attempts(), fake.charges()), (3, 2));

    // The next_action URL completes it too, as a browser would.
    let browser = pay(&api, "5000", "pm_card_authenticationRequired").await;
    let url = browser.body["next_action"]["use_stripe_sdk"]["stripe_js"]
        .as_str()
        .unwrap();
    assert_eq!(reqwest::get(url).await.unwrap().status(), 200);
    let id = browser.body["id"].as_str().unwrap();
    assert_eq!(fake.intent(id).unwrap()["status"], "succeeded");
    fake.stop().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cards_wallets_cancellation_and_validation() {
    let fake = common::start("http://127.0.0.1:9/not-listening");
    fake.hold_webhooks(true);
    let api = Api::new(&fake);

    let gpay = pay(&api, "1000", "pm_card_googlePay").await;
    let charge = api
        .get(&format!(
            "/v1/charges/{}",
            gpay.body["latest_charge"].as_str().unwrap()
        ))
        .await;
    let wallet = &charge.body["payment_method_details"]["card"]["wallet"];
    assert_eq!(
        (wallet["type"].as_str(), wallet["dynamic_last4"].as_str()),
        (Some("google_pay"), Some("4242"))
    );
    for (pm, brand) in [
        ("pm_card_mastercard", "mastercard"),
        ("pm_card_amex", "amex"),
    ] {
        let paid = pay(&api, "1000", pm).await;
        let ch = api
            .get(&format!(
                "/v1/charges/{}?expand[]=balance_transaction",
                paid.body["latest_charge"].as_str().unwrap()
            ))
            .await;
        assert_eq!(ch.body["payment_method_details"]["card"]["brand"], brand);
        assert!(ch.body["payment_method_details"]["card"]["wallet"].is_null());
        assert_eq!(ch.body["balance_transaction"]["fee"], 59);
    }

    let customer = api
        .post(
            "/v1/customers",
            None,
            &[("email", "a+b@example.com"), ("metadata[k]", "v w")],
        )
        .await;
    assert_eq!(
        (
            customer.body["email"].as_str(),
            customer.body["metadata"]["k"].as_str()
        ),
        (Some("a+b@example.com"), Some("v w"))
    );
    let cus = customer.body["id"].as_str().unwrap();
    let form = [
        ("amount", "700"),
        ("currency", "eur"),
        ("customer", cus),
        ("payment_method", "pm_card_visa"),
    ];
    let intent = api.post("/v1/payment_intents", None, &form).await;
    assert_eq!(intent.body["status"], "requires_confirmation");
    let id = intent.body["id"].as_str().unwrap();
    let expanded = api
        .get(&format!("/v1/payment_intents/{id}?expand[]=customer"))
        .await;
    assert_eq!(expanded.body["customer"]["id"], cus);
    let canceled = api
        .post(
            &format!("/v1/payment_intents/{id}/cancel"),
            None,
            &[("cancellation_reason", "abandoned")],
        )
        .await;
    assert_eq!(
        (
            canceled.body["status"].as_str(),
            canceled.body["cancellation_reason"].as_str()
        ),
        (Some("canceled"), Some("abandoned"))
    );
    let confirm = api
        .post(&format!("/v1/payment_intents/{id}/confirm"), None, &[])
        .await;
    assert_eq!(
        (confirm.status, confirm.code()),
        (400, "payment_intent_unexpected_state")
    );
    let refund = api
        .post("/v1/refunds", None, &[("payment_intent", id)])
        .await;
    assert_eq!(
        (refund.status, refund.code()),
        (400, "payment_intent_unexpected_state")
    );
    assert!(
        fake.events()
            .iter()
            .any(|e| e["type"] == "payment_intent.canceled")
    );

    let cases: [(Form, u16, &str); 7] = [
        (
            &[("amount", "49"), ("currency", "usd")],
            400,
            "amount_too_small",
        ),
        (
            &[("amount", "0"), ("currency", "jpy")],
            400,
            "parameter_invalid_integer",
        ),
        (
            &[("amount", "ten"), ("currency", "usd")],
            400,
            "parameter_invalid_integer",
        ),
        (&[("currency", "usd")], 400, "parameter_missing"),
        (
            &[
                ("amount", "100"),
                ("currency", "usd"),
                ("customer", "cus_nope"),
            ],
            400,
            "resource_missing",
        ),
        (
            &[
                ("amount", "100"),
                ("currency", "usd"),
                ("payment_method", "pm_nope"),
            ],
            400,
            "resource_missing",
        ),
        (&[("amount", "1"), ("currency", "jpy")], 200, ""),
    ];
    for (form, status, code) in cases {
        let answer = api.post("/v1/payment_intents", None, form).await;
        assert_eq!((answer.status, answer.code()), (status, code), "{form:?}");
    }
    let missing = api.get("/v1/payment_intents/pi_nope").await;
    assert_eq!((missing.status, missing.code()), (404, "resource_missing"));
    assert_eq!(
        api.get(&format!("/v1/charges/{id}")).await.status,
        404,
        "not a charge id"
    );
    assert_eq!(api.get("/v1/nothing").await.status, 404);
    let bad_expand = api
        .get(&format!("/v1/payment_intents/{id}?expand[]=status"))
        .await;
    assert_eq!(bad_expand.status, 400);

    // Refund errors.
    let paid = pay(&api, "2000", "pm_card_visa").await;
    let pi = paid.body["id"].as_str().unwrap();
    let zero = api
        .post(
            "/v1/refunds",
            None,
            &[("payment_intent", pi), ("amount", "0")],
        )
        .await;
    assert_eq!(zero.code(), "parameter_invalid_integer");
    let big = api
        .post(
            "/v1/refunds",
            None,
            &[("payment_intent", pi), ("amount", "2001")],
        )
        .await;
    assert_eq!(big.code(), "amount_too_large");
    assert_eq!(
        api.post("/v1/refunds", None, &[]).await.code(),
        "parameter_missing"
    );
    let ch = paid.body["latest_charge"].as_str().unwrap();
    let by_charge = api
        .post(
            "/v1/refunds",
            None,
            &[("charge", ch), ("reason", "duplicate")],
        )
        .await;
    assert_eq!(
        (
            by_charge.body["amount"].as_i64(),
            by_charge.body["payment_intent"].as_str()
        ),
        (Some(2000), Some(pi))
    );
    let listed = api.get(&format!("/v1/refunds?charge={ch}")).await;
    assert_eq!(listed.body["data"][0]["id"], by_charge.body["id"]);
    assert_eq!(listed.body["url"], "/v1/refunds");
    let done = api
        .post("/v1/refunds", None, &[("payment_intent", pi)])
        .await;
    assert_eq!(done.code(), "charge_already_refunded");
    assert_eq!(
        done.body["error"]["message"],
        format!("Charge {ch} has already been refunded.")
    );
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_key_is_required() {
    let fake = common::start("http://127.0.0.1:9/not-listening");
    let http = reqwest::Client::new();
    let url = format!("{}/v1/customers", fake.url);
    let none = http.post(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let wrong = http
        .post(&url)
        .bearer_auth("sk_test_wrong_key_123")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let body: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid API Key provided: sk_test_")
    );
    let basic = http
        .post(&url)
        .basic_auth(common::SK, None::<&str>)
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    assert_eq!(fake.customers(), 1);
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 401, 200]);
    fake.stop().await;
}
