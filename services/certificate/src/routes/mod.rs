//! HTTP routes of the certificate service, one file per resource.

pub mod admin;
pub mod certificates;
pub mod criteria;
pub mod templates;

use crate::Certificates;
use ::web::page::PageQuery;
use ::web::{ApiError, Caller, Role};
use actix_web::web;
use serde::Deserialize;

/// `?departmentId=&cursor=&limit=` of the admin lists.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct DepartmentPageQuery {
    /// Only this department (one of the caller's).
    #[param(nullable = false)]
    pub department_id: Option<String>,
    /// The `nextCursor` of the previous page (empty: the first page).
    #[param(
        nullable = false,
        pattern = "^$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    pub cursor: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(nullable = false, minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

impl DepartmentPageQuery {
    pub fn page(&self) -> PageQuery {
        PageQuery {
            cursor: self.cursor.clone(),
            limit: self.limit,
        }
    }

    /// The departments the list covers for `caller` (see [`Caller::department_scope`]).
    pub fn scope(&self, caller: &Caller) -> Result<Option<Vec<String>>, ApiError> {
        caller.department_scope(Role::DeptAdmin, self.department_id.as_deref())
    }
}

/// Room for a background and three signature images at their limit, in base64.
const TEMPLATE_BODY_LIMIT: usize = 2 * 1024 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<Certificates>) {
    // One resource per path, so a known path with another method answers 405 with `Allow`.
    cfg.app_data(state)
        .service(web::resource("/api/v2/certificates").get(certificates::list))
        .service(web::resource("/api/v2/certificates/verify/{number}").get(certificates::verify))
        .service(web::resource("/api/v2/certificates/share/{number}").get(certificates::share))
        .service(web::resource("/api/v2/certificates/{id}").get(certificates::details))
        .service(web::resource("/api/v2/certificates/{id}/download").get(certificates::download))
        .service(web::resource("/internal/certificates/{id}/pdf").get(certificates::internal_pdf))
        .service(
            web::resource("/api/v2/admin/certificates")
                .get(admin::list)
                .post(admin::issue),
        )
        .service(web::resource("/api/v2/admin/certificates/{id}/revoke").post(admin::revoke))
        .service(
            web::resource("/api/v2/admin/completion-criteria/{courseId}")
                .get(criteria::get)
                .put(criteria::put),
        )
        // A template carries its images: a larger body than elsewhere (the images' own limit
        // is checked when the template is validated).
        .service(
            web::resource("/api/v2/admin/certificate-templates")
                .app_data(web::PayloadConfig::new(TEMPLATE_BODY_LIMIT))
                .get(templates::list)
                .post(templates::create),
        )
        .service(
            web::resource("/api/v2/admin/certificate-templates/{id}")
                .app_data(web::PayloadConfig::new(TEMPLATE_BODY_LIMIT))
                .get(templates::get)
                .put(templates::update),
        )
        .service(
            web::resource("/api/v2/admin/certificate-templates/{id}/preview")
                .get(templates::preview),
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
