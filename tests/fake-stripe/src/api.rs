//! The HTTP side: every request goes through the same steps. A switched-on fault answers first
//! (as a proxy in front of Stripe would: nothing is stored), then the API key is checked, then
//! a `POST` with an `Idempotency-Key` goes through the idempotency layer, and only then does the
//! operation run. Every request is recorded with the status it got.

use crate::form::Params;
use crate::objects::{ApiError, new_id};
use crate::store::{Ctx, Store, unrecognized};
use crate::{RecordedRequest, State};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Idempotency keys are forgotten after this long.
const KEY_TTL: Duration = Duration::from_secs(24 * 3600);

/// What was answered under one idempotency key (`None` while the first request still runs).
struct KeyEntry {
    fingerprint: String,
    at: Instant,
    answer: Option<Stored>,
}

/// A stored answer: status, body and the id of the request that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored(u16, String, String);

/// What the idempotency layer says about a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Begin {
    /// New key: run it (then [`Keys::finish`]).
    Run,
    Replay(Stored),
    /// Same key, other parameters.
    Mismatch,
    /// The first request with this key is still running.
    InUse,
}

/// Idempotency keys and their answers.
#[derive(Default)]
pub(crate) struct Keys(HashMap<String, KeyEntry>);

impl Keys {
    pub fn begin(&mut self, key: &str, fingerprint: &str) -> Begin {
        self.0.retain(|_, entry| entry.at.elapsed() < KEY_TTL);
        match self.0.get(key) {
            Some(entry) if entry.fingerprint != fingerprint => Begin::Mismatch,
            Some(KeyEntry { answer: None, .. }) => Begin::InUse,
            Some(KeyEntry {
                answer: Some(stored),
                ..
            }) => Begin::Replay(stored.clone()),
            None => {
                let entry = KeyEntry {
                    fingerprint: fingerprint.to_string(),
                    at: Instant::now(),
                    answer: None,
                };
                self.0.insert(key.to_string(), entry);
                Begin::Run
            }
        }
    }

    pub fn finish(&mut self, key: &str, stored: Stored) {
        if let Some(entry) = self.0.get_mut(key) {
            entry.answer = Some(stored);
        }
    }
}

/// Fault switches.
#[derive(Default)]
pub(crate) struct Faults {
    pub fail: u32,
    pub fail_status: u16,
    pub delay: u32,
    pub delay_for: Duration,
}

struct Reply {
    status: u16,
    body: String,
    /// The request id of the original answer, when this one is a replay.
    replay_of: Option<String>,
    should_retry: bool,
}

impl Reply {
    fn new(status: u16, body: String) -> Reply {
        Reply {
            status,
            body,
            replay_of: None,
            should_retry: false,
        }
    }

    fn error(e: ApiError) -> Reply {
        Reply::new(e.status, e.body.to_string())
    }
}

/// Every Stripe API request.
pub(crate) async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<State>,
) -> HttpResponse {
    let state = state.into_inner();
    let method = req.method().as_str().to_string();
    let path = req.path().to_string();
    let key = header(&req, "idempotency-key");
    let params = if method == "POST" {
        Params::parse(&String::from_utf8_lossy(&body))
    } else {
        Params::parse(req.query_string())
    };
    let request_id = new_id("req_", 14);
    let (reply, delay) = answer(
        &state,
        &req,
        &method,
        &path,
        key.as_deref(),
        &params,
        &request_id,
    );
    state.requests.lock().unwrap().push(RecordedRequest {
        method,
        path,
        idempotency_key: key,
        params: params.0,
        status: reply.status,
        replayed: reply.replay_of.is_some(),
    });
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut response =
        HttpResponse::build(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK));
    response
        .content_type("application/json")
        .insert_header(("request-id", request_id));
    if let Some(original) = reply.replay_of {
        response
            .insert_header(("idempotent-replayed", "true"))
            .insert_header(("original-request", original));
    }
    if reply.should_retry {
        response.insert_header(("stripe-should-retry", "true"));
    }
    response.body(reply.body)
}

fn answer(
    state: &Arc<State>,
    req: &HttpRequest,
    method: &str,
    path: &str,
    key: Option<&str>,
    params: &Params,
    request_id: &str,
) -> (Reply, Option<Duration>) {
    let (fail, delay) = {
        let mut faults = state.faults.lock().unwrap();
        if faults.fail > 0 {
            faults.fail -= 1;
            (Some(faults.fail_status), None)
        } else if faults.delay > 0 {
            faults.delay -= 1;
            (None, Some(faults.delay_for))
        } else {
            (None, None)
        }
    };
    if let Some(status) = fail {
        let e = if status == 429 {
            let message = "Too many requests hit the API too quickly. We recommend an \
                           exponential backoff of your requests.";
            ApiError::new(429, "rate_limit_error", Some("rate_limit"), message)
        } else {
            let message = "An unknown error occurred (injected by the fake Stripe).";
            ApiError::new(status, "api_error", None, message)
        };
        let mut reply = Reply::error(e);
        reply.should_retry = true;
        return (reply, None);
    }
    if let Err(e) = authorize(req, &state.config.secret_key) {
        return (Reply::error(e), delay);
    }
    let (Some(key), "POST") = (key, method) else {
        return (
            execute(state, method, path, None, params, request_id),
            delay,
        );
    };
    let fingerprint = params.fingerprint(method, path);
    let begun = state.idempotency.lock().unwrap().begin(key, &fingerprint);
    let reply = match begun {
        Begin::Run => {
            let reply = execute(state, method, path, Some(key), params, request_id);
            let stored = Stored(reply.status, reply.body.clone(), request_id.to_string());
            state.idempotency.lock().unwrap().finish(key, stored);
            reply
        }
        Begin::Replay(Stored(status, body, original)) => {
            let mut reply = Reply::new(status, body);
            reply.replay_of = Some(original);
            reply
        }
        Begin::Mismatch => {
            let message = format!(
                "Keys for idempotent requests can only be used with the same parameters they \
                 were first used with. Try using a key other than '{key}' if you meant to \
                 execute a different request."
            );
            Reply::error(ApiError::new(400, "idempotency_error", None, &message))
        }
        Begin::InUse => {
            let message = format!(
                "There is currently another in-progress request using this idempotent key \
                 (that probably means you submitted twice, and the other request is still \
                 going through): {key}. Please try again later."
            );
            // Stripe answers 409 here (external-contracts §1.1): safe to retry with the key.
            let mut reply = Reply::error(ApiError::new(
                409,
                "invalid_request_error",
                Some("idempotency_key_in_use"),
                &message,
            ));
            reply.should_retry = true;
            reply
        }
    };
    (reply, delay)
}

