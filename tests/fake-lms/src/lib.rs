//! A fake Cadence LMS for tests, benchmarks and `make run`. It speaks the connector contract of
//! the specification: it accepts `POST /api/v2/connectors/enrollment-request` (checking the
//! connector API key), stores every request it receives, de-duplicates by `Idempotency-Key`,
//! answers `{success, enrollmentId, status: "pending"}`, and then calls the commerce webhook
//! `POST /api/v1/webhooks/enrollment-status` signed with Standard Webhooks. Its behaviour is set
//! at run time: approve, reject with a reason, fail the next N requests, or stay silent.
//!
//! It also completes courses: `POST /complete` (or [`FakeLms::complete`]) sends the signed
//! `course.completed` webhook `POST /api/v1/webhooks/lms-completion` with the learner's
//! progress, as the LMS does when a learner finishes a course.
// An outside system: it reads the wall clock as the real LMS would.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// Accept and approve (webhook `enrollment.approved`).
    Approve,
    /// Accept and reject with this reason (webhook `enrollment.rejected`).
    Reject(String),
    /// Accept without calling back.
    Silent,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub api_key: String,
    /// Full URL of the commerce enrollment-status webhook.
    pub webhook_url: String,
    /// `whsec_…` secret shared with commerce.
    pub webhook_secret: String,
}

/// One request as received.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Received {
    pub idempotency_key: Option<String>,
    pub body: Value,
    pub answered: u16,
    #[serde(skip)]
    pub at: Instant,
}

struct State {
    config: Config,
    webhook_url: Mutex<String>,
    completion_url: Mutex<String>,
    behaviour: Mutex<Behaviour>,
    fail_next: AtomicU32,
    received: Mutex<Vec<Received>>,
    /// Idempotency key → enrollment id: a retry never creates a second enrollment.
    enrollments: Mutex<HashMap<String, String>>,
    /// Unenrollment requests received, de-duplicated by `Idempotency-Key`.
    unenrollments: Mutex<Vec<Received>>,
    http: reqwest::Client,
}

/// A running fake LMS.
pub struct FakeLms {
    pub url: String,
    state: Arc<State>,
    server: actix_web::dev::ServerHandle,
}

impl FakeLms {
    /// Starts on `port` (0 for any) on 127.0.0.1.
    pub fn start(config: Config, port: u16) -> std::io::Result<FakeLms> {
        telemetry::install_crypto_provider();
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let state = Arc::new(State {
            webhook_url: Mutex::new(config.webhook_url.clone()),
            completion_url: Mutex::new(completion_url_of(&config.webhook_url)),
            config,
            behaviour: Mutex::new(Behaviour::Approve),
            fail_next: AtomicU32::new(0),
            received: Mutex::new(Vec::new()),
            enrollments: Mutex::new(HashMap::new()),
            unenrollments: Mutex::new(Vec::new()),
            http: reqwest::Client::new(),
        });
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::JsonConfig::default().limit(1 << 20))
                .route(
                    "/api/v2/connectors/enrollment-request",
                    web::post().to(enrollment_request),
                )
                .route(
                    "/api/v2/connectors/unenrollment-request",
                    web::post().to(unenrollment_request),
                )
                .route("/received", web::get().to(received))
                .route("/complete", web::post().to(complete))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(FakeLms {
            url,
            state,
            server: handle,
        })
    }

    /// Points the callbacks at the platform (known only once it has started); completions go
    /// to the `lms-completion` endpoint beside it.
    pub fn set_webhook_url(&self, url: &str) {
        *self.state.webhook_url.lock().unwrap() = url.to_string();
        *self.state.completion_url.lock().unwrap() = completion_url_of(url);
    }

    /// Sends a signed `course.completed` webhook and waits for the platform's answer: its
    /// status (202 when relayed). `webhook_id` repeats a delivery when given again.
    pub async fn complete(&self, completion: &Completion, webhook_id: &str) -> u16 {
        let body = completion_body(completion).to_string().into_bytes();
        let url = self.state.completion_url.lock().unwrap().clone();
        post_signed(&self.state, &url, webhook_id, &body, None)
            .await
            .map(|s| s.as_u16())
            .unwrap_or(0)
    }

    pub fn set_behaviour(&self, b: Behaviour) {
        *self.state.behaviour.lock().unwrap() = b;
    }

    /// Answers the next `n` requests with 503.
    pub fn fail_next(&self, n: u32) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Unenrollment requests accepted (one per idempotency key).
    pub fn unenrollments(&self) -> Vec<Received> {
        self.state.unenrollments.lock().unwrap().clone()
    }

    /// Distinct enrollments created (one per idempotency key).
    pub fn enrollment_count(&self) -> usize {
        self.state.enrollments.lock().unwrap().len()
    }

    pub async fn stop(self) {
        self.server.stop(true).await;
    }
}

