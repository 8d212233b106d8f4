//! A fake Square for tests and `make run`: the part of the Payments and Refunds APIs the
//! platform uses, in Square's wire format (bearer token, JSON bodies, `errors[]` with category
//! and code, amounts in `amount_money`), with Square's idempotency (the same key and body give
//! the stored answer; the same key with another body is `IDEMPOTENCY_KEY_REUSED`).
//!
//! `POST /v2/payments` takes the sandbox's card nonces: `cnon:card-nonce-ok` (and any other
//! `cnon:` or `ccof:` source) succeeds; `cnon:card-nonce-declined`, `…-rejected-cvv`,
//! `…-rejected-postalcode` and `…-rejected-expiration` are declined (400, a
//! `PAYMENT_METHOD_ERROR` with the `FAILED` payment); `cnon:card-nonce-already-used` is refused.
//! Each card's fingerprint is derived from its source, so one nonce is one card. Refunds are
//! capped at what remains. `GET /v2/payments` and `GET /v2/refunds` list by time with cursors.
//!
//! Webhooks (`payment.created`, `payment.updated`, `refund.created`, `refund.updated`) are
//! signed as Square signs them: base64 HMAC-SHA256 of the notification URL followed by the raw
//! body, in `x-square-hmacsha256-signature`. Tests can hold, reorder and resend them, inject
//! faults (`fail_next`, `delay_next`, `malformed_next`), settle pending refunds, and make
//! payments Square has but the platform never made (`inject_payment`, `set_payment_amount`).
// An outside system: it reads the wall clock and makes random ids as the real Square would.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub access_token: String,
    pub location_id: String,
    /// Where webhooks go; also the notification URL the signature covers.
    pub webhook_url: String,
    pub signature_key: String,
    /// The processing fee: basis points of the amount (rounded half up) plus a fixed part.
    pub fee_bps: u32,
    pub fee_fixed_minor: i64,
}

impl Config {
    /// With a card fee of 2.9 % + 30.
    pub fn new(
        access_token: impl Into<String>,
        location_id: impl Into<String>,
        webhook_url: impl Into<String>,
        signature_key: impl Into<String>,
    ) -> Config {
        Config {
            access_token: access_token.into(),
            location_id: location_id.into(),
            webhook_url: webhook_url.into(),
            signature_key: signature_key.into(),
            fee_bps: 290,
            fee_fixed_minor: 30,
        }
    }
}

/// One API request as received and answered.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    /// The JSON body (`Null` for a `GET`).
    pub body: Value,
    pub status: u16,
    /// Answered from the idempotency store.
    pub replayed: bool,
}

/// One attempt to deliver an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub event_id: String,
    pub event_type: String,
    /// What the receiver answered; 0 when it could not be reached.
    pub status: u16,
    pub attempt: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    InOrder,
    Reversed,
}

/// What a refund does once created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefundMode {
    /// `COMPLETED` at once.
    #[default]
    Complete,
    /// `PENDING` until [`FakeSquare::settle_refund`].
    Pending,
}

/// The signature Square puts in `x-square-hmacsha256-signature`.
pub fn signature(signature_key: &str, notification_url: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(signature_key.as_bytes()).unwrap();
    mac.update(notification_url.as_bytes());
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[derive(Default)]
struct Faults {
    fail: u32,
    fail_status: u16,
    delay: u32,
    delay_for: Duration,
    malformed: u32,
}

#[derive(Default)]
struct Store {
    payments: Vec<Value>,
    refunds: Vec<Value>,
    /// (path, key) → (body sent, status, answer).
    keys: HashMap<(String, String), (Value, u16, Value)>,
    events: Vec<Value>,
    completed: usize,
    attempts: usize,
    refund_count: usize,
    refund_mode: RefundMode,
}

struct State {
    config: Config,
    webhook_url: Mutex<String>,
    store: Mutex<Store>,
    faults: Mutex<Faults>,
    requests: Mutex<Vec<RecordedRequest>>,
    held: Mutex<(bool, Vec<Value>)>,
    deliveries: Mutex<Vec<Delivery>>,
    /// One delivery at a time, in the order events were made.
    sending: tokio::sync::Mutex<()>,
    http: reqwest::Client,
}

/// A running fake Square.
pub struct FakeSquare {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub url: String,
    state: Arc<State>,
    server: actix_web::dev::ServerHandle,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..26].to_ascii_uppercase()
}

