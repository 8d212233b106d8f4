//! RFC 9457 problem details. Every error the platform returns has a stable `code` a client can
//! branch on; `detail` is for humans and may change.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Extension members (RFC 9457 §3.2), e.g. the updated cart of a `price_changed` conflict.
    #[serde(flatten)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// An error answer. Construct it with the helpers; the code is part of the public contract.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub field: Option<String>,
    pub retry_after_secs: Option<u64>,
    /// Boxed: most errors have none, and a small error keeps `Result`s cheap.
    pub extensions: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            field: None,
            retry_after_secs: None,
            extensions: None,
        }
    }
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    /// Adds an extension member to the problem.
    pub fn with(mut self, name: &str, value: serde_json::Value) -> Self {
        self.extensions
            .get_or_insert_with(Default::default)
            .insert(name.to_string(), value);
        self
    }
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }
    /// A well-formed request that breaks a rule (422).
    pub fn rule(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }
    pub fn unavailable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, detail)
    }
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests; retry later",
        );
        e.retry_after_secs = Some(retry_after_secs);
        e
    }
    /// An unexpected failure: logged in full, answered without internals.
    pub fn internal(err: impl fmt::Display) -> Self {
        tracing::error!(error = %err, "unexpected error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an unexpected error occurred",
        )
    }

    pub fn problem(&self) -> Problem {
        Problem {
            type_uri: format!("urn:cadence-commerce:problem:{}", self.code),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_string(),
            field: self.field.clone(),
            extensions: self.extensions.as_deref().cloned().unwrap_or_default(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut b = HttpResponse::build(self.status);
        b.content_type(PROBLEM_JSON);
        if let Some(s) = self.retry_after_secs {
            b.insert_header(("Retry-After", s.to_string()));
        }
        b.json(self.problem())
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        use sea_orm::DbErr;
        match &e {
            DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::unavailable(
                    "database_unavailable",
                    "the database is unavailable; nothing was changed",
                )
            }
            _ => {
                let text = e.to_string();
                if text.contains("Connection refused")
                    || text.contains("connection closed")
                    || text.contains("PoolTimedOut")
                {
                    tracing::warn!(error = %e, "database unavailable");
                    return ApiError::unavailable(
                        "database_unavailable",
                        "the database is unavailable; nothing was changed",
                    );
                }
                ApiError::internal(e)
            }
        }
    }
}

/// Answers unknown routes with a problem instead of an empty 404.
pub async fn not_found_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("no such route"))
}

/// Middleware: the answers the router gives by itself, as problems, and input no route can store.
///
/// - A path or query string holding U+0000 (`%00`) is refused with 400 `invalid_characters`
///   before any route reads it: PostgreSQL text cannot hold that character.
/// - A known path called with another method (actix answers 405 with an `Allow` header and no
///   body) gets a problem naming the allowed methods; `Allow` is kept.
pub async fn router_problems(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if has_nul(req.path()) || has_nul(req.query_string()) {
        let e = ApiError::bad_request(
            "invalid_characters",
            "the path or query holds U+0000, which no field may contain",
        );
        return Ok(req.into_response(e.error_response()));
    }
    let res = next.call(req).await?;
    if res.status() != StatusCode::METHOD_NOT_ALLOWED
        || res.headers().contains_key(header::CONTENT_TYPE)
    {
        return Ok(res.map_into_boxed_body());
    }
    let allow = res
        .headers()
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let problem = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("this path answers only {allow}"),
    );
    let mut answer = problem.error_response();
    if let Ok(v) = header::HeaderValue::from_str(&allow) {
        answer.headers_mut().insert(header::ALLOW, v);
    }
    let (req, _) = res.into_parts();
    Ok(ServiceResponse::new(req, answer))
}

/// Whether `s` holds U+0000, raw or percent-encoded.
fn has_nul(s: &str) -> bool {
    s.contains('\0') || s.as_bytes().windows(3).any(|w| w == b"%00")
}
