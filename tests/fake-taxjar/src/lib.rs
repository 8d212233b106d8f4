//! A fake TaxJar for tests and `make run`: `POST /v2/taxes` as TaxJar speaks it (bearer token,
//! decimal-dollar JSON numbers, `shipping` required, `to_zip` and `to_state` required in the US,
//! `exemption_type`, `nexus_addresses`, `line_items` with `unit_price`, `quantity` and
//! `discount`), answering `tax{amount_to_collect, rate, has_nexus, exemption_type,
//! breakdown.line_items[{id, taxable_amount, tax_collectable, combined_tax_rate}]}`.
//!
//! Rates are per country and state (settable); a destination whose state (or country, outside
//! the US and Canada) is not among the request's `nexus_addresses` has no nexus and no tax. Each
//! line's tax is its taxable amount × the rate, rounded half up to the cent, as TaxJar does.
//! It counts calls, keeps the requests, and fails on demand (500, a slow answer, a malformed
//! body).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use rust_decimal::Decimal;
use rust_decimal::prelude::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The next answers' faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 500 with TaxJar's error body.
    ServerError,
    /// A well-formed answer after this many milliseconds (longer than the client waits).
    Slow(u64),
    /// 200 with a body that is not TaxJar's.
    Malformed,
}

struct State {
    token: String,
    /// "US-CA" / "DE" → rate (a fraction: 0.0725).
    rates: Mutex<HashMap<String, Decimal>>,
    faults: Mutex<Vec<Fault>>,
    calls: AtomicUsize,
    requests: Mutex<Vec<Value>>,
    slow_ms: AtomicU64,
    unauthorized: AtomicU32,
}

/// A running fake TaxJar.
pub struct FakeTaxJar {
    /// The API base, as the platform's `tax_api_base` takes it (ends in `/v2`).
    pub url: String,
    state: Arc<State>,
    server: actix_web::dev::ServerHandle,
}

/// Rates the fake starts with (decimal fractions).
pub const DEFAULT_RATES: &[(&str, &str)] = &[
    ("US-CA", "0.0725"),
    ("US-NY", "0.08875"),
    ("US-TX", "0.0625"),
    ("US-WA", "0.065"),
    ("CA-ON", "0.13"),
    ("DE", "0.19"),
    ("FR", "0.20"),
    ("GB", "0.20"),
];

impl FakeTaxJar {
    /// Starts on `port` (0 for any) on 127.0.0.1, accepting `token`.
    pub fn start(token: &str, port: u16) -> std::io::Result<FakeTaxJar> {
        telemetry::install_crypto_provider();
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let url = format!("http://127.0.0.1:{}/v2", listener.local_addr()?.port());
        let rates = DEFAULT_RATES
            .iter()
            .map(|(k, v)| (k.to_string(), Decimal::from_str(v).unwrap()))
            .collect();
        let state = Arc::new(State {
            token: token.to_string(),
            rates: Mutex::new(rates),
            faults: Mutex::new(Vec::new()),
            calls: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
            slow_ms: AtomicU64::new(0),
            unauthorized: AtomicU32::new(0),
        });
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/v2/taxes", web::post().to(taxes))
                .route("/calls", web::get().to(calls))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(FakeTaxJar {
            url,
            state,
            server: handle,
        })
    }

    /// Sets the rate of `region` ("US-CA", or a country code) as a decimal fraction ("0.0725").
    pub fn set_rate(&self, region: &str, rate: &str) {
        self.state
            .rates
            .lock()
            .unwrap()
            .insert(region.to_string(), Decimal::from_str(rate).unwrap());
    }

    /// The next answers fail as listed, in order; answers after them are normal.
    pub fn fail_next(&self, faults: &[Fault]) {
        self.state.faults.lock().unwrap().extend_from_slice(faults);
    }

    /// `POST /v2/taxes` calls received (any answer).
    pub fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }

    /// The request bodies received, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Calls refused for their token.
    pub fn unauthorized(&self) -> u32 {
        self.state.unauthorized.load(Ordering::SeqCst)
    }

    pub async fn stop(self) {
        self.server.stop(true).await;
    }
}

async fn calls(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "calls": state.calls.load(Ordering::SeqCst),
        "slowMs": state.slow_ms.load(Ordering::SeqCst),
    }))
}

fn error(status: u16, error: &str, detail: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .json(json!({"status": status, "error": error, "detail": detail}))
}

/// A JSON number as an exact decimal (serde_json prints the shortest form that reads back).
fn dec(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => Decimal::from_str(&n.to_string()).ok(),
        _ => None,
    }
}

