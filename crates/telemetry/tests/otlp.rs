//! With `otlp_endpoint` set, spans are exported over OTLP/HTTP (protobuf) to the collector.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn exports_spans_to_the_configured_collector() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            s.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let mut buf = vec![0u8; 65536];
            let n = s.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n])
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            record.lock().unwrap().push(head);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    telemetry::init(&telemetry::TelemetryConfig {
        service_name: "otlp-test".into(),
        json: true,
        filter: "info".into(),
        otlp_endpoint: Some(format!("http://127.0.0.1:{port}/v1/traces")),
    })
    .unwrap();
    {
        let span = tracing::info_span!("checkout");
        let _g = span.enter();
        assert!(telemetry::current_traceparent().is_some());
    }
    let start = Instant::now();
    loop {
        telemetry::shutdown();
        if seen
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("POST /v1/traces"))
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no OTLP export seen: {:?}",
            seen.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