/// Runs the operation under the store lock, then sends its events.
fn execute(
    state: &Arc<State>,
    method: &str,
    path: &str,
    key: Option<&str>,
    params: &Params,
    request_id: &str,
) -> Reply {
    let mut ctx = Ctx::api(request_id, key);
    let result = {
        let mut store = state.store.lock().unwrap();
        route(&mut store, &mut ctx, method, path, params)
            .and_then(|object| store.expand(object, &params.list("expand")))
    };
    state.send_later(std::mem::take(&mut ctx.out));
    match result {
        Ok(object) => Reply::new(200, object.to_string()),
        Err(e) => Reply::error(e),
    }
}

fn route(
    store: &mut Store,
    ctx: &mut Ctx,
    method: &str,
    path: &str,
    p: &Params,
) -> Result<serde_json::Value, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("POST", ["v1", "customers"]) => store.create_customer(p),
        ("POST", ["v1", "payment_intents"]) => store.create_intent(ctx, p),
        ("POST", ["v1", "payment_intents", id, "confirm"]) => store.confirm(ctx, id, p),
        ("POST", ["v1", "payment_intents", id, "cancel"]) => store.cancel(ctx, id, p),
        ("POST", ["v1", "refunds"]) => store.create_refund(ctx, p),
        ("GET", ["v1", "refunds"]) => store.list_refunds(p),
        ("GET", ["v1", "payment_intents"]) => store.list_intents(p),
        ("GET", ["v1", collection, id]) => store.retrieve(collection, id),
        _ => Err(unrecognized(method, path)),
    }
}

/// `Authorization: Bearer <key>`, or HTTP Basic with the key as the user name.
fn authorize(req: &HttpRequest, secret_key: &str) -> Result<(), ApiError> {
    let Some(auth) = header(req, "authorization") else {
        let message = "You did not provide an API key. You need to provide your API key in the \
                       Authorization header, using Bearer auth (e.g. 'Authorization: Bearer \
                       YOUR_SECRET_KEY').";
        return Err(ApiError::new(401, "invalid_request_error", None, message));
    };
    let given = if let Some(bearer) = auth.strip_prefix("Bearer ") {
        bearer.trim().to_string()
    } else if let Some(basic) = auth.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .unwrap_or_default();
        let decoded = String::from_utf8_lossy(&decoded).into_owned();
        decoded.split(':').next().unwrap_or_default().to_string()
    } else {
        auth
    };
    if given == secret_key {
        return Ok(());
    }
    let shown = if given.len() > 12 && given.is_ascii() {
        format!(
            "{}{}{}",
            &given[..8],
            "*".repeat(given.len() - 12),
            &given[given.len() - 4..]
        )
    } else {
        "*".repeat(given.chars().count())
    };
    let message = format!("Invalid API Key provided: {shown}");
    Err(ApiError::new(401, "invalid_request_error", None, &message))
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `GET /3d_secure/<pi>` (the `stripe_js` URL of `next_action`): completes 3-D Secure as the
/// customer would in the browser; `?fail=true` fails it.
pub(crate) async fn three_d_secure(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<State>,
) -> HttpResponse {
    let fail = Params::parse(req.query_string()).bool("fail") == Some(true);
    match state
        .into_inner()
        .act(|s, ctx| s.complete_action(ctx, &id, !fail))
        .await
    {
        Ok(()) => HttpResponse::Ok().json(json!({"completed": true, "succeeded": !fail})),
        Err(e) => HttpResponse::BadRequest().json(json!({"completed": false, "error": e})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_runs_once_and_is_replayed() {
        let mut keys = Keys::default();
        assert_eq!(keys.begin("k", "POST /v1/x?a=1"), Begin::Run);
        assert_eq!(keys.begin("k", "POST /v1/x?a=1"), Begin::InUse);
        assert_eq!(keys.begin("k", "POST /v1/x?a=2"), Begin::Mismatch);
        let stored = Stored(402, "{}".into(), "req_1".into());
        keys.finish("k", stored.clone());
        assert_eq!(keys.begin("k", "POST /v1/x?a=1"), Begin::Replay(stored));
        assert_eq!(keys.begin("k", "POST /v1/y?a=1"), Begin::Mismatch);
        assert_eq!(keys.begin("other", "POST /v1/x?a=1"), Begin::Run);
    }
}
