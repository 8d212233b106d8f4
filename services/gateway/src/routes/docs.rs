//! The merged OpenAPI document of every routed service, and a docs page that works offline
//! (Swagger UI assets are embedded at build time).

use crate::domain::routing;
use actix_web::{HttpResponse, web};
use utoipa::openapi::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub fn merged(docs: &[(String, OpenApi)]) -> serde_json::Value {
    let mut out = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Cadence Commerce API")
                .version("2")
                .description(Some("Every service behind the gateway. Errors are application/problem+json with a stable `code`; a known path called with another method answers 405 with `Allow`.")),
        )
        .build();
    out.merge(super::webhooks::openapi());
    for (_, d) in docs {
        out.merge(d.clone());
    }
    let mut doc = serde_json::to_value(&out).unwrap_or_default();
    ::web::openapi::conventions(&mut doc);
    rate_limited(&mut doc);
    doc
}

/// Declares the gateway's own 429 (with `Retry-After`) on every operation it rate-limits.
fn rate_limited(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let m = method.to_ascii_uppercase();
            if !(routing::is_rate_limited(&m, path) || routing::is_public_lookup(&m, path)) {
                continue;
            }
            if let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) {
                responses.insert("429".into(), serde_json::json!({
                    "description": "rate_limited: too many requests from this caller (or address); retry after `Retry-After` seconds",
                    "headers": {"Retry-After": {"description": "Seconds until a request is accepted again", "schema": {"type": "integer", "minimum": 1}}},
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
                }));
            }
        }
    }
}

/// The document at `/api/openapi.json` (a resource of its own, so another method answers 405)
/// and the docs page reading it.
pub fn configure(cfg: &mut web::ServiceConfig, doc: serde_json::Value) {
    let doc = web::Data::new(doc);
    cfg.service(web::resource(DOCUMENT).app_data(doc).get(
        |doc: web::Data<serde_json::Value>| async move { HttpResponse::Ok().json(doc.as_ref()) },
    ))
    .service(SwaggerUi::new("/api/docs/{_:.*}").config(utoipa_swagger_ui::Config::from(DOCUMENT)));
}

const DOCUMENT: &str = "/api/openapi.json";
