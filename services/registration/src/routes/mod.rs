//! HTTP routes of registration, one file per resource.

pub mod registrations;

use crate::Registration;
use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<Registration>) {
    // One resource per path, so a known path with another method answers 405 with `Allow`.
    cfg.app_data(state)
        .service(web::resource("/api/v2/registrations").get(registrations::list_own))
        .service(web::resource("/api/v2/registrations/{id}").get(registrations::get_own))
        .service(web::resource("/api/v2/admin/registrations").get(registrations::admin_list))
        .service(web::resource("/api/v2/admin/registrations/bulk").post(registrations::bulk))
        .service(
            web::resource("/api/v2/admin/registrations/{id}/approve").post(registrations::approve),
        )
        .service(
            web::resource("/api/v2/admin/registrations/{id}/reject").post(registrations::reject),
        )
        .service(
            web::resource("/api/v2/admin/registrations/{id}/redrive").post(registrations::redrive),
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
