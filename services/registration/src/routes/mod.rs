//! HTTP routes of registration, one file per resource.

pub mod registrations;

use crate::Registration;
use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<Registration>) {
    cfg.app_data(state)
        .route(
            "/api/v2/registrations",
            web::get().to(registrations::list_own),
        )
        .route(
            "/api/v2/registrations/{id}",
            web::get().to(registrations::get_own),
        )
        .route(
            "/api/v2/admin/registrations",
            web::get().to(registrations::admin_list),
        )
        .route(
            "/api/v2/admin/registrations/bulk",
            web::post().to(registrations::bulk),
        )
        .route(
            "/api/v2/admin/registrations/{id}/approve",
            web::post().to(registrations::approve),
        )
        .route(
            "/api/v2/admin/registrations/{id}/reject",
            web::post().to(registrations::reject),
        )
        .route(
            "/api/v2/admin/registrations/{id}/redrive",
            web::post().to(registrations::redrive),
        );
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Cadence Commerce — registrations", version = "2"),
    paths(
        registrations::list_own, registrations::get_own, registrations::admin_list,
        registrations::approve, registrations::reject, registrations::bulk, registrations::redrive,
    ),
    components(schemas(registrations::RejectBody, registrations::BulkBody, registrations::Action)),
    tags((name = "registrations", description = "Registrations and the approval queue"))
)]
struct RegistrationApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    <RegistrationApi as utoipa::OpenApi>::openapi()
}
