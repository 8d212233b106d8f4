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
            .pool_idle_timeout(POOL_IDLE)
            .build()?;
        Ok(InternalClient {
            http,
            key: key.to_string(),
        })
    }

    /// GETs `url` with the key and the trace context; a 200 answer, or the error it means: 404 is
    /// [`InternalError::NotFound`], anything else [`InternalError::Unavailable`].
    ///
    /// A GET changes nothing, so one that failed before any answer came back (the connection
    /// was refused, reset or closed under it, as when the server ends an idle keep-alive
    /// connection just as the call goes out) is sent once more on a new connection.
    async fn get(&self, service: &str, url: &str) -> Result<reqwest::Response, InternalError> {
        match self.send(service, self.http.get(url)).await {
            Err(Sent::Unanswered(_)) => self.send(service, self.http.get(url)).await,
            other => other,
        }
        .map_err(InternalError::from)
    }

    /// POSTs to `url` (no body) and reads the JSON answer, as [`InternalClient::get_json`] does.
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        service: &str,
        url: &str,
    ) -> Result<T, InternalError> {
        self.send(service, self.http.post(url))
            .await
            .map_err(InternalError::from)?
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
            .await
            .map_err(InternalError::from)?
            .json::<T>()
            .await
            .map_err(|e| unavailable(service, format!("bad body: {e}")))
    }

    async fn send(
        &self,
        service: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Sent> {
        let mut req = req.header(HEADER, &self.key);
        if let Some(tp) = telemetry::current_traceparent() {
            req = req.header("traceparent", tp);
        }
        let resp = req.send().await.map_err(|e| {
            // The whole error chain: reqwest's own text only says "error sending request".
            let mut detail = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                detail.push_str(": ");
                detail.push_str(&s.to_string());
                source = s.source();
            }
            let failed = unavailable(service, detail);
            if e.is_timeout() || e.status().is_some() {
                Sent::Failed(failed)
            } else {
                Sent::Unanswered(failed)
            }
        })?;
        match resp.status().as_u16() {
            200 => Ok(resp),
            404 => Err(Sent::Failed(InternalError::NotFound)),
            s => Err(Sent::Failed(unavailable(service, format!("status {s}")))),
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

/// Why a call failed, and whether it failed before any answer (then a GET may be sent again).
enum Sent {
    Unanswered(InternalError),
    Failed(InternalError),
}

impl From<Sent> for InternalError {
    fn from(s: Sent) -> Self {
        match s {
            Sent::Unanswered(e) | Sent::Failed(e) => e,
        }
    }
}

/// How long an idle connection to another service stays pooled: under the servers' keep-alive
/// (actix's 5 s), so a connection the server is closing is not picked for the next call.
pub const POOL_IDLE: Duration = Duration::from_secs(4);

fn unavailable(service: &str, detail: String) -> InternalError {
    InternalError::Unavailable {
        service: service.to_string(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server that closes its first connection as soon as a request arrives (as a server does
    /// with a keep-alive connection it is ending) and answers `{}` on every later one. Returns
    /// its address and the number of requests it has read.
    async fn closing_once() -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(AtomicUsize::new(0));
        let counted = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let counted = counted.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                        return; // closed without an answer
                    }
                    let _ = socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}")
                        .await;
                });
            }
        });
        (format!("http://{addr}/internal/v1/x"), seen)
    }

    #[tokio::test]
    async fn a_get_that_lost_its_connection_is_sent_once_more_and_a_post_is_not() {
        telemetry::install_crypto_provider();
        let client = InternalClient::new("k", Duration::from_secs(2)).unwrap();

        let (url, seen) = closing_once().await;
        let got: Result<serde_json::Value, _> = client.get_json("other", &url).await;
        assert_eq!(got.ok(), Some(serde_json::json!({})));
        assert_eq!(seen.load(Ordering::SeqCst), 2, "the GET was sent twice");

        let (url, seen) = closing_once().await;
        let posted: Result<serde_json::Value, _> = client.post_json("other", &url).await;
        match posted {
            Err(InternalError::Unavailable { detail, .. }) => {
                assert!(detail.contains("error sending request"), "{detail}");
                assert!(
                    detail.len() > "error sending request".len() + 40,
                    "the cause: {detail}"
                );
            }
            other => panic!("expected unavailable, got {other:?}"),
        }
        assert_eq!(seen.load(Ordering::SeqCst), 1, "a POST is never sent twice");
    }
}
