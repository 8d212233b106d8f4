//! The merged OpenAPI document of every routed service, and a docs page that works offline
//! (Swagger UI assets are embedded at build time).

use actix_web::{HttpResponse, web};
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

/// The document at `/api/openapi.json` (a resource of its own, so another method answers 405)
/// and the docs page reading it.
pub fn configure(cfg: &mut web::ServiceConfig, doc: OpenApi) {
    let doc = web::Data::new(doc);
    cfg.service(
        web::resource(DOCUMENT)
            .app_data(doc)
            .get(|doc: web::Data<OpenApi>| async move { HttpResponse::Ok().json(doc.as_ref()) }),
    )
    .service(SwaggerUi::new("/api/docs/{_:.*}").config(utoipa_swagger_ui::Config::from(DOCUMENT)));
}

const DOCUMENT: &str = "/api/openapi.json";
