//! Logs, traces and trace propagation.
//!
//! `tracing` is the API; spans go through an OpenTelemetry layer so every request has a W3C trace
//! id even when nothing is exported, and OTLP/HTTP export is switched on by configuration.
//! [`current_traceparent`] and [`continue_trace`] carry that context over HTTP and NATS headers,
//! so one checkout is one trace across services.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::collections::HashMap;
use std::sync::OnceLock;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Installs `ring` as the process-wide TLS crypto provider. Call it first in every `main`:
/// reqwest (and the OTLP exporter's client) cannot build a client without one.
pub fn install_crypto_provider() {
    // An error only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    pub service_name: String,
    /// JSON lines (production) or human-readable text (development).
    pub json: bool,
    /// An `EnvFilter` directive such as `info,sqlx=warn`; `RUST_LOG` overrides it.
    pub filter: String,
    /// OTLP/HTTP endpoint such as `http://otel-collector:4318/v1/traces`; `None` exports nothing.
    pub otlp_endpoint: Option<String>,
}

#[derive(Debug)]
pub enum TelemetryError {
    Exporter(String),
}

impl std::fmt::Display for TelemetryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TelemetryError::Exporter(e) => write!(f, "cannot build the OTLP exporter: {e}"),
        }
    }
}

impl std::error::Error for TelemetryError {}

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Sets up logging and tracing once per process; later calls (several hosts in one test binary)
/// leave the first set-up in place.
pub fn init(cfg: &TelemetryConfig) -> Result<(), TelemetryError> {
    install_crypto_provider();
    if PROVIDER.get().is_some() {
        return Ok(());
    }
    let mut builder = SdkTracerProvider::builder().with_resource(
        opentelemetry_sdk::Resource::builder()
            .with_service_name(cfg.service_name.clone())
            .build(),
    );
    if let Some(endpoint) = &cfg.otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(endpoint.clone())
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let tracer = provider.tracer(cfg.service_name.clone());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.filter));
    // Logs follow the configured filter; trace context is kept for every info-level span even
    // when logs are quieter, so propagation never depends on the log level.
    let fmt_layer = if cfg.json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_filter(filter)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_target(true)
            .with_filter(filter)
            .boxed()
    };
    let otel_layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    // try_init: a test harness may have installed a subscriber already.
    let _ = tracing_subscriber::registry()
        .with(fmt_layer)
        .with(otel_layer)
        .try_init();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let _ = PROVIDER.set(provider);
    Ok(())
}

/// Flushes spans still buffered for export.
pub fn shutdown() {
    if let Some(p) = PROVIDER.get() {
        let _ = p.force_flush();
    }
}

struct MapCarrier(HashMap<String, String>);

impl Injector for MapCarrier {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
}

impl Extractor for MapCarrier {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The W3C `traceparent` of the current span, if it belongs to a trace.
pub fn current_traceparent() -> Option<String> {
    let cx = tracing::Span::current().context();
    let mut carrier = MapCarrier(HashMap::new());
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.0.remove("traceparent")
}

/// Makes `span` a child of the trace named by `traceparent` (from an HTTP or NATS header).
pub fn continue_trace(span: &tracing::Span, traceparent: &str) {
    let mut map = HashMap::new();
    map.insert("traceparent".to_string(), traceparent.to_string());
    let cx = TraceContextPropagator::new().extract(&MapCarrier(map));
    let _ = span.set_parent(cx);
}

/// The trace id part of a `traceparent` header.
pub fn trace_id_of(traceparent: &str) -> Option<&str> {
    traceparent.split('-').nth(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_span_continues_the_callers_trace() {
        init(&TelemetryConfig {
            service_name: "test".into(),
            json: false,
            filter: "info".into(),
            otlp_endpoint: None,
        })
        .expect("telemetry");
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let span = tracing::info_span!("handler");
        continue_trace(&span, incoming);
        let _g = span.enter();
        let out = current_traceparent().expect("a traceparent");
        assert_eq!(trace_id_of(&out), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_ne!(out, incoming, "the child has its own span id");
    }
}
