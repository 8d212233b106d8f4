//! Service-to-service calls: `/internal/...` endpoints require the shared internal key, and
//! [`InternalClient`] sends it with a timeout on every call.

use crate::problem::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::{Ready, ready};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::time::Duration;

pub const HEADER: &str = "x-internal-key";

/// The configured key, stored as a digest so comparison takes the same time for every guess.
#[derive(Clone)]
pub struct InternalKey(web::Data<[u8; 32]>);

impl InternalKey {
    pub fn new(key: &str) -> Self {
        InternalKey(web::Data::new(Sha256::digest(key.as_bytes()).into()))
    }

    fn matches(&self, presented: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented).into();
        digest
            .iter()
            .zip(self.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// Proof that the request came from another service of the platform.
pub struct Internal;

impl FromRequest for Internal {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let key = req.app_data::<InternalKey>();
        let presented = req.headers().get(HEADER).map(|v| v.as_bytes());
        ready(match (key, presented) {
            (Some(k), Some(p)) if k.matches(p) => Ok(Internal),
            // Answer as if the route did not exist.
            _ => Err(ApiError::not_found("no such route")),
        })
    }
}

/// Why an internal call failed.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    #[error("not found")]
    NotFound,
    #[error("{service} is unavailable: {detail}")]
    Unavailable { service: String, detail: String },
    /// The other service answered something that breaks the contract.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

impl From<InternalError> for ApiError {
    fn from(e: InternalError) -> Self {
        match e {
            InternalError::NotFound => ApiError::not_found("not found"),
            InternalError::Unexpected(detail) => ApiError::internal(detail),
            InternalError::Unavailable { service, detail } => {
                tracing::warn!(%service, %detail, "internal call failed");
                ApiError::unavailable(
                    "dependency_unavailable",
                    format!("the {service} service is unavailable; nothing was changed"),
                )
            }
        }
    }
}

#[derive(Clone)]
pub struct InternalClient {
    http: reqwest::Client,
    key: String,
}

impl InternalClient {
    pub fn new(key: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(2))
            .pool_max_idle_per_host(32)
            .build()?;
        Ok(InternalClient {
            http,
            key: key.to_string(),
        })
    }

    /// GETs `url` with the key and the trace context; a 200 answer, or the error it means: 404 is
    /// [`InternalError::NotFound`], anything else [`InternalError::Unavailable`].
    async fn get(&self, service: &str, url: &str) -> Result<reqwest::Response, InternalError> {
        self.send(service, self.http.get(url)).await
    }

    /// POSTs to `url` (no body) and reads the JSON answer, as [`InternalClient::get_json`] does.
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        service: &str,
        url: &str,
    ) -> Result<T, InternalError> {
        self.send(service, self.http.post(url))
            .await?
            .json::<T>()
            .await
            .map_err(|e| unavailable(service, format!("bad body: {e}")))
    }

    /// POSTs `body` as JSON to `url` and reads the JSON answer, as [`InternalClient::get_json`]
    /// does.
    pub async fn post_body_json<B: serde::Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        service: &str,
        url: &str,
        body: &B,
    ) -> Result<T, InternalError> {
        self.send(service, self.http.post(url).json(body))
            .await?
            .json::<T>()
            .await
            .map_err(|e| unavailable(service, format!("bad body: {e}")))
    }

    async fn send(
        &self,
        service: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, InternalError> {
        let mut req = req.header(HEADER, &self.key);
        if let Some(tp) = telemetry::current_traceparent() {
            req = req.header("traceparent", tp);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| unavailable(service, e.to_string()))?;
        match resp.status().as_u16() {
            200 => Ok(resp),
            404 => Err(InternalError::NotFound),
            s => Err(unavailable(service, format!("status {s}"))),
        }
    }

    /// GETs the raw body of `url` (a PDF, say).
    pub async fn get_bytes(&self, service: &str, url: &str) -> Result<bytes::Bytes, InternalError> {
        self.get(service, url)
            .await?
            .bytes()
            .await
            .map_err(|e| unavailable(service, format!("body: {e}")))
    }

    /// GETs JSON from `url`.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        service: &str,
        url: &str,
    ) -> Result<T, InternalError> {
        self.get(service, url)
            .await?
            .json::<T>()
            .await
            .map_err(|e| unavailable(service, format!("bad body: {e}")))
    }
}

fn unavailable(service: &str, detail: String) -> InternalError {
    InternalError::Unavailable {
        service: service.to_string(),
        detail,
    }
}