fn error(status: u16, category: &str, code: &str, detail: &str) -> (u16, Value) {
    (
        status,
        json!({"errors": [{"category": category, "code": code, "detail": detail}]}),
    )
}

fn invalid(code: &str, field: &str, detail: &str) -> (u16, Value) {
    (
        400,
        json!({"errors": [{"category": "INVALID_REQUEST_ERROR", "code": code,
            "detail": detail, "field": field}]}),
    )
}

fn not_found(what: &str) -> (u16, Value) {
    error(
        404,
        "INVALID_REQUEST_ERROR",
        "NOT_FOUND",
        &format!("{what} not found"),
    )
}

impl Store {
    fn payment_mut(&mut self, id: &str) -> Option<&mut Value> {
        self.payments.iter_mut().find(|p| p["id"] == id)
    }

    fn refunded(&self, payment_id: &str) -> i64 {
        self.refunds
            .iter()
            .filter(|r| r["payment_id"] == payment_id)
            .filter(|r| r["status"] == "COMPLETED" || r["status"] == "PENDING")
            .map(|r| r["amount_money"]["amount"].as_i64().unwrap_or(0))
            .sum()
    }

    fn event(&mut self, kind: &str, object_type: &str, object: &Value) -> Value {
        let e = json!({
            "merchant_id": "MLCADENCEFAKE", "type": kind, "event_id": uuid::Uuid::new_v4().to_string(),
            "created_at": now(),
            "data": {"type": object_type, "id": object["id"], "object": {object_type: object}},
        });
        self.events.push(e.clone());
        e
    }

    fn fee(&self, amount: i64, config: &Config) -> i64 {
        (amount * i64::from(config.fee_bps) + 5_000) / 10_000 + config.fee_fixed_minor
    }

