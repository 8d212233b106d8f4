//! A fake Stripe for tests, benchmarks and `make run`: a stateful fake of the part of the Stripe
//! API the platform uses, speaking Stripe's wire format (form-encoded requests, Stripe's JSON
//! objects and errors, `Idempotency-Key` semantics), so the real Stripe client library can be
//! pointed at it (`stripe::ClientBuilder::new(sk).url(format!("{}/", fake.url))`).
//!
//! It serves customers, PaymentIntents (create, confirm, cancel, retrieve with `expand`),
//! charges, balance transactions (with the fee of [`Config`]), refunds (create, retrieve, list)
//! and, read-only, disputes and events. Confirming uses Stripe's test payment methods:
//! `pm_card_visa`, `pm_card_mastercard`, `pm_card_amex` succeed; `pm_card_googlePay` (the
//! fake's own name) succeeds as a Google Pay wallet charge; `pm_card_visa_chargeDeclined` and
//! `pm_card_visa_chargeDeclinedInsufficientFunds` (also without `visa_`) are declined (402);
//! `pm_card_authenticationRequired` and `pm_card_threeDSecure2Required` need 3-D Secure
//! (`requires_action`, finished by [`FakeStripe::complete_action`] or by opening the
//! `next_action` URL).
//!
//! Events are signed like Stripe's (`Stripe-Signature`) and posted to the webhook URL. Tests
//! can hold and release them (in order or reversed), resend them, make Stripe act on its own
//! (3-D Secure, Dashboard refunds, refunds settling, disputes), and inject faults in front of
//! the API (`fail_next`) or slow answers after the work is done (`delay_next`). Only the event
//! types named in the methods' docs are emitted (as if the endpoint subscribed to those).
// An outside system: it reads the wall clock and makes random ids as the real Stripe would.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod form;
mod objects;
mod refunds;
mod store;
mod webhooks;

pub use webhooks::signature;

use actix_web::{App, HttpServer, web};
use objects::ApiError;
use serde_json::Value;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{Ctx, Store};

#[derive(Debug, Clone)]
pub struct Config {
    /// The `sk_…` key the API accepts.
    pub secret_key: String,
    /// Full URL events are posted to.
    pub webhook_url: String,
    /// `whsec_…` secret the events are signed with (its bytes are the HMAC key, as Stripe).
    pub webhook_secret: String,
    /// Percentage part of the processing fee, in basis points.
    pub fee_bps: u32,
    /// Fixed part of the processing fee, in minor units.
    pub fee_fixed_minor: i64,
}

impl Config {
    /// With Stripe's standard card fee: 2.9 % + 30.
    pub fn new(
        secret_key: impl Into<String>,
        webhook_url: impl Into<String>,
        webhook_secret: impl Into<String>,
    ) -> Config {
        Config {
            secret_key: secret_key.into(),
            webhook_url: webhook_url.into(),
            webhook_secret: webhook_secret.into(),
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
    /// Form body (`POST`) or query (`GET`) pairs, decoded, in the order sent.
    pub params: Vec<(String, String)>,
    /// HTTP status answered.
    pub status: u16,
    /// Answered from the idempotency store (`Idempotent-Replayed: true`).
    pub replayed: bool,
}

/// One attempt to deliver an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub event_id: String,
    pub event_type: String,
    /// Status the receiver answered; 0 when it could not be reached.
    pub status: u16,
    /// 1 to 3 within one delivery.
    pub attempt: u32,
}

/// The order [`FakeStripe::release`] sends held events in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    InOrder,
    Reversed,
}

/// What a refund does once created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefundMode {
    /// Created `succeeded`.
    #[default]
    Succeed,
    /// Created `pending`, until [`FakeStripe::settle_refund`].
    Pending,
    /// Created `pending`, then failed at once (`expired_or_canceled_card`, `refund.failed`).
    Fail,
}

pub(crate) struct State {
    config: Config,
    webhook_url: Mutex<String>,
    store: Mutex<Store>,
    idempotency: Mutex<api::Keys>,
    faults: Mutex<api::Faults>,
    requests: Mutex<Vec<RecordedRequest>>,
    held: Mutex<webhooks::Held>,
    deliveries: Mutex<Vec<Delivery>>,
    http: reqwest::Client,
}

impl State {
    /// Runs a test action (something Stripe does on its own) and sends its events, waiting for
    /// the receiver unless webhooks are held.
    pub(crate) async fn act<T>(
        &self,
        action: impl FnOnce(&mut Store, &mut Ctx) -> Result<T, ApiError>,
    ) -> Result<T, String> {
        let mut ctx = Ctx::internal();
        let result = action(&mut self.store.lock().unwrap(), &mut ctx);
        let events = self.route(ctx.out);
        self.deliver_all(&events).await;
        result.map_err(|e| e.message())
    }
}

/// A running fake Stripe.
pub struct FakeStripe {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub url: String,
    state: Arc<State>,
    server: actix_web::dev::ServerHandle,
}

