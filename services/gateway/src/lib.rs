//! The gateway: the one address the UI, the LMS and the processors talk to.
//!
//! - routes every spec path to its owning service: in-process when that service runs in the same
//!   process, over HTTP (with a timeout) to `gateway.upstreams.<service>` when it does not;
//! - verifies bearer JWTs before proxying;
//! - rate-limits checkout and payment paths (429 with `Retry-After`);
//! - relays inbound webhooks into JetStream `inbound.*` and answers 2xx only after the ack;
//! - serves the merged OpenAPI document at `/api/openapi.json` and a docs page at `/api/docs/`.
//!
//! # Layout
//! - [`config`]: the `[gateway]` settings, validated.
//! - [`domain`]: who owns which path (declared by each service), rate-limited paths, token buckets.
//! - [`routes`]: the proxy, the webhook relay, the OpenAPI document.
//!
//! The gateway owns no data: it has no storage, migration, views, events or consumers.

pub mod config;
pub mod domain;
pub mod routes;

use domain::ratelimit;
use routes::{docs, proxy, webhooks};

use futures_util::future::BoxFuture;
use runtime::{Context, Mounted, ServiceFactory, Settings, StartError};
use std::sync::Arc;
use std::time::Duration;

pub const NAME: &str = "gateway";

pub struct GatewayService;

impl ServiceFactory for GatewayService {
    fn name(&self) -> &'static str {
        NAME
    }

    fn migrate<'a>(&'a self, _settings: &'a Settings) -> BoxFuture<'a, Result<(), StartError>> {
        // The gateway owns nothing durable.
        Box::pin(async { Ok(()) })
    }

    fn build(&self, ctx: Context) -> BoxFuture<'_, Result<Mounted, StartError>> {
        Box::pin(async move {
            let settings = config::GatewayConfig::load(&ctx.settings)?;
            let timeout = settings.timeout;
            let client = reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(Duration::from_secs(2))
                .pool_max_idle_per_host(64)
                .pool_idle_timeout(web::internal::POOL_IDLE)
                .build()
                .map_err(|e| StartError::Other(format!("gateway http client: {e}")))?;
            let remote: Vec<proxy::Upstream> = ctx
                .prefixes
                .iter()
                .filter(|(service, _)| !ctx.local_services.iter().any(|l| l == service))
                .map(|(service, prefixes)| proxy::Upstream {
                    service: service.clone(),
                    prefixes,
                    base_url: settings.upstreams.get(service).cloned(),
                })
                .collect();
            let routed: Vec<(String, utoipa::openapi::OpenApi)> = ctx
                .openapi
                .iter()
                .filter(|(name, _)| {
                    ctx.local_services.contains(name) || settings.upstreams.contains_key(name)
                })
                .cloned()
                .collect();
            let doc = docs::merged(&routed);
            let limiter = Arc::new(ratelimit::RateLimiter::new(
                settings.rate_per_minute,
                settings.burst,
            ));
            let proxy_state = actix_web::web::Data::new(proxy::Proxy {
                client,
                upstreams: remote,
            });
            let relay = actix_web::web::Data::new(webhooks::Relay {
                bus: ctx.bus.clone(),
                clock: Arc::new(kernel::SystemClock),
                stripe_scheme_secrets: config::processor_webhook_secrets(&ctx.settings)?,
                square: config::square_webhook(&ctx.settings)?,
                standard_secrets: config::lms_webhook_secrets(&ctx.settings)?,
            });
            let filter_limiter = limiter.clone();
            Ok(Mounted {
                routes: Arc::new(move |cfg| {
                    webhooks::configure(cfg, relay.clone());
                    docs::configure(cfg, doc.clone());
                    proxy::configure(cfg, proxy_state.clone());
                }),
                tasks: vec![Box::pin(ratelimit::prune_loop(
                    limiter,
                    ctx.shutdown.clone(),
                ))],
                ready: vec![],
                filters: vec![Arc::new(move |req| filter_limiter.check(req))],
            })
        })
    }
}