    fn create_payment(&mut self, b: &Value, config: &Config, out: &mut Vec<Value>) -> (u16, Value) {
        let Some(source) = b["source_id"].as_str() else {
            return invalid(
                "MISSING_REQUIRED_PARAMETER",
                "source_id",
                "source_id is required",
            );
        };
        let (Some(amount), Some(currency)) = (
            b["amount_money"]["amount"].as_i64(),
            b["amount_money"]["currency"].as_str(),
        ) else {
            return invalid(
                "MISSING_REQUIRED_PARAMETER",
                "amount_money",
                "amount_money is required",
            );
        };
        if amount < 1 {
            return invalid(
                "INVALID_VALUE",
                "amount_money.amount",
                "amount must be positive",
            );
        }
        if currency.len() != 3 || !currency.bytes().all(|c| c.is_ascii_uppercase()) {
            return invalid("INVALID_VALUE", "amount_money.currency", "unknown currency");
        }
        if b["reference_id"].as_str().is_some_and(|r| r.len() > 40) {
            return invalid("VALUE_TOO_LONG", "reference_id", "reference_id is too long");
        }
        if let Some(loc) = b["location_id"].as_str()
            && loc != config.location_id
        {
            return not_found("location");
        }
        if !(source.starts_with("cnon:") || source.starts_with("ccof:")) {
            return invalid("INVALID_VALUE", "source_id", "not a card source");
        }
        let decline = match source {
            "cnon:card-nonce-declined" => Some("CARD_DECLINED"),
            "cnon:card-nonce-rejected-cvv" => Some("CVV_FAILURE"),
            "cnon:card-nonce-rejected-postalcode" => Some("ADDRESS_VERIFICATION_FAILURE"),
            "cnon:card-nonce-rejected-expiration" => Some("INVALID_EXPIRATION"),
            "cnon:card-nonce-already-used" => {
                return invalid("CARD_TOKEN_USED", "source_id", "card nonce already used");
            }
            _ => None,
        };
        self.attempts += 1;
        let autocomplete = b["autocomplete"].as_bool().unwrap_or(true);
        let status = match (decline, autocomplete) {
            (Some(_), _) => "FAILED",
            (None, true) => "COMPLETED",
            (None, false) => "APPROVED",
        };
        let card_status = match status {
            "FAILED" => "FAILED",
            "COMPLETED" => "CAPTURED",
            _ => "AUTHORIZED",
        };
        let fingerprint = format!("sq-1-{}", &hex::encode(Sha256::digest(source))[..40]);
        let t = now();
        let money = json!({"amount": amount, "currency": currency});
        let mut p = json!({
            "id": new_id(), "created_at": t, "updated_at": t, "amount_money": money,
            "total_money": money, "status": status, "source_type": "CARD",
            "card_details": {"status": card_status, "entry_method": "KEYED",
                "card": {"card_brand": "VISA", "last_4": "1111", "fingerprint": fingerprint}},
            "location_id": config.location_id, "refund_ids": [], "version": 1,
            "receipt_url": "https://squareup.com/receipt/preview/fake",
        });
        for k in ["reference_id", "note", "customer_id", "buyer_email_address"] {
            if let Some(v) = b.get(k).filter(|v| !v.is_null()) {
                p[k] = v.clone();
            }
        }
        if let Some(code) = decline {
            p["card_details"]["errors"] =
                json!([{"category": "PAYMENT_METHOD_ERROR", "code": code}]);
        } else {
            p["approved_money"] = money.clone();
        }
        if status == "COMPLETED" {
            self.completed += 1;
            p["processing_fee"] = json!([{"effective_at": t, "type": "INITIAL",
                "amount_money": {"amount": self.fee(amount, config), "currency": currency}}]);
        }
        self.payments.push(p.clone());
        out.push(self.event("payment.created", "payment", &p));
        out.push(self.event("payment.updated", "payment", &p));
        match decline {
            Some(code) => (
                400,
                json!({"errors": [{"category": "PAYMENT_METHOD_ERROR", "code": code,
                    "detail": format!("Authorization error: '{code}'")}], "payment": p}),
            ),
            None => (200, json!({ "payment": p })),
        }
    }

    fn cancel_payment(&mut self, id: &str, out: &mut Vec<Value>) -> (u16, Value) {
        let Some(p) = self.payment_mut(id) else {
            return not_found("payment");
        };
        if p["status"] != "APPROVED" {
            let detail = format!("payment is {}", p["status"].as_str().unwrap_or_default());
            return error(400, "INVALID_REQUEST_ERROR", "BAD_REQUEST", &detail);
        }
        p["status"] = json!("CANCELED");
        p["card_details"]["status"] = json!("VOIDED");
        bump(p);
        let p = p.clone();
        out.push(self.event("payment.updated", "payment", &p));
        (200, json!({ "payment": p }))
    }