impl FakeStripe {
    /// Starts on `port` (0 for any) on 127.0.0.1. Call from within a tokio runtime.
    pub fn start(config: Config, port: u16) -> std::io::Result<FakeStripe> {
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
            store: Mutex::new(Store::new(
                config.fee_bps,
                config.fee_fixed_minor,
                url.clone(),
            )),
            config,
            idempotency: Mutex::new(api::Keys::default()),
            faults: Mutex::new(api::Faults::default()),
            requests: Mutex::new(Vec::new()),
            held: Mutex::new(webhooks::Held::default()),
            deliveries: Mutex::new(Vec::new()),
            http,
        });
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .route("/3d_secure/{id}", web::get().to(api::three_d_secure))
                .default_service(web::to(api::handle))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(FakeStripe {
            url,
            state,
            server: handle,
        })
    }

    pub async fn stop(self) {
        self.server.stop(true).await;
    }

    /// Points the webhooks at the platform (known only once it has started).
    pub fn set_webhook_url(&self, url: &str) {
        *self.state.webhook_url.lock().unwrap() = url.to_string();
    }

    /// Successful charges ever made.
    pub fn charges(&self) -> usize {
        self.state.store.lock().unwrap().counts.charges
    }

    /// Confirmations that reached the card: successes, declines and 3-D Secure challenges.
    pub fn charge_attempts(&self) -> usize {
        self.state.store.lock().unwrap().counts.attempts
    }

    /// Refunds created, whatever became of them.
    pub fn refunds(&self) -> usize {
        self.state.store.lock().unwrap().counts.refunds
    }

    pub fn customers(&self) -> usize {
        self.state.store.lock().unwrap().counts.customers
    }

    /// Every API request, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The `POST` requests to `path` (`/v1/refunds`), oldest first.
    pub fn posts_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == path)
            .collect()
    }

    /// The next `n` API requests are answered `status` (500, 502, 503: `api_error`; 429:
    /// `rate_limit_error`) before the idempotency layer: nothing runs and nothing is stored
    /// under their key, so a retry with the same key runs normally.
    pub fn fail_next(&self, n: u32, status: u16) {
        let mut faults = self.state.faults.lock().unwrap();
        faults.fail = n;
        faults.fail_status = status;
    }

    /// The next `n` API requests do their work (and store their answer under their key) but
    /// answer only after `delay`.
    pub fn delay_next(&self, n: u32, delay: Duration) {
        let mut faults = self.state.faults.lock().unwrap();
        faults.delay = n;
        faults.delay_for = delay;
    }

    /// While held, events (from the API and from test actions) queue instead of being sent.
    pub fn hold_webhooks(&self, hold: bool) {
        self.state.held.lock().unwrap().on = hold;
    }

    /// Queued events, oldest first.
    pub fn held(&self) -> Vec<Value> {
        self.state.held.lock().unwrap().queue.clone()
    }

    /// Sends the held events and clears the queue; how many the receiver took (2xx).
    pub async fn release(&self, order: Release) -> usize {
        let mut events = std::mem::take(&mut self.state.held.lock().unwrap().queue);
        if order == Release::Reversed {
            events.reverse();
        }
        self.state.deliver_all(&events).await
    }

    /// Delivers an existing event `times` more times, each freshly signed; how many were taken
    /// (2xx). While webhooks are held the copies are queued and 0 is returned.
    pub async fn resend(&self, event_id: &str, times: u32) -> usize {
        let Some(event) = self.state.store.lock().unwrap().event(event_id) else {
            return 0;
        };
        let copies = vec![event; times as usize];
        let copies = self.state.route(copies);
        self.state.deliver_all(&copies).await
    }

    /// Every event created, oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.state.store.lock().unwrap().events()
    }

    /// Every delivery attempt, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state.deliveries.lock().unwrap().clone()
    }

    /// Finishes 3-D Secure for an intent in `requires_action`: success charges it
    /// (`payment_intent.succeeded`, `charge.succeeded`); failure sends it back to
    /// `requires_payment_method` with `last_payment_error` (`payment_intent.payment_failed`).
    pub async fn complete_action(&self, intent_id: &str, succeed: bool) -> Result<(), String> {
        self.state
            .act(|s, ctx| s.complete_action(ctx, intent_id, succeed))
            .await
    }

    /// A refund made in the Dashboard (not by the API caller): created `succeeded` whatever the
    /// refund mode, with `refund.created` and `charge.refunded`. `None` refunds what is left.
    pub async fn refund_from_dashboard(
        &self,
        intent_id: &str,
        amount: Option<i64>,
    ) -> Result<String, String> {
        if amount.is_some_and(|a| a < 1) {
            return Err("amount must be at least 1".into());
        }
        let refund = self
            .state
            .act(|s, ctx| {
                let charge = s.charge_of(intent_id)?;
                let metadata = serde_json::Map::new();
                s.refund(ctx, &charge, amount, None, metadata, RefundMode::Succeed)
            })
            .await?;
        Ok(refund["id"].as_str().unwrap_or_default().to_string())
    }

    pub fn set_refund_mode(&self, mode: RefundMode) {
        self.state.store.lock().unwrap().refund_mode = mode;
    }

    /// A pending refund succeeds (`refund.updated`, `charge.refunded`) or fails (`refund.failed`,
    /// `failure_reason` `expired_or_canceled_card`; the amount becomes refundable again).
    pub async fn settle_refund(&self, refund_id: &str, succeed: bool) -> Result<(), String> {
        self.state
            .act(|s, ctx| s.settle_refund(ctx, refund_id, succeed))
            .await
    }

    /// The customer disputes the intent's charge: `charge.dispute.created` with a `dp_` id for
    /// the charge's amount. Refunds of a disputed charge are refused (`charge_disputed`).
    pub async fn dispute(&self, intent_id: &str, reason: &str) -> Result<String, String> {
        self.state
            .act(|s, ctx| s.dispute(ctx, intent_id, reason))
            .await
    }

    /// The current PaymentIntent JSON.
    pub fn intent(&self, intent_id: &str) -> Option<Value> {
        self.state.store.lock().unwrap().intent(intent_id)
    }
}
