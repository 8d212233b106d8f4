//! The merged OpenAPI document of every routed service, and a docs page that works offline
//! (Swagger UI assets are embedded at build time).

use actix_web::web;
use utoipa::openapi::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub fn merged(docs: &[(String, OpenApi)]) -> OpenApi {
    let mut out = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Cadence Commerce API")
                .version("2")
                .description(Some("Every service behind the gateway. Errors are application/problem+json with a stable `code`.")),
        )
        .build();
    for (_, d) in docs {
        out.merge(d.clone());
    }
    out
}

pub fn configure(cfg: &mut web::ServiceConfig, doc: OpenApi) {
    cfg.service(SwaggerUi::new("/api/docs/{_:.*}").url("/api/openapi.json", doc));
}