    fn create_refund(&mut self, b: &Value, out: &mut Vec<Value>) -> (u16, Value) {
        let (Some(pid), Some(amount), Some(currency)) = (
            b["payment_id"].as_str(),
            b["amount_money"]["amount"].as_i64(),
            b["amount_money"]["currency"].as_str(),
        ) else {
            return invalid(
                "MISSING_REQUIRED_PARAMETER",
                "payment_id",
                "payment_id and amount_money are required",
            );
        };
        let refunded = self.refunded(pid);
        let Some(p) = self.payments.iter().find(|p| p["id"] == pid).cloned() else {
            return not_found("payment");
        };
        if p["status"] != "COMPLETED" {
            return error(
                400,
                "INVALID_REQUEST_ERROR",
                "BAD_REQUEST",
                "payment is not completed",
            );
        }
        if p["amount_money"]["currency"] != currency || amount < 1 {
            return invalid(
                "INVALID_VALUE",
                "amount_money",
                "amount or currency is invalid",
            );
        }
        if amount > p["amount_money"]["amount"].as_i64().unwrap_or(0) - refunded {
            return error(
                400,
                "INVALID_REQUEST_ERROR",
                "REFUND_AMOUNT_INVALID",
                "more than remains",
            );
        }
        self.refund_count += 1;
        let t = now();
        let status = match self.refund_mode {
            RefundMode::Complete => "COMPLETED",
            RefundMode::Pending => "PENDING",
        };
        let mut r = json!({
            "id": format!("{pid}_{}", new_id()), "status": status,
            "amount_money": {"amount": amount, "currency": currency}, "payment_id": pid,
            "location_id": p["location_id"], "created_at": t, "updated_at": t,
        });
        if let Some(reason) = b["reason"].as_str() {
            r["reason"] = json!(reason);
        }
        self.refunds.push(r.clone());
        out.push(self.event("refund.created", "refund", &r));
        out.push(self.event("refund.updated", "refund", &r));
        let p = self.after_refund(pid, r["id"].as_str().unwrap_or_default());
        out.push(self.event("payment.updated", "payment", &p));
        (200, json!({ "refund": r }))
    }

    /// The payment with its refund ids and completed refunds brought up to date.
    fn after_refund(&mut self, pid: &str, refund_id: &str) -> Value {
        let done: i64 = self
            .refunds
            .iter()
            .filter(|r| r["payment_id"] == pid && r["status"] == "COMPLETED")
            .map(|r| r["amount_money"]["amount"].as_i64().unwrap_or(0))
            .sum();
        let p = self.payment_mut(pid).unwrap();
        let ids = p["refund_ids"].as_array_mut().unwrap();
        if !ids.iter().any(|i| i == refund_id) {
            ids.push(json!(refund_id));
        }
        if done > 0 {
            p["refunded_money"] =
                json!({"amount": done, "currency": p["amount_money"]["currency"]});
        }
        bump(p);
        p.clone()
    }

