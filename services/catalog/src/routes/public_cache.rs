//! The public catalog answers (lists and details anyone may read) served from memory. Each
//! answer is kept by its exact path and query, with a strong ETag (`If-None-Match` → 304) and
//! `Cache-Control: public, max-age=1` so a CDN in front of the gateway may keep it for a second.
//!
//! Freshness: every catalog write of this process drops the whole cache when it commits, the
//! catalog's own events (published by any instance) drop it when they arrive, and no answer is
//! served older than one second whatever happens: a price change is visible within 1 s. Only
//! public data goes through here; nothing depends on the caller.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use web::ApiError;

/// The staleness bound of a cached answer.
pub const MAX_AGE: Duration = Duration::from_secs(1);
/// Beyond this many distinct queries the cache starts over (queries are client-chosen).
const MAX_ENTRIES: usize = 4096;
const CACHE_CONTROL: &str = "public, max-age=1";

/// A public answer's JSON body.
pub fn json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(v).map_err(ApiError::internal)
}

struct Entry {
    generation: u64,
    at: Instant,
    body: Bytes,
    etag: HeaderValue,
}

pub struct PublicCache {
    generation: AtomicU64,
    entries: RwLock<HashMap<String, Arc<Entry>>>,
}

impl Default for PublicCache {
    fn default() -> Self {
        PublicCache {
            generation: AtomicU64::new(0),
            entries: RwLock::new(HashMap::new()),
        }
    }
}

impl PublicCache {
    /// Every answer made before this call is stale.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The answer to `req`: from memory while fresh, else from `compute` (a JSON body), kept.
    pub async fn serve<F, Fut>(
        &self,
        req: &HttpRequest,
        compute: F,
    ) -> Result<HttpResponse, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<u8>, ApiError>>,
    {
        let key = req.uri().to_string();
        // Taken before computing: a write committed meanwhile makes this answer stale at once.
        let generation = self.generation.load(Ordering::Acquire);
        let hit = self
            .entries
            .read()
            .ok()
            .and_then(|m| m.get(&key).cloned())
            .filter(|e| e.generation == generation && e.at.elapsed() < MAX_AGE);
        let entry = match hit {
            Some(e) => {
                metrics::counter!("catalog_cache_hits_total").increment(1);
                e
            }
            None => {
                metrics::counter!("catalog_cache_misses_total").increment(1);
                let body = compute().await?;
                let digest = Sha256::digest(&body);
                let etag = HeaderValue::from_str(&format!("\"{}\"", hex::encode(&digest[..16])))
                    .map_err(ApiError::internal)?;
                let e = Arc::new(Entry {
                    generation,
                    at: Instant::now(),
                    body: Bytes::from(body),
                    etag,
                });
                if let Ok(mut m) = self.entries.write() {
                    if m.len() >= MAX_ENTRIES {
                        m.clear();
                    }
                    m.insert(key, e.clone());
                }
                e
            }
        };
        Ok(respond(req, &entry))
    }
}

fn respond(req: &HttpRequest, e: &Entry) -> HttpResponse {
    let matches = e.etag.to_str().is_ok_and(|t| ::web::etag::matches(req, t));
    let mut r = if matches {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    r.insert_header((header::ETAG, e.etag.clone()))
        .insert_header((header::CACHE_CONTROL, CACHE_CONTROL));
    if matches {
        r.finish()
    } else {
        r.content_type("application/json").body(e.body.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use std::sync::atomic::AtomicUsize;

    async fn body(r: HttpResponse) -> Vec<u8> {
        actix_web::body::to_bytes(r.into_body())
            .await
            .unwrap()
            .to_vec()
    }

    #[actix_web::test]
    async fn serves_from_memory_until_a_write_or_a_second_passes() {
        let cache = PublicCache::default();
        let computed = AtomicUsize::new(0);
        let compute = || async {
            let n = computed.fetch_add(1, Ordering::SeqCst);
            Ok(format!(r#"{{"n":{n}}}"#).into_bytes())
        };
        let req = TestRequest::get()
            .uri("/api/v2/catalog/courses?q=rust")
            .to_http_request();
        let first = cache.serve(&req, compute).await.unwrap();
        let etag = first.headers().get(header::ETAG).unwrap().clone();
        assert_eq!(
            first.headers().get(header::CACHE_CONTROL).unwrap(),
            CACHE_CONTROL
        );
        assert_eq!(body(first).await, br#"{"n":0}"#);
        assert_eq!(
            body(cache.serve(&req, compute).await.unwrap()).await,
            br#"{"n":0}"#
        );
        assert_eq!(
            computed.load(Ordering::SeqCst),
            1,
            "the second read came from memory"
        );

        // The same ETag → 304 without a body.
        let cond = TestRequest::get()
            .uri("/api/v2/catalog/courses?q=rust")
            .insert_header((header::IF_NONE_MATCH, etag.clone()))
            .to_http_request();
        let not_modified = cache.serve(&cond, compute).await.unwrap();
        assert_eq!(
            not_modified.status(),
            actix_web::http::StatusCode::NOT_MODIFIED
        );
        assert!(body(not_modified).await.is_empty());

        // Another query is another answer.
        let other = TestRequest::get()
            .uri("/api/v2/catalog/courses?q=go")
            .to_http_request();
        assert_eq!(
            body(cache.serve(&other, compute).await.unwrap()).await,
            br#"{"n":1}"#
        );

        // A write drops everything.
        cache.invalidate();
        assert_eq!(
            body(cache.serve(&req, compute).await.unwrap()).await,
            br#"{"n":2}"#
        );
        let changed = cache.serve(&cond, compute).await.unwrap();
        assert_eq!(
            changed.status(),
            actix_web::http::StatusCode::OK,
            "a new ETag"
        );

        // Nothing is older than MAX_AGE.
        std::thread::sleep(MAX_AGE);
        assert_eq!(
            body(cache.serve(&req, compute).await.unwrap()).await,
            br#"{"n":3}"#
        );
    }
}