fn completion_url_of(webhook_url: &str) -> String {
    match webhook_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/lms-completion"),
        None => webhook_url.to_string(),
    }
}

/// A learner's completion of a course, as the LMS reports it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Completion {
    pub user_id: String,
    pub user_name: String,
    pub lms_course_id: String,
    #[serde(default)]
    pub enrollment_id: Option<String>,
    #[serde(default)]
    pub completed_at: Option<String>,
    pub modules_completed: u32,
    pub modules_total: u32,
    #[serde(default)]
    pub completed_module_ids: Vec<String>,
    #[serde(default)]
    pub assessment_id: Option<String>,
    #[serde(default)]
    pub assessment_score: Option<u32>,
    #[serde(default)]
    pub minutes_spent: u32,
}

impl Completion {
    /// Every one of `modules` modules done, nothing else reported.
    pub fn all(user_id: &str, user_name: &str, lms_course_id: &str, modules: u32) -> Completion {
        Completion {
            user_id: user_id.into(),
            user_name: user_name.into(),
            lms_course_id: lms_course_id.into(),
            enrollment_id: None,
            completed_at: None,
            modules_completed: modules,
            modules_total: modules,
            completed_module_ids: (1..=modules).map(|i| format!("m{i}")).collect(),
            assessment_id: None,
            assessment_score: None,
            minutes_spent: 0,
        }
    }
}

fn completion_body(c: &Completion) -> Value {
    json!({
        "source": "cadence-lms",
        "event": "course.completed",
        "payload": {
            "userId": c.user_id,
            "userName": c.user_name,
            "lmsCourseId": c.lms_course_id,
            "enrollmentId": c.enrollment_id.clone()
                .unwrap_or_else(|| format!("enr_{}_{}", c.user_id, c.lms_course_id)),
            "completedAt": c.completed_at.clone().unwrap_or_else(|| chrono::Utc::now().to_rfc3339()),
            "progress": {
                "modulesCompleted": c.modules_completed,
                "modulesTotal": c.modules_total,
                "completedModuleIds": c.completed_module_ids,
                "assessmentId": c.assessment_id,
                "assessmentScore": c.assessment_score,
                "minutesSpent": c.minutes_spent,
            }
        }
    })
}

/// `POST /complete` with a [`Completion`]: the LMS sends its signed completion webhook and
/// answers what the platform answered.
async fn complete(state: web::Data<State>, body: web::Json<Completion>) -> HttpResponse {
    let bytes = completion_body(&body).to_string().into_bytes();
    let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
    let url = state.completion_url.lock().unwrap().clone();
    match post_signed(&state, &url, &id, &bytes, None).await {
        Ok(status) => {
            HttpResponse::Ok().json(json!({"webhookId": id, "platformStatus": status.as_u16()}))
        }
        Err(e) => HttpResponse::BadGateway().json(json!({"webhookId": id, "error": e.to_string()})),
    }
}

/// Signs `body` with the LMS secret, now, and posts it; a status webhook carries the
/// `traceparent` of the request it answers, so the platform's trace continues.
async fn post_signed(
    state: &State,
    url: &str,
    id: &str,
    body: &[u8],
    traceparent: Option<&str>,
) -> Result<reqwest::StatusCode, reqwest::Error> {
    let ts = chrono::Utc::now().timestamp();
    let sig = ::web::standard_webhooks::sign(&state.config.webhook_secret, id, ts, body)
        .unwrap_or_default();
    let mut req = state
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig);
    if let Some(tp) = traceparent {
        req = req.header("traceparent", tp);
    }
    req.body(body.to_vec()).send().await.map(|r| r.status())
}

async fn received(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok().json(state.received.lock().unwrap().clone())
}

