//! HTTP proxy to services that run in other processes.

use ::web as web_kit;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use web_kit::ApiError;

pub struct Upstream {
    pub service: String,
    pub prefixes: &'static [&'static str],
    /// `None`: the service is neither here nor configured; its paths answer 503.
    pub base_url: Option<String>,
}

pub struct Proxy {
    pub client: reqwest::Client,
    pub upstreams: Vec<Upstream>,
}

/// Mounts a catch-all scope for every prefix of every remote service.
pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<Proxy>) {
    for (i, up) in state.upstreams.iter().enumerate() {
        for prefix in up.prefixes {
            cfg.service(
                web::scope(prefix)
                    .app_data(state.clone())
                    .app_data(web::Data::new(UpstreamIndex(i)))
                    .default_service(web::to(forward)),
            );
        }
    }
}

struct UpstreamIndex(usize);

/// Headers that describe one hop and must not be forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

async fn forward(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Proxy>,
    index: web::Data<UpstreamIndex>,
    verifier: web::Data<web_kit::Verifier>,
) -> Result<HttpResponse, ApiError> {
    let up = state
        .upstreams
        .get(index.0)
        .ok_or_else(|| ApiError::internal("unknown upstream"))?;
    let Some(base) = &up.base_url else {
        return Err(ApiError::unavailable(
            "service_unavailable",
            format!("the {} service is not available", up.service),
        ));
    };
    // Reject a bad token here rather than spending an upstream call on it.
    if let Some(auth) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let token = auth
            .to_str()
            .ok()
            .and_then(|t| {
                t.strip_prefix("Bearer ")
                    .or_else(|| t.strip_prefix("bearer "))
            })
            .ok_or_else(|| ApiError::unauthorized("expected `Authorization: Bearer <token>`"))?;
        verifier.verify(token.trim()).await?;
    }
    let url = format!(
        "{}{}{}",
        base.trim_end_matches('/'),
        req.path(),
        req.uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default()
    );
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
        .map_err(|_| ApiError::bad_request("invalid_method", "unsupported method"))?;
    let mut out = state.client.request(method, &url);
    for (name, value) in req.headers() {
        if HOP_BY_HOP.contains(&name.as_str()) || name.as_str() == "traceparent" {
            continue;
        }
        out = out.header(name.as_str(), value.as_bytes());
    }
    if let Some(tp) = telemetry::current_traceparent() {
        out = out.header("traceparent", tp);
    }
    if let Some(peer) = req.peer_addr() {
        out = out.header("x-forwarded-for", peer.ip().to_string());
    }
    let resp = out.body(body.to_vec()).send().await.map_err(|e| {
        if e.is_timeout() {
            ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                format!("the {} service timed out", up.service),
            )
        } else {
            tracing::warn!(service = %up.service, error = %e, "upstream unreachable");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_unavailable",
                format!("the {} service is unreachable", up.service),
            )
        }
    })?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut builder = HttpResponse::build(status);
    for (name, value) in resp.headers() {
        if HOP_BY_HOP.contains(&name.as_str()) {
            continue;
        }
        builder.append_header((name.as_str(), value.as_bytes()));
    }
    let bytes = resp.bytes().await.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_unavailable",
            format!("upstream body: {e}"),
        )
    })?;
    Ok(builder.body(bytes))
}
