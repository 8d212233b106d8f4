//! Request id, trace continuation and HTTP metrics for every request; `/healthz`, `/readyz`
//! and `/metrics`.

use crate::problem::ApiError;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use futures_util::future::BoxFuture;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tracing::Instrument;

pub const REQUEST_ID: &str = "x-request-id";

/// The id of the current request, readable by handlers through request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Middleware: request id (kept from the caller or new), a span that continues the caller's
/// W3C trace, and `http_requests_total` / `http_request_duration_seconds`.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| kernel::new_id().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let method = req.method().to_string();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let span = tracing::info_span!("http", %method, path = %req.path(), request_id = %request_id, status = tracing::field::Empty);
    if let Some(tp) = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
    {
        telemetry::continue_trace(&span, tp);
    }
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    let status = res.status().as_u16();
    span.record("status", status);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID), v);
    }
    let labels = [
        ("method", method),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..2])
        .record(started.elapsed().as_secs_f64());
    Ok(res)
}

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide Prometheus recorder (installed on first use).
pub fn prometheus() -> Option<PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(error = %e, "metrics recorder not installed");
                None
            }
        })
        .clone()
}

pub type ReadyFuture = BoxFuture<'static, Result<(), String>>;

/// A named readiness check such as "postgres" or "nats".
#[derive(Clone)]
pub struct ReadyCheck {
    pub name: String,
    pub check: Arc<dyn Fn() -> ReadyFuture + Send + Sync>,
}

#[derive(Clone, Default)]
pub struct Health {
    pub checks: Vec<ReadyCheck>,
}

/// Mounts `/healthz`, `/readyz` and `/metrics`.
pub fn configure(cfg: &mut web::ServiceConfig, health: Health) {
    cfg.app_data(web::Data::new(health))
        .service(
            web::resource("/healthz")
                .get(|| async { HttpResponse::Ok().json(serde_json::json!({"status": "ok"})) }),
        )
        .service(web::resource("/readyz").get(readyz))
        .service(web::resource("/metrics").get(metrics_text));
}

async fn readyz(health: web::Data<Health>) -> Result<HttpResponse, ApiError> {
    let mut failing = Vec::new();
    let mut report = serde_json::Map::new();
    for c in &health.checks {
        let ok = match tokio::time::timeout(Duration::from_secs(2), (c.check)()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(check = %c.name, error = %e, "not ready");
                false
            }
            Err(_) => false,
        };
        report.insert(
            c.name.clone(),
            serde_json::Value::from(if ok { "ok" } else { "unavailable" }),
        );
        if !ok {
            failing.push(c.name.clone());
        }
    }
    if failing.is_empty() {
        Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready", "checks": report})))
    } else {
        Err(ApiError::unavailable(
            "not_ready",
            format!("unavailable: {}", failing.join(", ")),
        ))
    }
}

async fn metrics_text() -> HttpResponse {
    match prometheus() {
        Some(h) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(h.render()),
        None => HttpResponse::ServiceUnavailable().finish(),
    }
}
