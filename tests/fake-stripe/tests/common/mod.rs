//! Shared by the integration tests: a fake on a free port, a webhook receiver that checks
//! Stripe signatures with its own HMAC code, raw form-encoded API calls, and polling.
#![allow(dead_code)]

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use fake_stripe::{Config, FakeStripe};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const SK: &str = "sk_test_fake_stripe_integration";
pub const WHSEC: &str = "whsec_ZmFrZS1zdHJpcGUtdGVzdHM";

/// A fake on any port, sending its webhooks to `webhook_url`.
pub fn start(webhook_url: &str) -> FakeStripe {
    FakeStripe::start(Config::new(SK, webhook_url, WHSEC), 0).unwrap()
}

/// Polls `check` until it holds, failing after 10 s.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Checks a `Stripe-Signature` header the way a receiver must: a `t` within 5 minutes and a
/// `v1` equal to hex HMAC-SHA256(secret, "<t>.<body>").
pub fn verify(secret: &str, header: &str, body: &str) -> bool {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1.push(v.to_string()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if (now - t).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    v1.contains(&expected)
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
        signature: header("stripe-signature"),
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

    /// The events received, each checked: JSON content type and a valid signature.
    pub fn events(&self) -> Vec<Value> {
        self.hooks()
            .iter()
            .map(|h| {
                assert_eq!(h.content_type, "application/json");
                assert!(verify(WHSEC, &h.signature, &h.body), "bad signature {h:?}");
                h.event()
            })
            .collect()
    }

    pub fn types(&self) -> Vec<String> {
        let events = self.events();
        events
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

/// An answer of the API.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub replayed: bool,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

/// Raw calls to the API with the secret key.
pub struct Api {
    base: String,
    http: reqwest::Client,
    key: String,
}

impl Api {
    pub fn new(fake: &FakeStripe) -> Api {
        Api::with(fake, reqwest::Client::new())
    }

    pub fn with(fake: &FakeStripe, http: reqwest::Client) -> Api {
        Api {
            base: fake.url.clone(),
            http,
            key: SK.to_string(),
        }
    }

    pub async fn post(&self, path: &str, key: Option<&str>, form: &[(&str, &str)]) -> Answer {
        self.try_post(path, key, form).await.unwrap()
    }

    pub async fn try_post(
        &self,
        path: &str,
        key: Option<&str>,
        form: &[(&str, &str)],
    ) -> reqwest::Result<Answer> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(form));
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        answer(req.send().await?).await
    }

    /// `path` may carry a query string.
    pub async fn get(&self, path: &str) -> Answer {
        let req = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        answer(req.send().await.unwrap()).await.unwrap()
    }
}

async fn answer(r: reqwest::Response) -> reqwest::Result<Answer> {
    let status = r.status().as_u16();
    let replayed = r
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    let body = r.json().await?;
    Ok(Answer {
        status,
        body,
        replayed,
    })
}

/// `application/x-www-form-urlencoded`, percent-encoding all but the unreserved characters.
pub fn encode(form: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let pairs: Vec<String> = form
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    pairs.join("&")
}

/// Creates and confirms a PaymentIntent with `pm`.
pub async fn pay(api: &Api, amount: &str, pm: &str) -> Answer {
    let form = [
        ("amount", amount),
        ("currency", "usd"),
        ("confirm", "true"),
        ("payment_method", pm),
    ];
    api.post("/v1/payment_intents", None, &form).await
}
