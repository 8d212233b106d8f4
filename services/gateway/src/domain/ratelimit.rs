//! Token buckets per caller for checkout and payment paths, and per address for public
//! certificate lookups.
//!
//! The key is the bearer token when there is one (each login gets its own bucket), otherwise the
//! peer address. Buckets idle for ten minutes are dropped.

use super::routing::{decoded, is_public_lookup, is_rate_limited};
use actix_web::dev::ServiceRequest;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use web::ApiError;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32, burst: u32) -> Self {
        RateLimiter {
            per_second: f64::from(per_minute) / 60.0,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`; `Err(seconds)` says when the next one is available.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.per_second).min(self.burst);
        b.updated = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - b.tokens) / self.per_second).ceil();
            Err((wait as u64).max(1))
        }
    }

    /// The request filter: 429 with `Retry-After` when the caller's bucket is empty.
    pub fn check(&self, req: &ServiceRequest) -> Result<(), ApiError> {
        let peer = || {
            req.peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default()
        };
        let path = decoded(req.path());
        let key = if is_public_lookup(req.method().as_str(), &path) {
            // A made-up token must not buy a fresh bucket: lookups count per address.
            format!("lookup:{}", peer())
        } else if is_rate_limited(req.method().as_str(), &path) {
            match req.headers().get(actix_web::http::header::AUTHORIZATION) {
                Some(v) => hex::encode(Sha256::digest(v.as_bytes())),
                None => peer(),
            }
        } else {
            return Ok(());
        };
        self.take(&key, Instant::now()).map_err(|secs| {
            metrics::counter!("gateway_rate_limited_total").increment(1);
            ApiError::too_many_requests(secs)
        })
    }

    fn prune(&self, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets.retain(|_, b| now.saturating_duration_since(b.updated) < Duration::from_secs(600));
    }
}

pub async fn prune_loop(limiter: Arc<RateLimiter>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => limiter.prune(Instant::now()),
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_burst_then_refills_at_the_rate() {
        let l = RateLimiter::new(60, 3);
        let t0 = Instant::now();
        assert!(l.take("a", t0).is_ok());
        assert!(l.take("a", t0).is_ok());
        assert!(l.take("a", t0).is_ok());
        assert_eq!(l.take("a", t0), Err(1));
        assert!(
            l.take("b", t0).is_ok(),
            "other callers have their own bucket"
        );
        assert!(
            l.take("a", t0 + Duration::from_secs(1)).is_ok(),
            "one token per second refills"
        );
    }
}
