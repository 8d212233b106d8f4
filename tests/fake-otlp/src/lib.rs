//! A fake OpenTelemetry collector for tests: it accepts OTLP/HTTP trace exports
//! (`POST /v1/traces`, `application/x-protobuf`, an `ExportTraceServiceRequest`), keeps every
//! span it decoded, and can refuse the next N exports with 503 (the exporter's retry case).
// Test infrastructure: a panic on a poisoned lock is what a test wants.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::{App, HttpResponse, HttpServer, web};
use prost::Message;
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The part of OTLP's `trace.proto` (opentelemetry-proto v1) a test reads; other fields are
/// skipped as protobuf allows.
mod otlp {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportTraceServiceRequest {
        #[prost(message, repeated, tag = "1")]
        pub resource_spans: Vec<ResourceSpans>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceSpans {
        #[prost(message, repeated, tag = "2")]
        pub scope_spans: Vec<ScopeSpans>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ScopeSpans {
        #[prost(message, repeated, tag = "2")]
        pub spans: Vec<Span>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Span {
        #[prost(bytes = "vec", tag = "1")]
        pub trace_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub span_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "4")]
        pub parent_span_id: Vec<u8>,
        #[prost(string, tag = "5")]
        pub name: String,
        #[prost(message, repeated, tag = "9")]
        pub attributes: Vec<KeyValue>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValue {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(message, optional, tag = "2")]
        pub value: Option<AnyValue>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AnyValue {
        #[prost(oneof = "Value", tags = "1, 2, 3, 4")]
        pub value: Option<Value>,
    }
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        #[prost(string, tag = "1")]
        String(String),
        #[prost(bool, tag = "2")]
        Bool(bool),
        #[prost(int64, tag = "3")]
        Int(i64),
        #[prost(double, tag = "4")]
        Double(f64),
    }
}

/// One span as received: ids in lower-case hex, attributes as text.
#[derive(Debug, Clone)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    pub attributes: HashMap<String, String>,
}

impl Span {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

impl From<otlp::Span> for Span {
    fn from(s: otlp::Span) -> Self {
        let attributes = s
            .attributes
            .into_iter()
            .map(|kv| {
                let v = match kv.value.and_then(|v| v.value) {
                    Some(otlp::Value::String(s)) => s,
                    Some(otlp::Value::Bool(b)) => b.to_string(),
                    Some(otlp::Value::Int(i)) => i.to_string(),
                    Some(otlp::Value::Double(d)) => d.to_string(),
                    None => String::new(),
                };
                (kv.key, v)
            })
            .collect();
        Span {
            trace_id: hex::encode(s.trace_id),
            span_id: hex::encode(s.span_id),
            parent_span_id: hex::encode(s.parent_span_id),
            name: s.name,
            attributes,
        }
    }
}

#[derive(Default)]
struct State {
    spans: Mutex<Vec<Span>>,
    exports: AtomicUsize,
    fail_next: AtomicU32,
}

/// A running fake collector.
pub struct FakeOtlp {
    /// The traces endpoint to configure (`…/v1/traces`).
    pub traces_url: String,
    state: Arc<State>,
    server: actix_web::dev::ServerHandle,
}

impl FakeOtlp {
    /// Starts on `port` (0 for any) on 127.0.0.1.
    pub fn start(port: u16) -> std::io::Result<FakeOtlp> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let traces_url = format!(
            "http://127.0.0.1:{}/v1/traces",
            listener.local_addr()?.port()
        );
        let state = Arc::new(State::default());
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::default().limit(16 << 20))
                .route("/v1/traces", web::post().to(export))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(FakeOtlp {
            traces_url,
            state,
            server: handle,
        })
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.state.spans.lock().unwrap().clone()
    }

    /// The spans of one trace.
    pub fn trace(&self, trace_id: &str) -> Vec<Span> {
        self.spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect()
    }

    /// Export requests accepted.
    pub fn exports(&self) -> usize {
        self.state.exports.load(Ordering::SeqCst)
    }

    /// Answers the next `n` exports with 503 (nothing kept).
    pub fn fail_next(&self, n: u32) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    pub async fn stop(self) {
        self.server.stop(true).await;
    }
}

async fn export(state: web::Data<State>, body: web::Bytes) -> HttpResponse {
    if state
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let Ok(req) = otlp::ExportTraceServiceRequest::decode(body.as_ref()) else {
        return HttpResponse::BadRequest().body("not an ExportTraceServiceRequest");
    };
    let spans = req
        .resource_spans
        .into_iter()
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .map(Span::from);
    state.spans.lock().unwrap().extend(spans);
    state.exports.fetch_add(1, Ordering::SeqCst);
    // An empty ExportTraceServiceResponse.
    HttpResponse::Ok()
        .content_type("application/x-protobuf")
        .finish()
}
