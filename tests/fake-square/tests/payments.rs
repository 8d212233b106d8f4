//! Payments, refunds and listing over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use fake_square::RefundMode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_succeeds_and_is_counted_once() {
    let fake = start("");
    let mut body = payment("cnon:card-nonce-ok", "k-1", 4900);
    body["reference_id"] = json!("order-1");
    body["note"] = json!("a course");
    body["location_id"] = json!(LOCATION);
    let (s, b) = post(&fake, "/v2/payments", body).await;
    assert_eq!(s, 200, "{b}");
    let p = &b["payment"];
    assert_eq!(p["status"], "COMPLETED");
    assert_eq!(p["card_details"]["status"], "CAPTURED");
    assert_eq!(
        p["amount_money"],
        json!({"amount": 4900, "currency": "USD"})
    );
    assert_eq!(p["total_money"], p["amount_money"]);
    assert_eq!(p["approved_money"], p["amount_money"]);
    assert_eq!(p["reference_id"], "order-1");
    assert_eq!(p["location_id"], LOCATION);
    assert_eq!(p["version"], 1);
    // 2.9 % of 49.00 is 142.1, rounded to 142, plus 30.
    assert_eq!(p["processing_fee"][0]["amount_money"]["amount"], 172);
    assert_eq!(p["processing_fee"][0]["type"], "INITIAL");
    let id = p["id"].as_str().unwrap();
    assert_eq!(id.len(), 26);
    let created = p["created_at"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(created).is_ok());
    assert_eq!(created.len(), "2026-11-28T10:00:00.123Z".len(), "{created}");
    let fp = p["card_details"]["card"]["fingerprint"].as_str().unwrap();
    assert!(fp.starts_with("sq-1-") && fp.len() == 45, "{fp}");
    assert_eq!((fake.payments(), fake.payment_attempts()), (1, 1));

    let (s, got) = get(&fake, &format!("/v2/payments/{id}")).await;
    assert_eq!((s, &got["payment"]), (200, p));
    assert_eq!(fake.payments_with_reference("order-1").len(), 1);
    assert_eq!(fake.payment(id).unwrap(), *p);
    // The same card token is the same card.
    let (_, again) = post(
        &fake,
        "/v2/payments",
        payment("cnon:card-nonce-ok", "k-2", 100),
    )
    .await;
    assert_eq!(again["payment"]["card_details"]["card"]["fingerprint"], fp);
    let (s, b) = get(&fake, "/v2/payments/NOSUCHPAYMENT").await;
    assert_eq!((s, code(&b)), (404, "NOT_FOUND"));
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_with_the_same_key_answers_the_same_body_and_charges_once() {
    let fake = start("");
    let body = payment("cnon:card-nonce-ok", "replay-key", 2500);
    let first = post(&fake, "/v2/payments", body.clone()).await;
    let second = post(&fake, "/v2/payments", body).await;
    assert_eq!(first.0, 200);
    assert_eq!(first, second);
    assert_eq!((fake.payments(), fake.payment_attempts()), (1, 1));
    let posts = fake.posts_to("/v2/payments");
    assert_eq!(posts.len(), 2);
    assert!(!posts[0].replayed && posts[1].replayed);
    assert_eq!(posts[1].idempotency_key.as_deref(), Some("replay-key"));
    assert_eq!(posts[1].body["amount_money"]["amount"], 2500);
    // A decline is stored as well.
    let declined = payment("cnon:card-nonce-declined", "declined-key", 2500);
    let first = post(&fake, "/v2/payments", declined.clone()).await;
    assert_eq!(first, post(&fake, "/v2/payments", declined).await);
    assert_eq!(fake.payment_attempts(), 2);
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_with_another_amount_is_idempotency_key_reused() {
    let fake = start("");
    let (s, _) = post(
        &fake,
        "/v2/payments",
        payment("cnon:card-nonce-ok", "k", 1000),
    )
    .await;
    assert_eq!(s, 200);
    let (s, b) = post(
        &fake,
        "/v2/payments",
        payment("cnon:card-nonce-ok", "k", 1001),
    )
    .await;
    assert_eq!((s, code(&b)), (400, "IDEMPOTENCY_KEY_REUSED"), "{b}");
    assert_eq!(b["errors"][0]["category"], "INVALID_REQUEST_ERROR");
    assert_eq!(fake.payment_attempts(), 1);
    // Keys are per path: the same key at /v2/refunds is another key.
    assert_eq!(fake.posts_to("/v2/payments").len(), 2);
    let paid = get(&fake, "/v2/payments").await.1["payments"][0]["id"].clone();
    let refund = json!({"idempotency_key": "k", "payment_id": paid,
        "amount_money": {"amount": 10, "currency": "USD"}});
    let (s, b) = post(&fake, "/v2/refunds", refund).await;
    assert_eq!(
        (s, &b["refund"]["status"]),
        (200, &json!("COMPLETED")),
        "{b}"
    );
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_nonces_are_payment_method_errors_with_a_failed_payment() {
    let fake = start("");
    let cases = [
        ("cnon:card-nonce-declined", "CARD_DECLINED"),
        ("cnon:card-nonce-rejected-cvv", "CVV_FAILURE"),
        (
            "cnon:card-nonce-rejected-postalcode",
            "ADDRESS_VERIFICATION_FAILURE",
        ),
        ("cnon:card-nonce-rejected-expiration", "INVALID_EXPIRATION"),
    ];
    for (i, (source, expected)) in cases.iter().enumerate() {
        let (s, b) = post(
            &fake,
            "/v2/payments",
            payment(source, &format!("d{i}"), 900),
        )
        .await;
        assert_eq!(s, 400, "{b}");
        assert_eq!(b["errors"][0]["category"], "PAYMENT_METHOD_ERROR");
        assert_eq!(code(&b), *expected);
        let detail = format!("Authorization error: '{expected}'");
        assert_eq!(b["errors"][0]["detail"], detail.as_str());
        assert_eq!(b["payment"]["status"], "FAILED");
        assert_eq!(b["payment"]["card_details"]["status"], "FAILED");
        assert!(b["payment"].get("processing_fee").is_none());
        assert!(b["payment"].get("approved_money").is_none());
    }
    let (s, b) = post(
        &fake,
        "/v2/payments",
        payment("cnon:card-nonce-already-used", "used", 900),
    )
    .await;
    assert_eq!((s, code(&b)), (400, "CARD_TOKEN_USED"));
    assert!(b.get("payment").is_none());
    let (s, b) = post(&fake, "/v2/payments", payment("tok_visa", "bad", 900)).await;
    assert_eq!((s, code(&b)), (400, "INVALID_VALUE"));
    assert_eq!(b["errors"][0]["field"], "source_id");
    assert_eq!((fake.payments(), fake.payment_attempts()), (0, 4));
    let (s, b) = post(
        &fake,
        "/v2/payments",
        payment("ccof:customer-card-id-ok", "c", 5),
    )
    .await;
    assert_eq!((s, &b["payment"]["status"]), (200, &json!("COMPLETED")));
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_are_refused_and_neither_stored_nor_counted() {
    let fake = start("");
    let ok = payment("cnon:card-nonce-ok", "v", 100);
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = ok.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let cases = [
        (
            without("source_id"),
            400,
            "MISSING_REQUIRED_PARAMETER",
            "source_id",
        ),
        (
            without("idempotency_key"),
            400,
            "MISSING_REQUIRED_PARAMETER",
            "idempotency_key",
        ),
        (
            without("amount_money"),
            400,
            "MISSING_REQUIRED_PARAMETER",
            "amount_money",
        ),
        (
            with("idempotency_key", json!("k".repeat(46))),
            400,
            "VALUE_TOO_LONG",
            "idempotency_key",
        ),
        (
            with("reference_id", json!("r".repeat(41))),
            400,
            "VALUE_TOO_LONG",
            "reference_id",
        ),
        (
            with("amount_money", json!({"amount": 0, "currency": "USD"})),
            400,
            "INVALID_VALUE",
            "amount_money.amount",
        ),
        (
            with("amount_money", json!({"amount": 10, "currency": "usd"})),
            400,
            "INVALID_VALUE",
            "amount_money.currency",
        ),
    ];
    for (body, status, expected, field) in cases {
        let (s, b) = post(&fake, "/v2/payments", body.clone()).await;
        assert_eq!((s, code(&b)), (status, expected), "{body} → {b}");
        assert_eq!(b["errors"][0]["category"], "INVALID_REQUEST_ERROR");
        assert_eq!(b["errors"][0]["field"], field, "{b}");
    }
    let (s, b) = post(&fake, "/v2/payments", with("location_id", json!("LOTHER"))).await;
    assert_eq!((s, code(&b)), (404, "NOT_FOUND"));
    // Nothing was stored under the key: it now makes a payment.
    assert_eq!((fake.payments(), fake.payment_attempts()), (0, 0));
    assert_eq!(post(&fake, "/v2/payments", ok).await.0, 200);
    // A body that is not JSON.
    let r = client()
        .post(format!("{}/v2/payments", fake.url))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(code(&b), "BAD_REQUEST");
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_the_token_are_unauthorized_and_unknown_paths_not_found() {
    let fake = start("");
    let url = format!("{}/v2/payments", fake.url);
    let body = payment("cnon:card-nonce-ok", "k", 100);
    for auth in [None, Some("Bearer wrong"), Some(TOKEN)] {
        let mut req = client().post(&url).json(&body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401);
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["errors"][0]["category"], "AUTHENTICATION_ERROR");
        assert_eq!(code(&b), "UNAUTHORIZED");
    }
    assert_eq!(fake.payment_attempts(), 0);
    assert_eq!(fake.requests().len(), 3);
    assert!(fake.requests().iter().all(|r| r.status == 401));
    let (s, b) = get(&fake, "/v2/customers").await;
    assert_eq!((s, code(&b)), (404, "NOT_FOUND"));
    assert_eq!(b["errors"][0]["category"], "INVALID_REQUEST_ERROR");
    let (s, b) = post(&fake, "/v2/payments/X/refund", json!({})).await;
    assert_eq!((s, code(&b)), (404, "NOT_FOUND"));
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_are_capped_at_what_remains() {
    let fake = start("");
    let (_, b) = post(
        &fake,
        "/v2/payments",
        payment("cnon:card-nonce-ok", "p", 5000),
    )
    .await;
    let pid = b["payment"]["id"].as_str().unwrap().to_string();
    let refund = |key: &str, amount: i64| {
        json!({"idempotency_key": key, "payment_id": pid, "reason": "asked",
            "amount_money": {"amount": amount, "currency": "USD"}})
    };
    let (s, r) = post(&fake, "/v2/refunds", refund("r1", 2000)).await;
    assert_eq!(s, 200, "{r}");
    let r = &r["refund"];
    assert_eq!(r["status"], "COMPLETED");
    assert_eq!(r["payment_id"], pid.as_str());
    assert_eq!(r["reason"], "asked");
    assert_eq!(r["location_id"], LOCATION);
    let rid = r["id"].as_str().unwrap();
    assert!(rid.starts_with(&format!("{pid}_")), "{rid}");
    let p = fake.payment(&pid).unwrap();
    assert_eq!(
        p["refunded_money"],
        json!({"amount": 2000, "currency": "USD"})
    );
    assert_eq!(p["refund_ids"], json!([rid]));
    assert_eq!(p["version"], 2);
    let (s, got) = get(&fake, &format!("/v2/refunds/{rid}")).await;
    assert_eq!((s, &got["refund"]), (200, r));

    let (s, b) = post(&fake, "/v2/refunds", refund("r2", 3001)).await;
    assert_eq!((s, code(&b)), (400, "REFUND_AMOUNT_INVALID"), "{b}");
    let (s, b) = post(&fake, "/v2/refunds", refund("r3", 0)).await;
    assert_eq!((s, code(&b)), (400, "INVALID_VALUE"));
    let mut eur = refund("r4", 10);
    eur["amount_money"]["currency"] = json!("EUR");
    assert_eq!(
        code(&post(&fake, "/v2/refunds", eur).await.1),
        "INVALID_VALUE"
    );
    let mut unknown = refund("r5", 10);
    unknown["payment_id"] = json!("NOSUCHPAYMENT");
    let (s, b) = post(&fake, "/v2/refunds", unknown).await;
    assert_eq!((s, code(&b)), (404, "NOT_FOUND"));
    let (s, b) = post(&fake, "/v2/refunds", refund("r6", 3000)).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = post(&fake, "/v2/refunds", refund("r7", 1)).await;
    assert_eq!((s, code(&b)), (400, "REFUND_AMOUNT_INVALID"));
    assert_eq!(fake.refunds(), 2);
    assert_eq!(
        fake.payment(&pid).unwrap()["refunded_money"]["amount"],
        5000
    );
    let (s, list) = get(&fake, "/v2/refunds?sort_order=ASC").await;
    assert_eq!(s, 200);
    assert_eq!(list["refunds"].as_array().unwrap().len(), 2);
    assert_eq!(list["refunds"][0]["id"], rid);
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_refund_holds_its_amount_until_settled() {
    let fake = start("");
    fake.set_refund_mode(RefundMode::Pending);
    let (_, b) = post(
        &fake,
        "/v2/payments",
        payment("cnon:card-nonce-ok", "p", 1000),
    )
    .await;
    let pid = b["payment"]["id"].as_str().unwrap().to_string();
    let refund = |key: &str, amount: i64| {
        json!({"idempotency_key": key, "payment_id": pid,
            "amount_money": {"amount": amount, "currency": "USD"}})
    };
    let (_, r) = post(&fake, "/v2/refunds", refund("a", 600)).await;
    assert_eq!(r["refund"]["status"], "PENDING");
    let rid = r["refund"]["id"].as_str().unwrap().to_string();
    assert!(fake.payment(&pid).unwrap().get("refunded_money").is_none());
    let (_, b) = post(&fake, "/v2/refunds", refund("b", 500)).await;
    assert_eq!(code(&b), "REFUND_AMOUNT_INVALID", "a pending refund counts");
    fake.settle_refund(&rid, false).await.unwrap();
    assert_eq!(
        get(&fake, &format!("/v2/refunds/{rid}")).await.1["refund"]["status"],
        "FAILED"
    );
    assert!(
        fake.settle_refund(&rid, true).await.is_err(),
        "no longer pending"
    );
    let (_, r) = post(&fake, "/v2/refunds", refund("c", 1000)).await;
    let rid = r["refund"]["id"].as_str().unwrap().to_string();
    fake.settle_refund(&rid, true).await.unwrap();
    let p = fake.payment(&pid).unwrap();
    assert_eq!(p["refunded_money"]["amount"], 1000);
    assert_eq!(p["refund_ids"].as_array().unwrap().len(), 2);
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_payment_is_canceled_and_a_completed_one_is_not() {
    let fake = start("");
    let mut body = payment("cnon:card-nonce-ok", "a", 700);
    body["autocomplete"] = json!(false);
    let (_, b) = post(&fake, "/v2/payments", body).await;
    assert_eq!(b["payment"]["status"], "APPROVED");
    assert_eq!(b["payment"]["card_details"]["status"], "AUTHORIZED");
    assert!(b["payment"].get("processing_fee").is_none());
    assert_eq!(fake.payments(), 0);
    let id = b["payment"]["id"].as_str().unwrap();
    let (s, c) = post(&fake, &format!("/v2/payments/{id}/cancel"), json!({})).await;
    assert_eq!((s, &c["payment"]["status"]), (200, &json!("CANCELED")));
    assert_eq!(c["payment"]["version"], 2);
    let (s, b) = post(
        &fake,
        "/v2/refunds",
        json!({"idempotency_key": "r", "payment_id": id,
        "amount_money": {"amount": 1, "currency": "USD"}}),
    )
    .await;
    assert_eq!((s, code(&b)), (400, "BAD_REQUEST"));

    let (_, b) = post(
        &fake,
        "/v2/payments",
        payment("cnon:card-nonce-ok", "c", 700),
    )
    .await;
    let id = b["payment"]["id"].as_str().unwrap();
    let (s, b) = post(&fake, &format!("/v2/payments/{id}/cancel"), json!({})).await;
    assert_eq!((s, code(&b)), (400, "BAD_REQUEST"));
    assert!(
        b["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("COMPLETED")
    );
    let (s, b) = post(&fake, "/v2/payments/NOSUCHPAYMENT/cancel", json!({})).await;
    assert_eq!((s, code(&b)), (404, "NOT_FOUND"));
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_are_listed_by_time_with_cursor_paging() {
    let fake = start("");
    let (s, b) = get(&fake, "/v2/payments").await;
    assert_eq!((s, b), (200, json!({})), "none: no payments key");
    let mut ids = Vec::new();
    for i in 0..5 {
        // Each in its own millisecond, so times tell them apart.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        let (_, b) = post(
            &fake,
            "/v2/payments",
            payment("cnon:card-nonce-ok", &format!("{i}"), 100),
        )
        .await;
        ids.push(b["payment"]["id"].as_str().unwrap().to_string());
    }
    let third = fake.payment(&ids[2]).unwrap()["created_at"]
        .as_str()
        .unwrap()
        .to_string();
    // Pages of two, oldest first, from the third payment's time (inclusive).
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = vec![
            ("begin_time", third.clone()),
            ("sort_order", "ASC".to_string()),
            ("limit", "2".to_string()),
            ("location_id", LOCATION.to_string()),
        ];
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let qs = serde_urlencoded::to_string(&q).unwrap();
        let (s, page) = get(&fake, &format!("/v2/payments?{qs}")).await;
        assert_eq!(s, 200, "{page}");
        seen.extend(
            page["payments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_string()),
        );
        cursor = page["cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
        // A payment made between pages does not shift them.
        if seen.len() == 2 {
            post(
                &fake,
                "/v2/payments",
                payment("cnon:card-nonce-ok", "late", 100),
            )
            .await;
        }
    }
    assert_eq!(seen[..3], ids[2..]);
    assert_eq!(seen.len(), 4, "the late one is at the end: {seen:?}");
    // Newest first by default; end_time is exclusive; a time without millis compares by time.
    let (_, all) = get(&fake, "/v2/payments").await;
    assert_eq!(all["payments"][0]["id"], seen[3].as_str());
    assert_eq!(all["payments"].as_array().unwrap().len(), 6);
    let end = serde_urlencoded::to_string([("end_time", &third)]).unwrap();
    let (_, before) = get(&fake, &format!("/v2/payments?{end}")).await;
    let before: Vec<&Value> = before["payments"].as_array().unwrap().iter().collect();
    assert_eq!(before.len(), 2);
    assert_eq!(before[0]["id"], ids[1].as_str());
    let (_, future) = get(&fake, "/v2/payments?begin_time=2999-01-01T00:00:00Z").await;
    assert_eq!(future, json!({}));
    let (_, past) = get(
        &fake,
        "/v2/payments?begin_time=2000-01-01T00:00:00Z&limit=500",
    )
    .await;
    assert_eq!(past["payments"].as_array().unwrap().len(), 6);
    let (s, _) = get(&fake, "/v2/payments?begin_time=yesterday").await;
    assert_eq!(s, 400);
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_payments_and_amounts_are_visible_through_get() {
    let fake = start("");
    let id = fake.inject_payment(1234, "USD", Some("orphan-ref"));
    let (s, b) = get(&fake, &format!("/v2/payments/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(b["payment"]["status"], "COMPLETED");
    assert_eq!(b["payment"]["reference_id"], "orphan-ref");
    assert_eq!(b["payment"]["amount_money"]["amount"], 1234);
    assert_eq!(fake.payments_with_reference("orphan-ref").len(), 1);
    assert!(fake.events().is_empty(), "no webhook");
    fake.set_payment_amount(&id, 999);
    let (_, b) = get(&fake, &format!("/v2/payments/{id}")).await;
    assert_eq!(
        b["payment"]["amount_money"],
        json!({"amount": 999, "currency": "USD"})
    );
    assert_eq!(b["payment"]["total_money"]["amount"], 999);
    let (_, list) = get(&fake, "/v2/payments").await;
    assert_eq!(list["payments"][0]["id"], id.as_str());
    assert!(fake.events().is_empty());
    fake.stop().await;
}
