//! Fake SendGrid (`POST /v3/mail/send`, bearer key, JSON; 202 with `X-Message-Id`) and Mailgun
//! (`POST /v3/{domain}/messages`, Basic `api:<key>`, multipart form; 200 `{id, message}`)
//! servers: they check the key, keep every accepted request, and fail the next N on demand.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// One accepted request: its headers of interest and its fields (JSON body, or form fields with
/// attachments as `(name, file name, content type, bytes)`).
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub authorization: String,
    pub json: Value,
    pub form: BTreeMap<String, String>,
    pub files: Vec<(String, String, String, Vec<u8>)>,
}

struct State {
    key: String,
    requests: Mutex<Vec<ApiRequest>>,
    fail_next: AtomicU32,
    fail_status: AtomicU16,
    seq: AtomicU32,
}

impl State {
    fn failing(&self) -> Option<HttpResponse> {
        if self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            let status = self.fail_status.load(Ordering::SeqCst);
            let code = actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::SERVICE_UNAVAILABLE);
            return Some(
                HttpResponse::build(code).json(json!({"errors": [{"message": "fake failure"}]})),
            );
        }
        None
    }
}

pub struct FakeApi {
    pub url: String,
    state: Arc<State>,
    server: actix_web::dev::ServerHandle,
}

impl FakeApi {
    /// A fake SendGrid accepting `Authorization: Bearer {key}`.
    pub fn sendgrid(key: &str) -> std::io::Result<FakeApi> {
        start(key, |c| {
            c.route("/v3/mail/send", web::post().to(sendgrid_send));
        })
    }

    /// A fake Mailgun accepting `Authorization: Basic base64(api:{key})`.
    pub fn mailgun(key: &str) -> std::io::Result<FakeApi> {
        start(key, |c| {
            c.route("/v3/{domain}/messages", web::post().to(mailgun_send));
        })
    }

    pub fn requests(&self) -> Vec<ApiRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Answers the next `n` requests with `status`.
    pub fn fail_next(&self, n: u32, status: u16) {
        self.state.fail_status.store(status, Ordering::SeqCst);
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    pub async fn stop(self) {
        self.server.stop(true).await;
    }
}

fn start(key: &str, routes: fn(&mut web::ServiceConfig)) -> std::io::Result<FakeApi> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let state = Arc::new(State {
        key: key.to_string(),
        requests: Mutex::new(Vec::new()),
        fail_next: AtomicU32::new(0),
        fail_status: AtomicU16::new(503),
        seq: AtomicU32::new(0),
    });
    let data = web::Data::from(state.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(16 << 20))
            .configure(routes)
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(FakeApi {
        url,
        state,
        server: handle,
    })
}

fn header(req: &HttpRequest, name: &str) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn sendgrid_send(
    req: HttpRequest,
    state: web::Data<State>,
    body: web::Bytes,
) -> HttpResponse {
    let auth = header(&req, "authorization");
    if auth != format!("Bearer {}", state.key) {
        return HttpResponse::Unauthorized()
            .json(json!({"errors": [{"message": "The provided authorization grant is invalid"}]}));
    }
    if let Some(r) = state.failing() {
        return r;
    }
    let Ok(json) = serde_json::from_slice::<Value>(&body) else {
        return HttpResponse::BadRequest().json(json!({"errors": [{"message": "bad JSON"}]}));
    };
    if json["personalizations"][0]["to"][0]["email"]
        .as_str()
        .is_none()
        || json["from"]["email"].as_str().is_none()
        || json["content"].as_array().is_none_or(|c| c.is_empty())
    {
        return HttpResponse::BadRequest()
            .json(json!({"errors": [{"message": "missing personalizations, from or content"}]}));
    }
    state.requests.lock().unwrap().push(ApiRequest {
        authorization: auth,
        json,
        form: BTreeMap::new(),
        files: vec![],
    });
    let n = state.seq.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Accepted()
        .insert_header(("X-Message-Id", format!("sg-msg-{n}")))
        .finish()
}

async fn mailgun_send(req: HttpRequest, state: web::Data<State>, body: web::Bytes) -> HttpResponse {
    let auth = header(&req, "authorization");
    let want = format!(
        "Basic {}",
        base64_std(format!("api:{}", state.key).as_bytes())
    );
    if auth != want {
        return HttpResponse::Unauthorized().body("Forbidden");
    }
    if let Some(r) = state.failing() {
        return r;
    }
    let ct = header(&req, "content-type");
    let Some(boundary) = ct
        .split("boundary=")
        .nth(1)
        .map(|b| b.trim_matches('"').to_string())
    else {
        return HttpResponse::BadRequest().json(json!({"message": "multipart/form-data expected"}));
    };
    let (form, files) = multipart(&body, &boundary);
    for field in ["from", "to", "subject"] {
        if !form.contains_key(field) {
            return HttpResponse::BadRequest().json(json!({"message": format!("{field} missing")}));
        }
    }
    state.requests.lock().unwrap().push(ApiRequest {
        authorization: auth,
        json: Value::Null,
        form,
        files,
    });
    let n = state.seq.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok()
        .json(json!({"id": format!("<mg-{n}@fake>"), "message": "Queued. Thank you."}))
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

type Files = Vec<(String, String, String, Vec<u8>)>;

/// A small multipart/form-data reader: text fields, and files with their name and type.
fn multipart(body: &[u8], boundary: &str) -> (BTreeMap<String, String>, Files) {
    let delimiter = format!("--{boundary}");
    let mut form = BTreeMap::new();
    let mut files = Vec::new();
    let d = delimiter.as_bytes();
    let mut parts = Vec::new();
    let mut start = None;
    let mut i = 0;
    while i + d.len() <= body.len() {
        if &body[i..i + d.len()] == d {
            if let Some(s) = start {
                parts.push(&body[s..i.saturating_sub(2)]);
            }
            i += d.len();
            // Skip the CRLF after the delimiter.
            i += 2;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    for part in parts {
        let Some(split) = part.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split]).to_string();
        let content = part[split + 4..].to_vec();
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
            .unwrap_or_default();
        let value_of = |key: &str| {
            disposition
                .split(';')
                .map(str::trim)
                .find_map(|p| p.strip_prefix(&format!("{key}=")))
                .map(|v| v.trim_matches('"').to_string())
        };
        let Some(name) = value_of("name") else {
            continue;
        };
        match value_of("filename") {
            Some(file) => {
                let ct = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .starts_with("content-type")
                            .then(|| l.split(':').nth(1).unwrap_or_default().trim().to_string())
                    })
                    .unwrap_or_default();
                files.push((name, file, ct, content));
            }
            None => {
                form.insert(name, String::from_utf8_lossy(&content).to_string());
            }
        }
    }
    (form, files)
}
