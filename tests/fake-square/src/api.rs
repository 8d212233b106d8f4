//! The HTTP side: every request goes through the same steps. A switched-on failure answers
//! first (as a proxy in front of Square would: nothing runs, nothing is stored), then the bearer
//! token and the JSON body are checked, then a create (`POST /v2/payments`, `POST /v2/refunds`)
//! goes through the idempotency layer, and only then does the operation run. Every request is
//! recorded with the status it got; delays and garbled answers apply after the work is done.

use crate::store::{Answer, error, invalid, not_found};
use crate::{RecordedRequest, State};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// Fault switches.
#[derive(Default)]
pub(crate) struct Faults {
    pub fail: u32,
    pub fail_status: u16,
    pub delay: u32,
    pub delay_for: Duration,
    pub malformed: u32,
}

/// Idempotency keys, per path: the body first sent and the answer stored for it.
pub(crate) type Keys = HashMap<(String, String), (Value, Answer)>;

/// The category and code Square gives an injected failure status.
fn failure(status: u16) -> (&'static str, &'static str) {
    match status {
        429 => ("RATE_LIMIT_ERROR", "RATE_LIMITED"),
        502 => ("API_ERROR", "BAD_GATEWAY"),
        503 => ("API_ERROR", "SERVICE_UNAVAILABLE"),
        504 => ("API_ERROR", "GATEWAY_TIMEOUT"),
        _ => ("API_ERROR", "INTERNAL_SERVER_ERROR"),
    }
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The body of a `POST`: JSON (an empty body is `{}`), or the error to answer.
fn parse_body(req: &HttpRequest, body: &[u8]) -> Result<Value, Answer> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    if header(req, "content-type").is_some_and(|c| !c.contains("json")) {
        let detail = "Content-Type must be application/json";
        return Err(error(
            400,
            "INVALID_REQUEST_ERROR",
            "INVALID_CONTENT_TYPE",
            detail,
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err(error(
            400,
            "INVALID_REQUEST_ERROR",
            "BAD_REQUEST",
            "Invalid JSON body",
        )),
    }
}

/// Every Square API request.
pub(crate) async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<State>,
) -> HttpResponse {
    let state = state.into_inner();
    let method = req.method().as_str().to_string();
    let path = req.path().to_string();
    let parsed = (method == "POST").then(|| parse_body(&req, &body));
    let sent = match &parsed {
        Some(Ok(v)) => v.clone(),
        _ => Value::Null,
    };
    let key = sent["idempotency_key"].as_str().map(str::to_string);
    let record = |status: u16, replayed: bool| {
        state.requests.lock().unwrap().push(RecordedRequest {
            method: method.clone(),
            path: path.clone(),
            idempotency_key: key.clone(),
            body: sent.clone(),
            status,
            replayed,
        });
    };
    let (delay, malformed) = {
        let mut f = state.faults.lock().unwrap();
        if f.fail > 0 {
            f.fail -= 1;
            let (category, code) = failure(f.fail_status);
            let (status, answer) = error(f.fail_status, category, code, "injected failure");
            drop(f);
            record(status, false);
            return reply(status, &answer);
        }
        let delay = (f.delay > 0).then(|| {
            f.delay -= 1;
            f.delay_for
        });
        let malformed = f.malformed > 0;
        f.malformed = f.malformed.saturating_sub(1);
        (delay, malformed)
    };
    let token = header(&req, "authorization").and_then(|v| v.strip_prefix("Bearer "));
    let ((status, answer), replayed) = if token != Some(state.config.access_token.as_str()) {
        let detail = "This request could not be authorized.";
        (
            error(401, "AUTHENTICATION_ERROR", "UNAUTHORIZED", detail),
            false,
        )
    } else if let Some(Err(e)) = parsed {
        (e, false)
    } else {
        let query: HashMap<String, String> =
            serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
        run(&state, &method, &path, &sent, &query)
    };
    record(status, replayed);
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    if malformed {
        return HttpResponse::Ok()
            .content_type("text/html")
            .body("<html>upstream hiccup");
    }
    reply(status, &answer)
}

fn reply(status: u16, answer: &Value) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).json(answer)
}

/// Runs an authorized request; its answer and whether it was replayed.
fn run(
    state: &std::sync::Arc<State>,
    method: &str,
    path: &str,
    sent: &Value,
    query: &HashMap<String, String>,
) -> (Answer, bool) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut store = state.store.lock().unwrap();
    let mut out = Vec::new();
    let creates = matches!(
        (method, segments.as_slice()),
        ("POST", ["v2", "payments" | "refunds"])
    );
    if creates {
        let Some(key) = sent["idempotency_key"].as_str() else {
            return (
                invalid_key("MISSING_REQUIRED_PARAMETER", "must be set"),
                false,
            );
        };
        if key.chars().count() > 45 {
            return (
                invalid_key("VALUE_TOO_LONG", "must be at most 45 long"),
                false,
            );
        }
        let stored_key = (path.to_string(), key.to_string());
        if let Some((first, answer)) = state.keys.lock().unwrap().get(&stored_key) {
            return if first == sent {
                (answer.clone(), true)
            } else {
                let detail = "The idempotency key was used with another request";
                (invalid_key("IDEMPOTENCY_KEY_REUSED", detail), false)
            };
        }
        let answer = if segments[1] == "payments" {
            store.create_payment(sent, &mut out)
        } else {
            store.create_refund(sent, &mut out)
        };
        // What reached Square is remembered under its key: successes and declines.
        let declined = answer.1["errors"][0]["category"] == "PAYMENT_METHOD_ERROR";
        if answer.0 == 200 || declined {
            let entry = (sent.clone(), answer.clone());
            state.keys.lock().unwrap().insert(stored_key, entry);
        }
        let queued = state.enqueue(out, true);
        state.send_later(queued);
        return (answer, false);
    }
    let answer = match (method, segments.as_slice()) {
        ("POST", ["v2", "payments", id, action @ ("cancel" | "complete")]) => {
            store.finish_payment(id, *action == "complete", &mut out)
        }
        ("GET", ["v2", "payments"]) => store.list(false, query),
        ("GET", ["v2", "refunds"]) => store.list(true, query),
        ("GET", ["v2", "payments", id]) => match store.payment(id) {
            Some(p) => (200, serde_json::json!({ "payment": p })),
            None => not_found(&format!("payment {id}")),
        },
        ("GET", ["v2", "refunds", id]) => match store.refund(id) {
            Some(r) => (200, serde_json::json!({ "refund": r })),
            None => not_found(&format!("refund {id}")),
        },
        _ => not_found(&format!("{method} {path}")),
    };
    let queued = state.enqueue(out, true);
    state.send_later(queued);
    (answer, false)
}

fn invalid_key(code: &str, detail: &str) -> Answer {
    invalid(
        code,
        "idempotency_key",
        &format!("idempotency_key {detail}"),
    )
}
