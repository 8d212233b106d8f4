//! A fake Square for tests and `make run`: the part of the Payments and Refunds APIs the
//! platform uses, in Square's wire format (bearer token, JSON bodies, `errors[]` with category
//! and code, amounts in `amount_money`), with Square's idempotency (the same key and body give
//! the stored answer; the same key with another body is `IDEMPOTENCY_KEY_REUSED`).
//!
//! `POST /v2/payments` takes the sandbox's card nonces: `cnon:card-nonce-ok` (and any other
//! `cnon:` or `ccof:` source) succeeds; `cnon:card-nonce-declined`, `…-rejected-cvv`,
//! `…-rejected-postalcode` and `…-rejected-expiration` are declined (400, a
//! `PAYMENT_METHOD_ERROR` with the `FAILED` payment); `cnon:card-nonce-already-used` is refused.
//! Each card's fingerprint is derived from its source, so one nonce is one card. With
//! `autocomplete: false` a payment stays `APPROVED` until `POST /v2/payments/{id}/cancel` (or
//! `/complete`). Refunds are capped at what remains. `GET /v2/payments` and `GET /v2/refunds`
//! list by time with cursors.
//!
//! Webhooks (`payment.created`, `payment.updated`, `refund.created`, `refund.updated`) are
//! signed as Square signs them: base64 HMAC-SHA256 of the notification URL followed by the raw
//! body, in `x-square-hmacsha256-signature`. Tests can hold, reorder and resend them, inject
//! faults (`fail_next`, `delay_next`, `malformed_next`), settle pending refunds, and make
//! payments Square has but the platform never made (`inject_payment`, `set_payment_amount`).
// An outside system: it reads the wall clock and makes random ids as the real Square would.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod store;
mod webhooks;

pub use webhooks::signature;

use actix_web::{App, HttpServer, web};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{Store, new_id, now};

/// How the fake is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// The bearer token the API accepts.
    pub access_token: String,
    /// The one location payments are made at.
    pub location_id: String,
    /// Where webhooks go (empty: nowhere); also the notification URL the signature covers.
    pub webhook_url: String,
    /// The webhook subscription's signature key.
    pub signature_key: String,
    /// Percentage part of the processing fee, in basis points (rounded half up).
    pub fee_bps: u32,
    /// Fixed part of the processing fee, in minor units.
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
    /// `GET` or `POST`.
    pub method: String,
    /// The path, without the query (`/v2/payments`).
    pub path: String,
    /// The body's `idempotency_key`.
    pub idempotency_key: Option<String>,
    /// The JSON body (`Null` for a `GET` or a body that is not JSON).
    pub body: Value,
    /// HTTP status answered.
    pub status: u16,
    /// Answered from the idempotency store.
    pub replayed: bool,
}

/// One attempt to deliver an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The event's `event_id`.
    pub event_id: String,
    /// The event's `type` (`payment.updated`).
    pub event_type: String,
    /// What the receiver answered; 0 when it could not be reached.
    pub status: u16,
    /// 1 to 3 within one delivery.
    pub attempt: u32,
}

/// The order [`FakeSquare::release`] sends held events in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Oldest first.
    InOrder,
    /// Newest first.
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

