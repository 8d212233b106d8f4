//! Fault switches: failures before the work, slow and garbled answers after it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_next_answers_500_and_stores_nothing_so_a_retry_charges_once() {
    let fake = start("");
    let body = payment("cnon:card-nonce-ok", "retry-me", 1100);
    fake.fail_next(1, 500);
    let (s, b) = post(&fake, "/v2/payments", body.clone()).await;
    assert_eq!(s, 500);
    assert_eq!(b["errors"][0]["category"], "API_ERROR");
    assert_eq!(code(&b), "INTERNAL_SERVER_ERROR");
    assert_eq!((fake.payments(), fake.payment_attempts()), (0, 0));
    let (s, b) = post(&fake, "/v2/payments", body.clone()).await;
    assert_eq!((s, &b["payment"]["status"]), (200, &json!("COMPLETED")));
    let posts = fake.posts_to("/v2/payments");
    assert_eq!(posts.len(), 2);
    assert_eq!((posts[0].status, posts[1].status), (500, 200));
    assert!(!posts[1].replayed, "the retry ran: nothing was stored");
    assert_eq!(posts[0].idempotency_key, posts[1].idempotency_key);
    assert_eq!((fake.payments(), fake.payment_attempts()), (1, 1));

    fake.fail_next(2, 503);
    let (s, b) = get(&fake, "/v2/payments").await;
    assert_eq!((s, code(&b)), (503, "SERVICE_UNAVAILABLE"));
    let (s, b) = post(&fake, "/v2/payments", body).await;
    assert_eq!((s, code(&b)), (503, "SERVICE_UNAVAILABLE"));
    fake.fail_next(1, 429);
    let (s, b) = get(&fake, "/v2/payments").await;
    assert_eq!((s, code(&b)), (429, "RATE_LIMITED"));
    assert_eq!(b["errors"][0]["category"], "RATE_LIMIT_ERROR");
    assert_eq!(get(&fake, "/v2/payments").await.0, 200);
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_next_does_the_work_though_the_client_stopped_waiting() {
    let fake = start("");
    let mut body = payment("cnon:card-nonce-ok", "slow", 3000);
    body["reference_id"] = json!("slow-order");
    fake.delay_next(1, Duration::from_millis(1500));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let sent = impatient
        .post(format!("{}/v2/payments", fake.url))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await;
    assert!(sent.is_err(), "the client timed out");
    eventually("the charge", || fake.payments() == 1).await;
    let at_square = fake.payments_with_reference("slow-order");
    assert_eq!(at_square.len(), 1);
    // The retry with the same key gets the stored answer at once.
    let (s, b) = post(&fake, "/v2/payments", body).await;
    assert_eq!(s, 200);
    assert_eq!(b["payment"]["id"], at_square[0]["id"]);
    assert_eq!((fake.payments(), fake.payment_attempts()), (1, 1));
    assert!(fake.posts_to("/v2/payments")[1].replayed);
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_next_answers_a_body_that_is_not_json_after_doing_the_work() {
    let fake = start("");
    let body = payment("cnon:card-nonce-ok", "garbled", 1500);
    fake.malformed_next(1);
    let r = client()
        .post(format!("{}/v2/payments", fake.url))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().await.unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_err(),
        "{text}"
    );
    assert_eq!(fake.payments(), 1, "the charge happened");
    let (s, b) = post(&fake, "/v2/payments", body).await;
    assert_eq!(s, 200, "answers are JSON again");
    assert!(b["payment"]["id"].is_string());
    assert_eq!(fake.payments(), 1);
    fake.stop().await;
}
