//! HTTP routes of the certificate service, one file per resource.

pub mod admin;
pub mod certificates;
pub mod criteria;
pub mod templates;

use crate::Certificates;
use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<Certificates>) {
    cfg.app_data(state)
        .route("/api/v2/certificates", web::get().to(certificates::list))
        .route(
            "/api/v2/certificates/verify/{number}",
            web::get().to(certificates::verify),
        )
        .route(
            "/api/v2/certificates/share/{number}",
            web::get().to(certificates::share),
        )
        .route(
            "/api/v2/certificates/{id}",
            web::get().to(certificates::details),
        )
        .route(
            "/api/v2/certificates/{id}/download",
            web::get().to(certificates::download),
        )
        .route("/api/v2/admin/certificates", web::get().to(admin::list))
        .route("/api/v2/admin/certificates", web::post().to(admin::issue))
        .route(
            "/api/v2/admin/certificates/{id}/revoke",
            web::post().to(admin::revoke),
        )
        .route(
            "/api/v2/admin/completion-criteria/{courseId}",
            web::get().to(criteria::get),
        )
        .route(
            "/api/v2/admin/completion-criteria/{courseId}",
            web::put().to(criteria::put),
        )
        .route(
            "/api/v2/admin/certificate-templates",
            web::get().to(templates::list),
        )
        .route(
            "/api/v2/admin/certificate-templates",
            web::post().to(templates::create),
        )
        .route(
            "/api/v2/admin/certificate-templates/{id}",
            web::get().to(templates::get),
        )
        .route(
            "/api/v2/admin/certificate-templates/{id}",
            web::put().to(templates::update),
        )
        .route(
            "/api/v2/admin/certificate-templates/{id}/preview",
            web::get().to(templates::preview),
        );
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Cadence Commerce — certificates", version = "1"),
    paths(
        certificates::list, certificates::details, certificates::download, certificates::verify,
        certificates::share, admin::list, admin::issue, admin::revoke, criteria::get,
        criteria::put, templates::list, templates::create, templates::get, templates::update,
        templates::preview,
    ),
    components(schemas(
        crate::views::CertificateView, crate::views::CertificatePage, crate::views::Verification,
        crate::views::TemplateView, crate::views::TemplatePage, crate::views::CriteriaView,
        crate::domain::criteria::Criteria, crate::domain::criteria::Requirements,
        crate::domain::criteria::RequirementKind, crate::domain::template::Design,
        crate::domain::template::Layout, crate::domain::template::Signature,
        admin::ManualIssue, admin::Revoke, templates::NewTemplate, templates::TemplateUpdate,
    )),
    tags((name = "certificates", description = "Certificates: issue on completion, download, verify, templates, criteria, revocation"))
)]
struct CertificateApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    <CertificateApi as utoipa::OpenApi>::openapi()
}