pub(crate) struct State {
    config: Config,
    webhook_url: Mutex<String>,
    store: Mutex<Store>,
    keys: Mutex<api::Keys>,
    faults: Mutex<api::Faults>,
    requests: Mutex<Vec<RecordedRequest>>,
    outbox: Mutex<webhooks::Outbox>,
    deliveries: Mutex<Vec<Delivery>>,
    /// One sender at a time, so events arrive in the order they were made.
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
            store: Mutex::new(Store::new(config.clone())),
            config,
            keys: Mutex::new(api::Keys::default()),
            faults: Mutex::new(api::Faults::default()),
            requests: Mutex::new(Vec::new()),
            outbox: Mutex::new(webhooks::Outbox::default()),
            deliveries: Mutex::new(Vec::new()),
            sending: tokio::sync::Mutex::new(()),
            http,
        });
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .default_service(web::to(api::handle))
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

    /// Stops the server (gracefully).
    pub async fn stop(self) {
        self.server.stop(true).await;
    }

    /// Points the webhooks (and the URL their signature covers) elsewhere.
    pub fn set_webhook_url(&self, url: &str) {
        *self.state.webhook_url.lock().unwrap() = url.to_string();
    }

    /// Payments completed through the API ever (successful charges; not injected ones).
    pub fn payments(&self) -> usize {
        self.state.store.lock().unwrap().completed
    }

    /// `CreatePayment` calls that reached the card, successes and declines (not replays, not
    /// requests refused as invalid).
    pub fn payment_attempts(&self) -> usize {
        self.state.store.lock().unwrap().attempts
    }

    /// Refunds created, whatever became of them.
    pub fn refunds(&self) -> usize {
        self.state.store.lock().unwrap().refund_count
    }

    /// Every API request, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The `POST` requests to `path` (`/v2/payments`), oldest first.
    pub fn posts_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == path)
            .collect()
    }

    /// The current payment JSON.
    pub fn payment(&self, id: &str) -> Option<Value> {
        self.state.store.lock().unwrap().payment(id).cloned()
    }

    /// Every payment with `reference_id`, oldest first.
    pub fn payments_with_reference(&self, reference_id: &str) -> Vec<Value> {
        let store = self.state.store.lock().unwrap();
        store
            .payments
            .iter()
            .filter(|p| p["reference_id"] == reference_id)
            .cloned()
            .collect()
    }

    /// The next `n` API requests are answered `status` (500, 502, 503, 504: `API_ERROR`; 429:
    /// `RATE_LIMIT_ERROR`) before anything runs: nothing is stored under their key, so a retry
    /// with the same key runs normally.
    pub fn fail_next(&self, n: u32, status: u16) {
        let mut f = self.state.faults.lock().unwrap();
        f.fail = n;
        f.fail_status = status;
    }

    /// The next `n` API requests do their work (and store their answer under their key) but
    /// answer only after `d`.
    pub fn delay_next(&self, n: u32, d: Duration) {
        let mut f = self.state.faults.lock().unwrap();
        f.delay = n;
        f.delay_for = d;
    }

    /// The next `n` API requests do their work, then answer 200 with a body that is not JSON.
    pub fn malformed_next(&self, n: u32) {
        self.state.faults.lock().unwrap().malformed = n;
    }

    /// While held, events queue instead of being sent.
    pub fn hold_webhooks(&self, hold: bool) {
        self.state.outbox.lock().unwrap().hold = hold;
    }

    /// The held events, oldest first.
    pub fn held(&self) -> Vec<Value> {
        self.state.outbox.lock().unwrap().held.clone()
    }

    /// Stops holding and sends the held events; how many the receiver took (2xx).
    pub async fn release(&self, order: Release) -> usize {
        let queued = {
            let mut outbox = self.state.outbox.lock().unwrap();
            outbox.hold = false;
            let mut events = std::mem::take(&mut outbox.held);
            drop(outbox);
            if order == Release::Reversed {
                events.reverse();
            }
            self.state.enqueue(events, false)
        };
        self.state.send_now(queued).await
    }

    /// Delivers an event again, the same body `times` times, each freshly sent; how many the
    /// receiver took (2xx). While webhooks are held the copies are held and 0 is returned.
    pub async fn resend(&self, event_id: &str, times: u32) -> usize {
        let queued = {
            let store = self.state.store.lock().unwrap();
            let Some(e) = store.events.iter().find(|e| e["event_id"] == event_id) else {
                return 0;
            };
            self.state.enqueue(vec![e.clone(); times as usize], true)
        };
        self.state.send_now(queued).await
    }

    /// Every event made, oldest first (sent, held or not deliverable).
    pub fn events(&self) -> Vec<Value> {
        self.state.store.lock().unwrap().events.clone()
    }

    /// Every delivery attempt, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state.deliveries.lock().unwrap().clone()
    }

    /// What refunds created from now on do.
    pub fn set_refund_mode(&self, mode: RefundMode) {
        self.state.store.lock().unwrap().refund_mode = mode;
    }

    /// A `PENDING` refund becomes `COMPLETED` or `FAILED`: `refund.updated`, then
    /// `payment.updated` (with the new `refunded_money`), sent before this returns.
    pub async fn settle_refund(&self, refund_id: &str, succeed: bool) -> Result<(), String> {
        let queued = {
            let mut store = self.state.store.lock().unwrap();
            let mut out = Vec::new();
            store.settle_refund(refund_id, succeed, &mut out)?;
            self.state.enqueue(out, true)
        };
        self.state.send_now(queued).await;
        Ok(())
    }

    /// Reconciliation test hook: a `COMPLETED` payment made at Square outside the platform (an
    /// orphan); its id. Emits no webhook and is not counted by [`FakeSquare::payments`].
    pub fn inject_payment(
        &self,
        amount: i64,
        currency: &str,
        reference_id: Option<&str>,
    ) -> String {
        let mut store = self.state.store.lock().unwrap();
        let mut p = store.new_payment(amount, currency, &format!("cnon:injected-{}", new_id()));
        store.capture(&mut p);
        if let Some(r) = reference_id {
            p["reference_id"] = json!(r);
        }
        let id = p["id"].as_str().unwrap_or_default().to_string();
        store.payments.push(p);
        id
    }

    /// Changes a payment's `amount_money` and `total_money` in place (an injected mismatch).
    /// No webhook.
    pub fn set_payment_amount(&self, payment_id: &str, amount: i64) {
        let mut store = self.state.store.lock().unwrap();
        if let Some(p) = store.payments.iter_mut().find(|p| p["id"] == payment_id) {
            p["amount_money"]["amount"] = json!(amount);
            p["total_money"]["amount"] = json!(amount);
            p["updated_at"] = json!(now());
        }
    }
}