    fn list(&self, refunds: bool, q: &HashMap<String, String>) -> (u16, Value) {
        let all = if refunds {
            &self.refunds
        } else {
            &self.payments
        };
        let within = |o: &&Value| {
            let t = o["created_at"].as_str().unwrap_or_default();
            q.get("begin_time").is_none_or(|b| t >= b.as_str())
                && q.get("end_time").is_none_or(|e| t < e.as_str())
                && q.get("location_id")
                    .is_none_or(|l| o["location_id"] == l.as_str())
        };
        let mut items: Vec<&Value> = all.iter().filter(within).collect();
        if q.get("sort_order").is_none_or(|o| o != "ASC") {
            items.reverse();
        }
        let start: usize = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
        let limit: usize = q
            .get("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(100)
            .clamp(1, 100);
        let page: Vec<Value> = items
            .iter()
            .skip(start)
            .take(limit)
            .map(|v| (*v).clone())
            .collect();
        let key = if refunds { "refunds" } else { "payments" };
        let mut body = json!({});
        if !page.is_empty() {
            body[key] = json!(page);
        }
        if items.len() > start + page.len() {
            body["cursor"] = json!((start + page.len()).to_string());
        }
        (200, body)
    }
}

fn bump(p: &mut Value) {
    p["version"] = json!(p["version"].as_i64().unwrap_or(0) + 1);
    p["updated_at"] = json!(now());
}

impl State {
    /// Delivers events in order (or queues them while held), each up to three times.
    async fn send(&self, events: Vec<Value>) -> usize {
        if events.is_empty() {
            return 0;
        }
        {
            let mut held = self.held.lock().unwrap();
            if held.0 {
                held.1.extend(events);
                return 0;
            }
        }
        let _order = self.sending.lock().await;
        let url = self.webhook_url.lock().unwrap().clone();
        if url.is_empty() {
            return 0;
        }
        let mut taken = 0;
        for e in events {
            let body = e.to_string();
            let sig = signature(&self.config.signature_key, &url, body.as_bytes());
            for attempt in 1..=3u32 {
                let status = match self
                    .http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-square-hmacsha256-signature", &sig)
                    .body(body.clone())
                    .send()
                    .await
                {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                };
                self.deliveries.lock().unwrap().push(Delivery {
                    event_id: e["event_id"].as_str().unwrap_or_default().to_string(),
                    event_type: e["type"].as_str().unwrap_or_default().to_string(),
                    status,
                    attempt,
                });
                if (200..300).contains(&status) {
                    taken += 1;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
        }
        taken
    }
}

async fn handle(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let method = req.method().as_str().to_string();
    let path = req.path().to_string();
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        == Some(state.config.access_token.as_str());
    let (status, answer, key, sent, replayed, delay, malformed, events) = {
        let mut faults = state.faults.lock().unwrap();
        if faults.fail > 0 {
            faults.fail -= 1;
            let (code, cat) = match faults.fail_status {
                429 => ("RATE_LIMITED", "RATE_LIMIT_ERROR"),
                503 => ("SERVICE_UNAVAILABLE", "API_ERROR"),
                _ => ("INTERNAL_SERVER_ERROR", "API_ERROR"),
            };
            let (s, b) = error(faults.fail_status, cat, code, "injected fault");
            let sent: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let key = sent["idempotency_key"].as_str().map(str::to_string);
            record(&state, &method, &path, key, sent, s, false);
            return HttpResponse::build(status_code(s)).json(b);
        }
        let delay = (faults.delay > 0).then(|| {
            faults.delay -= 1;
            faults.delay_for
        });
        let malformed = faults.malformed > 0;
        if malformed {
            faults.malformed -= 1;
        }
        drop(faults);
        let mut events = Vec::new();
        let sent: Value = if method == "POST" {
            serde_json::from_slice(&body).unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        let key = sent["idempotency_key"].as_str().map(str::to_string);
        let mut store = state.store.lock().unwrap();
        let mut replayed = false;
        let (status, answer) = if !authorized {
            error(
                401,
                "AUTHENTICATION_ERROR",
                "UNAUTHORIZED",
                "the access token is not valid",
            )
        } else if method == "POST" && sent.is_null() {
            error(
                400,
                "INVALID_REQUEST_ERROR",
                "BAD_REQUEST",
                "the body is not JSON",
            )
        } else if let Some(k) = key.as_deref().filter(|k| k.len() > 45) {
            let _ = k;
            invalid(
                "VALUE_TOO_LONG",
                "idempotency_key",
                "idempotency_key is too long",
            )
        } else if let Some((first, s, a)) = key
            .as_ref()
            .and_then(|k| store.keys.get(&(path.clone(), k.clone())))
        {
            if *first == sent {
                replayed = true;
                (*s, a.clone())
            } else {
                invalid(
                    "IDEMPOTENCY_KEY_REUSED",
                    "idempotency_key",
                    "the key was used with another request",
                )
            }
        } else {
            let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
            let query: HashMap<String, String> =
                serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
            let (s, a) = match (method.as_str(), segments.as_slice()) {
                ("POST", ["v2", "payments"]) => match key {
                    None => invalid(
                        "MISSING_REQUIRED_PARAMETER",
                        "idempotency_key",
                        "idempotency_key is required",
                    ),
                    Some(_) => store.create_payment(&sent, &state.config, &mut events),
                },
                ("POST", ["v2", "payments", id, "cancel"]) => store.cancel_payment(id, &mut events),
                ("POST", ["v2", "refunds"]) => match key {
                    None => invalid(
                        "MISSING_REQUIRED_PARAMETER",
                        "idempotency_key",
                        "idempotency_key is required",
                    ),
                    Some(_) => store.create_refund(&sent, &mut events),
                },
                ("GET", ["v2", "payments"]) => store.list(false, &query),
                ("GET", ["v2", "refunds"]) => store.list(true, &query),
                ("GET", ["v2", "payments", id]) => {
                    match store.payments.iter().find(|p| p["id"] == *id) {
                        Some(p) => (200, json!({ "payment": p })),
                        None => not_found("payment"),
                    }
                }
                ("GET", ["v2", "refunds", id]) => {
                    match store.refunds.iter().find(|r| r["id"] == *id) {
                        Some(r) => (200, json!({ "refund": r })),
                        None => not_found("refund"),
                    }
                }
                _ => not_found("path"),
            };
            // Work that reached Square is remembered under its key, declines included.
            if let Some(k) = &key
                && !matches!(s, 401 | 404)
                && !(s == 400 && a["errors"][0]["category"] == "INVALID_REQUEST_ERROR")
            {
                store
                    .keys
                    .insert((path.clone(), k.clone()), (sent.clone(), s, a.clone()));
            }
            (s, a)
        };
        (
            status, answer, key, sent, replayed, delay, malformed, events,
        )
    };
    record(&state, &method, &path, key, sent, status, replayed);
    let st = state.clone();
    tokio::spawn(async move {
        st.send(events).await;
    });
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    if malformed {
        return HttpResponse::Ok()
            .content_type("text/html")
            .body("<html>upstream hiccup");
    }
    HttpResponse::build(status_code(status)).json(answer)
}

fn status_code(s: u16) -> actix_web::http::StatusCode {
    actix_web::http::StatusCode::from_u16(s).unwrap()
}

fn record(
    state: &State,
    method: &str,
    path: &str,
    key: Option<String>,
    body: Value,
    status: u16,
    replayed: bool,
) {
    state.requests.lock().unwrap().push(RecordedRequest {
        method: method.to_string(),
        path: path.to_string(),
        idempotency_key: key,
        body,
        status,
        replayed,
    });
}

impl FakeSquare {
    /// Starts on `port` (0 for any) on 127.0.0.1. Call from within a tokio runtime.
    pub fn start(config: Config, port: u16) -> std::io::Result<FakeSquare> {
        telemetry::install_crypto_provider();
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(0)
            .build()
            .map_err(std::io::Error::other)?;
        let state = Arc::new(State {
            webhook_url: Mutex::new(config.webhook_url.clone()),
            config,
            store: Mutex::new(Store::default()),
            faults: Mutex::new(Faults::default()),
            requests: Mutex::new(Vec::new()),
            held: Mutex::new((false, Vec::new())),
            deliveries: Mutex::new(Vec::new()),
            sending: tokio::sync::Mutex::new(()),
            http,
        });
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .default_service(web::to(handle))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(FakeSquare {
            url,
            state,
            server: handle,
        })
    }

    pub async fn stop(self) {
        self.server.stop(true).await;
    }

    /// Points the webhooks (and the URL their signature covers) elsewhere.
    pub fn set_webhook_url(&self, url: &str) {
        *self.state.webhook_url.lock().unwrap() = url.to_string();
    }

    /// Payments completed ever (successful charges).
    pub fn payments(&self) -> usize {
        self.state.store.lock().unwrap().completed
    }

    /// Payments that reached the card: completed and declined (not replays).
    pub fn payment_attempts(&self) -> usize {
        self.state.store.lock().unwrap().attempts
    }

    pub fn refunds(&self) -> usize {
        self.state.store.lock().unwrap().refund_count
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The `POST` requests to `path`, oldest first.
    pub fn posts_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == path)
            .collect()
    }

    pub fn payment(&self, id: &str) -> Option<Value> {
        let store = self.state.store.lock().unwrap();
        store.payments.iter().find(|p| p["id"] == id).cloned()
    }

    /// Every payment made with `reference_id`, oldest first.
    pub fn payments_with_reference(&self, reference_id: &str) -> Vec<Value> {
        let store = self.state.store.lock().unwrap();
        store
            .payments
            .iter()
            .filter(|p| p["reference_id"] == reference_id)
            .cloned()
            .collect()
    }

    /// The next `n` requests are answered `status` before anything is done or stored.
    pub fn fail_next(&self, n: u32, status: u16) {
        let mut f = self.state.faults.lock().unwrap();
        f.fail = n;
        f.fail_status = status;
    }

    /// The next `n` requests do their work but answer only after `d`.
    pub fn delay_next(&self, n: u32, d: Duration) {
        let mut f = self.state.faults.lock().unwrap();
        f.delay = n;
        f.delay_for = d;
    }

    /// The next `n` requests do their work, then answer 200 with a body that is not JSON.
    pub fn malformed_next(&self, n: u32) {
        self.state.faults.lock().unwrap().malformed = n;
    }

    pub fn hold_webhooks(&self, hold: bool) {
        self.state.held.lock().unwrap().0 = hold;
    }

    pub fn held(&self) -> Vec<Value> {
        self.state.held.lock().unwrap().1.clone()
    }

    /// Sends the held events (and stops holding); how many the receiver took.
    pub async fn release(&self, order: Release) -> usize {
        let mut events = {
            let mut held = self.state.held.lock().unwrap();
            held.0 = false;
            std::mem::take(&mut held.1)
        };
        if order == Release::Reversed {
            events.reverse();
        }
        self.state.send(events).await
    }

    /// Delivers an event again, `times` times; how many the receiver took.
    pub async fn resend(&self, event_id: &str, times: u32) -> usize {
        let event = {
            let store = self.state.store.lock().unwrap();
            store
                .events
                .iter()
                .find(|e| e["event_id"] == event_id)
                .cloned()
        };
        match event {
            Some(e) => self.state.send(vec![e; times as usize]).await,
            None => 0,
        }
    }

    pub fn events(&self) -> Vec<Value> {
        self.state.store.lock().unwrap().events.clone()
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state.deliveries.lock().unwrap().clone()
    }

    pub fn set_refund_mode(&self, mode: RefundMode) {
        self.state.store.lock().unwrap().refund_mode = mode;
    }

    /// A pending refund completes or fails (`refund.updated`, `payment.updated`).
    pub async fn settle_refund(&self, refund_id: &str, succeed: bool) -> Result<(), String> {
        let events = {
            let mut store = self.state.store.lock().unwrap();
            let Some(r) = store.refunds.iter_mut().find(|r| r["id"] == refund_id) else {
                return Err(format!("no refund {refund_id}"));
            };
            if r["status"] != "PENDING" {
                return Err(format!("refund {refund_id} is not pending"));
            }
            r["status"] = json!(if succeed { "COMPLETED" } else { "FAILED" });
            r["updated_at"] = json!(now());
            let r = r.clone();
            let pid = r["payment_id"].as_str().unwrap_or_default().to_string();
            let e1 = store.event("refund.updated", "refund", &r);
            let p = store.after_refund(&pid, refund_id);
            let e2 = store.event("payment.updated", "payment", &p);
            vec![e1, e2]
        };
        self.state.send(events).await;
        Ok(())
    }

    /// A completed payment made at Square outside the platform; no webhook. Its id.
    pub fn inject_payment(
        &self,
        amount: i64,
        currency: &str,
        reference_id: Option<&str>,
    ) -> String {
        let mut store = self.state.store.lock().unwrap();
        let t = now();
        let id = new_id();
        let money = json!({"amount": amount, "currency": currency});
        let mut p = json!({
            "id": id, "created_at": t, "updated_at": t, "amount_money": money,
            "total_money": money, "approved_money": money, "status": "COMPLETED",
            "source_type": "CARD", "card_details": {"status": "CAPTURED"},
            "location_id": self.state.config.location_id, "refund_ids": [], "version": 1,
            "processing_fee": [{"effective_at": t, "type": "INITIAL",
                "amount_money": {"amount": store.fee(amount, &self.state.config), "currency": currency}}],
        });
        if let Some(r) = reference_id {
            p["reference_id"] = json!(r);
        }
        store.payments.push(p);
        id
    }

    /// Changes a payment's amount in place; no webhook.
    pub fn set_payment_amount(&self, payment_id: &str, amount: i64) {
        let mut store = self.state.store.lock().unwrap();
        if let Some(p) = store.payment_mut(payment_id) {
            p["amount_money"]["amount"] = json!(amount);
            p["total_money"]["amount"] = json!(amount);
        }
    }
}
