//! A fake Payout Platform for tests and `make run`. It accepts the commerce platform's
//! `POST /api/v1/webhooks/revenue-recorded` and `/refund-issued`, verifies their Standard Webhooks
//! signature, de-duplicates by `webhook-id` (a retry is answered with the ledger entry it already
//! made), answers `{success, ledgerEntryId}`, and lists what it received. It can fail the next N
//! requests with 500.
// An outside system: it reads the wall clock as the real platform would.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Config {
    /// `whsec_…` secret shared with commerce.
    pub webhook_secret: String,
}

/// One webhook as accepted (the first of its webhook id).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Received {
    /// `revenue-recorded` or `refund-issued`.
    pub kind: String,
    pub webhook_id: String,
    pub ledger_entry_id: String,
    pub body: Value,
}

struct State {
    config: Config,
    fail_next: AtomicU32,
    /// Every request that reached the endpoints, whatever the answer.
    requests: AtomicUsize,
    /// Requests refused for their signature.
    bad_signatures: AtomicUsize,
    received: Mutex<Vec<Received>>,
    /// Webhook id → ledger entry id: a retry never records twice.
    seen: Mutex<HashMap<String, String>>,
}

/// A running fake Payout Platform.
pub struct FakePayout {
    pub url: String,
    state: Arc<State>,
    server: actix_web::dev::ServerHandle,
}

impl FakePayout {
    /// Starts on `port` (0 for any) on 127.0.0.1.
    pub fn start(config: Config, port: u16) -> std::io::Result<FakePayout> {
        telemetry::install_crypto_provider();
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let state = Arc::new(State {
            config,
            fail_next: AtomicU32::new(0),
            requests: AtomicUsize::new(0),
            bad_signatures: AtomicUsize::new(0),
            received: Mutex::new(Vec::new()),
            seen: Mutex::new(HashMap::new()),
        });
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::default().limit(1 << 20))
                .route(
                    "/api/v1/webhooks/revenue-recorded",
                    web::post().to(|r, s, b| webhook("revenue-recorded", r, s, b)),
                )
                .route(
                    "/api/v1/webhooks/refund-issued",
                    web::post().to(|r, s, b| webhook("refund-issued", r, s, b)),
                )
                .route("/received", web::get().to(received))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(FakePayout {
            url,
            state,
            server: handle,
        })
    }

    /// Answers the next `n` requests with 500.
    pub fn fail_next(&self, n: u32) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    /// Webhooks accepted, one per webhook id.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Every request that reached the endpoints.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    pub fn bad_signatures(&self) -> usize {
        self.state.bad_signatures.load(Ordering::SeqCst)
    }

    pub async fn stop(self) {
        self.server.stop(true).await;
    }
}

async fn received(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok().json(state.received.lock().unwrap().clone())
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn webhook(
    kind: &'static str,
    req: HttpRequest,
    state: web::Data<State>,
    body: web::Bytes,
) -> HttpResponse {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let (Some(id), Some(ts), Some(sig)) = (
        header(&req, "webhook-id"),
        header(&req, "webhook-timestamp").and_then(|t| t.parse::<i64>().ok()),
        header(&req, "webhook-signature"),
    ) else {
        state.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return HttpResponse::BadRequest().json(
            json!({"success": false, "message": "webhook-id, -timestamp and -signature required"}),
        );
    };
    let now = chrono::Utc::now().timestamp();
    if ::web::standard_webhooks::verify(&state.config.webhook_secret, id, ts, sig, &body, now)
        .is_err()
    {
        state.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return HttpResponse::Unauthorized()
            .json(json!({"success": false, "message": "bad signature"}));
    }
    if state
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return HttpResponse::InternalServerError()
            .json(json!({"success": false, "message": "try later"}));
    }
    let Ok(parsed) = serde_json::from_slice::<Value>(&body) else {
        return HttpResponse::BadRequest().json(json!({"success": false, "message": "not JSON"}));
    };
    let expected = if kind == "revenue-recorded" {
        "payment.completed"
    } else {
        "refund.issued"
    };
    if parsed["source"] != "commerce-platform" || parsed["event"] != expected {
        return HttpResponse::UnprocessableEntity()
            .json(json!({"success": false, "message": "unexpected source or event"}));
    }
    let entry = {
        let mut seen = state.seen.lock().unwrap();
        match seen.get(id) {
            Some(e) => e.clone(),
            None => {
                let e = format!("ple_{}", uuid::Uuid::now_v7().simple());
                seen.insert(id.to_string(), e.clone());
                state.received.lock().unwrap().push(Received {
                    kind: kind.to_string(),
                    webhook_id: id.to_string(),
                    ledger_entry_id: e.clone(),
                    body: parsed,
                });
                e
            }
        }
    };
    HttpResponse::Ok().json(json!({"success": true, "ledgerEntryId": entry}))
}
