//! Shared by the integration tests: a fake on a free port, raw JSON API calls, a webhook
//! receiver that checks Square signatures with its own HMAC code, and polling.
#![allow(dead_code)]

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use fake_square::{Config, FakeSquare};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "EAAAtest-fake-square";
pub const LOCATION: &str = "LTESTFAKE";
pub const KEY: &str = "fake-square-test-signature-key";

/// A fake on any port, sending its webhooks to `webhook_url` (empty: nowhere).
pub fn start(webhook_url: &str) -> FakeSquare {
    FakeSquare::start(Config::new(TOKEN, LOCATION, webhook_url, KEY), 0).unwrap()
}

/// Polls `check` until it holds, failing after 10 s.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

async fn answer(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// `POST` of a JSON body with the token.
pub async fn post(fake: &FakeSquare, path: &str, body: Value) -> (u16, Value) {
    let url = format!("{}{path}", fake.url);
    answer(
        client()
            .post(url)
            .bearer_auth(TOKEN)
            .header("Square-Version", "2025-10-16")
            .json(&body),
    )
    .await
}

/// `GET` with the token.
pub async fn get(fake: &FakeSquare, path: &str) -> (u16, Value) {
    answer(
        client()
            .get(format!("{}{path}", fake.url))
            .bearer_auth(TOKEN),
    )
    .await
}

/// A `CreatePayment` body.
pub fn payment(source: &str, key: &str, amount: i64) -> Value {
    json!({"source_id": source, "idempotency_key": key,
        "amount_money": {"amount": amount, "currency": "USD"}})
}

/// The first error's code.
pub fn code(body: &Value) -> &str {
    body["errors"][0]["code"].as_str().unwrap_or_default()
}

/// A receiver's own check: base64 HMAC-SHA256 of the notification URL followed by the body.
pub fn verify(key: &str, url: &str, body: &str, signature: &str) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{url}{body}").as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    expected == signature
}

/// One webhook as received.
#[derive(Debug, Clone)]
pub struct Hook {
    pub signature: String,
    pub content_type: String,
    pub body: String,
}

impl Hook {
    pub fn event(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

struct ReceiverState {
    hooks: Mutex<Vec<Hook>>,
    status: AtomicU16,
}

/// A webhook endpoint: records what it gets and answers a settable status (200 at first).
pub struct Receiver {
    pub url: String,
    state: Arc<ReceiverState>,
    server: actix_web::dev::ServerHandle,
}

async fn receive(req: HttpRequest, body: String, state: web::Data<ReceiverState>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    state.hooks.lock().unwrap().push(Hook {
        signature: header("x-square-hmacsha256-signature"),
        content_type: header("content-type"),
        body,
    });
    let status = state.status.load(Ordering::SeqCst);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let url = format!(
            "http://127.0.0.1:{}/hook",
            listener.local_addr().unwrap().port()
        );
        let state = Arc::new(ReceiverState {
            hooks: Mutex::new(Vec::new()),
            status: AtomicU16::new(200),
        });
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/hook", web::post().to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url,
            state,
            server: handle,
        }
    }

    pub fn hooks(&self) -> Vec<Hook> {
        self.state.hooks.lock().unwrap().clone()
    }

    /// The events received, each checked: JSON, signed over this receiver's URL.
    pub fn events(&self) -> Vec<Value> {
        self.hooks()
            .iter()
            .map(|h| {
                assert_eq!(h.content_type, "application/json");
                assert!(
                    verify(KEY, &self.url, &h.body, &h.signature),
                    "bad signature {h:?}"
                );
                h.event()
            })
            .collect()
    }

    pub fn types(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn answer(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    pub async fn stop(self) {
        self.server.stop(true).await;
    }
}
