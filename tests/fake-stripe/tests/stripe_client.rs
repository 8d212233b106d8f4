//! The real Stripe client library (async-stripe) against the fake: every answer deserializes
//! into its types, with the fee, expansions, refunds, errors and idempotency keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use stripe::{ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_core::charge::RetrieveCharge;
use stripe_core::customer::{CreateCustomer, RetrieveCustomer, RetrieveCustomerReturned};
use stripe_core::payment_intent::{
    CancelPaymentIntent, ConfirmPaymentIntent, CreatePaymentIntent,
    CreatePaymentIntentAutomaticPaymentMethods, RetrievePaymentIntent,
};
use stripe_core::refund::{CreateRefund, CreateRefundReason, ListRefund, RetrieveRefund};
use stripe_shared::ApiErrorsCode;
use stripe_types::Currency;

fn stripe_error(e: StripeError) -> (Box<stripe_shared::ApiErrors>, u16) {
    match e {
        StripeError::Stripe(error, status) => (error, status),
        other => panic!("expected a Stripe error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stripe_client_library_works_against_the_fake() {
    let fake = common::start("http://127.0.0.1:9/not-listening");
    fake.hold_webhooks(true);
    let client = ClientBuilder::new(common::SK)
        .url(format!("{}/", fake.url))
        .build()
        .unwrap();

    let customer = CreateCustomer::new()
        .email("ada@example.com")
        .name("Ada Lovelace")
        .metadata(HashMap::from([("userId".to_string(), "u1".to_string())]))
        .send(&client)
        .await
        .unwrap();
    assert!(customer.id.as_str().starts_with("cus_"));
    assert_eq!(customer.email.as_deref(), Some("ada@example.com"));
    let RetrieveCustomerReturned::Customer(again) = RetrieveCustomer::new(customer.id.clone())
        .send(&client)
        .await
        .unwrap()
    else {
        panic!("not a customer");
    };
    assert_eq!(again.metadata.unwrap()["userId"], "u1");

    let intent = CreatePaymentIntent::new(1999, Currency::USD)
        .customer(customer.id.as_str())
        .metadata(HashMap::from([(
            "orderId".to_string(),
            "ord_1".to_string(),
        )]))
        .automatic_payment_methods(CreatePaymentIntentAutomaticPaymentMethods::new(true))
        .description("Course: Rust")
        .send(&client)
        .await
        .unwrap();
    assert_eq!(intent.status.as_str(), "requires_payment_method");
    assert_eq!(intent.id.as_str().len(), "pi_".len() + 24);
    let secret = intent.client_secret.clone().unwrap();
    assert!(secret.starts_with(&format!("{}_secret_", intent.id.as_str())));
    assert_eq!(intent.capture_method.as_str(), "automatic_async");

    let confirmed = ConfirmPaymentIntent::new(intent.id.clone())
        .payment_method("pm_card_visa")
        .send(&client)
        .await
        .unwrap();
    assert_eq!(confirmed.status.as_str(), "succeeded");
    assert_eq!(confirmed.amount_received, 1999);

    let got = RetrievePaymentIntent::new(intent.id.clone())
        .expand(vec!["latest_charge.balance_transaction".to_string()])
        .send(&client)
        .await
        .unwrap();
    let charge = got.latest_charge.as_ref().unwrap().as_object().unwrap();
    assert!(charge.id.as_str().starts_with("ch_"));
    assert_eq!(charge.metadata["orderId"], "ord_1");
    assert!(charge.paid && charge.captured && !charge.refunded);
    let card = charge
        .payment_method_details
        .as_ref()
        .unwrap()
        .card
        .as_ref()
        .unwrap();
    assert_eq!(card.last4.as_deref(), Some("4242"));
    assert!(card.wallet.is_none());
    let txn = charge
        .balance_transaction
        .as_ref()
        .unwrap()
        .as_object()
        .unwrap();
    assert_eq!((txn.amount, txn.fee, txn.net), (1999, 88, 1911));
    assert_eq!(txn.fee_details[0].amount, 88);
    assert_eq!(txn.type_.as_str(), "charge");

    let first = CreateRefund::new()
        .payment_intent(intent.id.as_str())
        .amount(500)
        .reason(CreateRefundReason::RequestedByCustomer)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(
        (first.amount, first.status.as_deref()),
        (500, Some("succeeded"))
    );
    let (error, status) = stripe_error(
        CreateRefund::new()
            .payment_intent(intent.id.as_str())
            .amount(1500)
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 400);
    assert!(
        error.code == Some(ApiErrorsCode::AmountTooLarge),
        "{error:?}"
    );
    let rest = CreateRefund::new()
        .payment_intent(intent.id.as_str())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(rest.amount, 1499);
    let listed = ListRefund::new()
        .payment_intent(intent.id.as_str())
        .send(&client)
        .await
        .unwrap();
    let ids: Vec<&str> = listed.data.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![rest.id.as_str(), first.id.as_str()],
        "newest first"
    );
    let refund = RetrieveRefund::new(first.id.clone())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(refund.reason.unwrap().as_str(), "requested_by_customer");
    let charge = RetrieveCharge::new(charge.id.clone())
        .send(&client)
        .await
        .unwrap();
    assert_eq!((charge.amount_refunded, charge.refunded), (1999, true));
    let (error, _) = stripe_error(
        CreateRefund::new()
            .payment_intent(intent.id.as_str())
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert!(error.code == Some(ApiErrorsCode::ChargeAlreadyRefunded));

    // One idempotency key, sent twice: one intent, one charge.
    let charges_before = fake.charges();
    let key = IdempotencyKey::new("k1").unwrap();
    let create = CreatePaymentIntent::new(5000, Currency::EUR)
        .confirm(true)
        .payment_method("pm_card_mastercard");
    let a = create
        .customize()
        .request_strategy(RequestStrategy::Idempotent(key.clone()))
        .send(&client)
        .await
        .unwrap();
    let b = create
        .customize()
        .request_strategy(RequestStrategy::Idempotent(key))
        .send(&client)
        .await
        .unwrap();
    assert_eq!(a.id, b.id);
    assert_eq!(fake.charges(), charges_before + 1);
    let replays: Vec<bool> = fake
        .requests()
        .iter()
        .filter(|r| r.idempotency_key.is_some())
        .map(|r| r.replayed)
        .collect();
    assert_eq!(replays, vec![false, true]);

    // A decline is a 402 card error carrying the intent.
    let (error, status) = stripe_error(
        CreatePaymentIntent::new(1000, Currency::USD)
            .confirm(true)
            .payment_method("pm_card_visa_chargeDeclined")
            .send(&client)
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 402);
    assert_eq!(error.type_.as_str(), "card_error");
    assert!(error.code == Some(ApiErrorsCode::CardDeclined));
    assert_eq!(error.decline_code.as_deref(), Some("generic_decline"));
    let declined = error.payment_intent.unwrap();
    assert_eq!(declined.status.as_str(), "requires_payment_method");
    assert!(declined.last_payment_error.is_some());
    let canceled = CancelPaymentIntent::new(declined.id.clone())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(canceled.status.as_str(), "canceled");

    // Events and disputes deserialize too.
    let dispute_id = fake.dispute(a.id.as_str(), "fraudulent").await.unwrap();
    let events = fake.events();
    assert!(events.len() >= 10);
    for event in &events {
        let parsed: stripe_shared::Event = miniserde::json::from_str(&event.to_string()).unwrap();
        assert_eq!(parsed.type_.as_str(), event["type"].as_str().unwrap());
    }
    let dispute = events.last().unwrap()["data"]["object"].to_string();
    let dispute: stripe_shared::Dispute = miniserde::json::from_str(&dispute).unwrap();
    assert_eq!(
        (dispute.id.as_str(), dispute.amount),
        (dispute_id.as_str(), 5000)
    );

    let wrong = ClientBuilder::new("sk_test_wrong")
        .url(format!("{}/", fake.url))
        .build()
        .unwrap();
    let (error, status) = stripe_error(
        RetrievePaymentIntent::new(a.id.clone())
            .send(&wrong)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (status, error.type_.as_str()),
        (401, "invalid_request_error")
    );
    fake.stop().await;
}