/// `POST /api/v2/connectors/unenrollment-request`: the same envelope as an enrollment request
/// (`source`, `apiKey`, `payload`), answered `{success, status: "unenrolled"}`; a repeated
/// `Idempotency-Key` is answered the same and recorded once.
async fn unenrollment_request(
    req: HttpRequest,
    state: web::Data<State>,
    body: web::Json<Value>,
) -> HttpResponse {
    let api_key_ok = req.headers().get("x-api-key").and_then(|v| v.to_str().ok())
        == Some(state.config.api_key.as_str())
        && body["apiKey"].as_str() == Some(state.config.api_key.as_str());
    if !api_key_ok {
        return HttpResponse::Unauthorized().json(
            json!({"success": false, "status": "error", "message": "bad connector API key"}),
        );
    }
    let Some(key) = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return HttpResponse::BadRequest().json(
            json!({"success": false, "status": "error", "message": "Idempotency-Key required"}),
        );
    };
    let mut done = state.unenrollments.lock().unwrap();
    if !done
        .iter()
        .any(|r| r.idempotency_key.as_deref() == Some(key.as_str()))
    {
        done.push(Received {
            idempotency_key: Some(key),
            body: body.0.clone(),
            answered: 200,
            at: Instant::now(),
        });
    }
    HttpResponse::Ok().json(json!({"success": true, "status": "unenrolled"}))
}

async fn enrollment_request(
    req: HttpRequest,
    state: web::Data<State>,
    body: web::Json<Value>,
) -> HttpResponse {
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let traceparent = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let record = |answered: u16| {
        state.received.lock().unwrap().push(Received {
            idempotency_key: key.clone(),
            body: body.0.clone(),
            answered,
            at: Instant::now(),
        });
    };
    let api_key_ok = req.headers().get("x-api-key").and_then(|v| v.to_str().ok())
        == Some(state.config.api_key.as_str())
        && body["apiKey"].as_str() == Some(state.config.api_key.as_str());
    if !api_key_ok {
        record(401);
        return HttpResponse::Unauthorized().json(
            json!({"success": false, "status": "error", "message": "bad connector API key"}),
        );
    }
    let Some(key) = key.clone() else {
        record(400);
        return HttpResponse::BadRequest().json(
            json!({"success": false, "status": "error", "message": "Idempotency-Key required"}),
        );
    };
    if state
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        record(503);
        return HttpResponse::ServiceUnavailable()
            .json(json!({"success": false, "status": "error", "message": "try later"}));
    }
    let (enrollment_id, first) = {
        let mut e = state.enrollments.lock().unwrap();
        match e.get(&key) {
            Some(id) => (id.clone(), false),
            None => {
                let id = format!("enr_{}", uuid::Uuid::now_v7().simple());
                e.insert(key.clone(), id.clone());
                (id, true)
            }
        }
    };
    record(200);
    let behaviour = state.behaviour.lock().unwrap().clone();
    if first && behaviour != Behaviour::Silent {
        let payload = &body.0["payload"];
        let (event, status, reason) = match &behaviour {
            Behaviour::Reject(r) => ("enrollment.rejected", "rejected", Some(r.clone())),
            _ => ("enrollment.approved", "approved", None),
        };
        let hook = json!({
            "source": "cadence-lms",
            "event": event,
            "payload": {
                "enrollmentId": enrollment_id,
                "orderId": payload["orderId"],
                "orderItemId": payload["orderItemId"],
                "status": status,
                "processedAt": chrono::Utc::now().to_rfc3339(),
                "processedBy": "auto-approval",
                "rejectionReason": reason,
            }
        });
        let state = state.clone();
        tokio::spawn(async move { send_webhook(&state, hook, traceparent).await });
    }
    HttpResponse::Ok().json(json!({
        "success": true, "enrollmentId": enrollment_id, "status": "pending", "message": "enrollment created"
    }))
}

async fn send_webhook(state: &State, hook: Value, traceparent: Option<String>) {
    let bytes = hook.to_string().into_bytes();
    let url = state.webhook_url.lock().unwrap().clone();
    let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
    for attempt in 0..5u64 {
        let r = post_signed(state, &url, &id, &bytes, traceparent.as_deref()).await;
        if r.as_ref().is_ok_and(|s| s.is_success()) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100 * (attempt + 1))).await;
    }
    tracing::warn!("fake LMS: webhook not delivered");
}