fn money(d: Decimal) -> Value {
    let d = d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    serde_json::from_str(&d.normalize().to_string()).unwrap()
}

fn fraction(rate: Decimal) -> Value {
    serde_json::from_str(&rate.normalize().to_string()).unwrap()
}

async fn taxes(req: HttpRequest, state: web::Data<State>, body: web::Bytes) -> HttpResponse {
    state.calls.fetch_add(1, Ordering::SeqCst);
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("Bearer {}", state.token)
        && auth != format!("Token token=\"{}\"", state.token)
    {
        state.unauthorized.fetch_add(1, Ordering::SeqCst);
        return error(
            401,
            "Unauthorized",
            "Not authorized for route 'POST /v2/taxes'",
        );
    }
    let fault = {
        let mut f = state.faults.lock().unwrap();
        (!f.is_empty()).then(|| f.remove(0))
    };
    match fault {
        Some(Fault::ServerError) => {
            return error(500, "Internal Server Error", "Something went wrong");
        }
        Some(Fault::Malformed) => {
            return HttpResponse::Ok()
                .content_type("application/json")
                .body("{\"tax\": [");
        }
        Some(Fault::Slow(ms)) => {
            state.slow_ms.fetch_add(ms, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        None => {}
    }
    let Ok(b) = serde_json::from_slice::<Value>(&body) else {
        return error(400, "Bad Request", "Invalid JSON");
    };
    state.requests.lock().unwrap().push(b.clone());
    let country = b["to_country"].as_str().unwrap_or_default().to_string();
    let st = b["to_state"].as_str().unwrap_or_default().to_string();
    if country.len() != 2 {
        return error(400, "Bad Request", "to_country is missing");
    }
    if country == "US" && b["to_zip"].as_str().is_none_or(str::is_empty) {
        return error(400, "Bad Request", "to_zip is missing");
    }
    if (country == "US" || country == "CA") && st.is_empty() {
        return error(400, "Bad Request", "to_state is missing");
    }
    if dec(&b["shipping"]).is_none() {
        return error(400, "Bad Request", "shipping is missing");
    }
    let region = if country == "US" || country == "CA" {
        format!("{country}-{st}")
    } else {
        country.clone()
    };
    let nexus = b["nexus_addresses"].as_array().is_some_and(|n| {
        n.iter().any(|a| {
            a["country"] == country.as_str() && (region == country || a["state"] == st.as_str())
        })
    });
    let exemption = b["exemption_type"]
        .as_str()
        .unwrap_or("non_exempt")
        .to_string();
    let exempt = matches!(exemption.as_str(), "wholesale" | "government" | "other");
    let rate = if nexus && !exempt {
        state
            .rates
            .lock()
            .unwrap()
            .get(&region)
            .copied()
            .unwrap_or_default()
    } else {
        Decimal::ZERO
    };
    let mut lines = Vec::new();
    let mut total_taxable = Decimal::ZERO;
    let mut total_tax = Decimal::ZERO;
    let mut order_total = Decimal::ZERO;
    for l in b["line_items"].as_array().cloned().unwrap_or_default() {
        let (Some(price), Some(qty)) = (dec(&l["unit_price"]), dec(&l["quantity"])) else {
            return error(
                400,
                "Bad Request",
                "line_items need unit_price and quantity",
            );
        };
        let discount = dec(&l["discount"]).unwrap_or_default();
        let taxable = (price * qty - discount).max(Decimal::ZERO);
        let tax =
            (taxable * rate).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        order_total += taxable;
        total_taxable += if rate.is_zero() {
            Decimal::ZERO
        } else {
            taxable
        };
        total_tax += tax;
        lines.push(json!({
            "id": l["id"],
            "taxable_amount": money(if rate.is_zero() { Decimal::ZERO } else { taxable }),
            "tax_collectable": money(tax),
            "combined_tax_rate": fraction(rate),
        }));
    }
    HttpResponse::Ok().json(json!({
        "tax": {
            "order_total_amount": money(order_total),
            "shipping": 0.0,
            "taxable_amount": money(total_taxable),
            "amount_to_collect": money(total_tax),
            "rate": fraction(rate),
            "has_nexus": nexus,
            "freight_taxable": false,
            "tax_source": "destination",
            "exemption_type": exemption,
            "jurisdictions": {"country": country, "state": st},
            "breakdown": {
                "taxable_amount": money(total_taxable),
                "tax_collectable": money(total_tax),
                "combined_tax_rate": fraction(rate),
                "line_items": lines,
            }
        }
    }))
}
