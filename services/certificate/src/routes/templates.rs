//! Certificate templates per department (CERT-003): list, create, read, update, and a preview
//! PDF with sample data. Saving validates everything a render needs.

use crate::Certificates;
use crate::domain::CertificateError;
use crate::domain::template::Design;
use crate::pdf::Printed;
use crate::storage;
use crate::views::{TemplatePage, TemplateView};
use ::web::page::Page;
use ::web::{ApiError, Authorized, Caller, Json, Role, roles};
use actix_web::{HttpResponse, web};
use sea_orm::TransactionTrait;
use serde::Deserialize;
use uuid::Uuid;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewTemplate {
    pub department_id: String,
    /// Becomes the department's default (the previous default stops being it).
    #[serde(default)]
    pub is_default: bool,
    #[serde(flatten)]
    pub design: Design,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateUpdate {
    /// Absent: stays as it is.
    #[serde(default)]
    pub is_default: Option<bool>,
    #[serde(flatten)]
    pub design: Design,
}

/// Two defaults saved at once for one department: the later one is told to retry.
fn default_taken(e: sea_orm::DbErr) -> ApiError {
    if db::is_unique_violation(&e) {
        ApiError::conflict(
            "default_conflict",
            "another default template was saved for the department at the same time; retry",
        )
    } else {
        e.into()
    }
}

fn valid(design: &Design) -> Result<(), ApiError> {
    design
        .validate()
        .map_err(|i| CertificateError::invalid(i.field, i.reason).into())
}

#[utoipa::path(get, path = "/api/v2/admin/certificate-templates", tag = "certificates", security(("bearer" = [])),
    params(super::DepartmentPageQuery),
    responses((status = 200, body = TemplatePage, description = "Templates of the caller's departments"),
        (status = 400, description = "invalid_query"), (status = 401), (status = 403)))]
pub async fn list(
    state: web::Data<Certificates>,
    caller: Authorized<roles::CatalogAdmin>,
    q: web::Query<super::DepartmentPageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = q.page();
    let limit = page.limit()?;
    let departments = q.scope(&caller)?;
    let rows = storage::templates(&state.db, departments.as_deref(), page.cursor()?, limit).await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        items.push(TemplateView::of(r, r.design()?));
    }
    let p = Page::from_rows(items, limit, |t| t.id.to_string());
    Ok(HttpResponse::Ok().json(TemplatePage {
        items: p.items,
        next_cursor: p.next_cursor,
    }))
}

#[utoipa::path(post, path = "/api/v2/admin/certificate-templates", tag = "certificates", security(("bearer" = [])),
    request_body = NewTemplate,
    responses((status = 201, body = TemplateView), (status = 400, description = "invalid_body"),
        (status = 401), (status = 403, description = "Not an admin of the department"),
        (status = 409, description = "default_conflict: another default saved at the same time"),
        (status = 422, description = "validation_failed: an unknown variable, font or colour, an image over the limit (names the field)")))]
pub async fn create(
    state: web::Data<Certificates>,
    caller: Authorized<roles::CatalogAdmin>,
    body: Json<NewTemplate>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    caller.require_department(Role::DeptAdmin, &b.department_id)?;
    valid(&b.design)?;
    let id = Uuid::now_v7();
    let now = state.clock.now();
    let txn = state.db.begin().await.map_err(ApiError::from)?;
    if b.is_default {
        storage::clear_default(&txn, &b.department_id).await?;
    }
    storage::insert_template(
        &txn,
        id,
        &b.department_id,
        &b.design,
        b.is_default,
        &caller.user_id,
        now,
    )
    .await
    .map_err(default_taken)?;
    txn.commit().await.map_err(default_taken)?;
    let row = storage::template(&state.db, id)
        .await?
        .ok_or_else(|| CertificateError::Corrupt("template vanished".into()))?;
    Ok(HttpResponse::Created().json(TemplateView::of(&row, b.design)))
}

async fn template_of(
    state: &Certificates,
    caller: &Caller,
    id: &str,
) -> Result<storage::TemplateRow, ApiError> {
    let missing = || CertificateError::NotFound(format!("no template `{id}`"));
    let id = Uuid::parse_str(id).map_err(|_| missing())?;
    let row = storage::template(&state.db, id)
        .await?
        .ok_or_else(missing)?;
    caller.require_department(Role::DeptAdmin, &row.department_id)?;
    Ok(row)
}

#[utoipa::path(get, path = "/api/v2/admin/certificate-templates/{id}", tag = "certificates", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = TemplateView), (status = 401), (status = 403), (status = 404)))]
pub async fn get(
    state: web::Data<Certificates>,
    caller: Authorized<roles::CatalogAdmin>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = template_of(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(TemplateView::of(&row, row.design()?)))
}

#[utoipa::path(put, path = "/api/v2/admin/certificate-templates/{id}", tag = "certificates", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    request_body = TemplateUpdate,
    responses((status = 200, body = TemplateView), (status = 400, description = "invalid_body"),
        (status = 401), (status = 403), (status = 404),
        (status = 409, description = "default_conflict: another default saved at the same time"),
        (status = 422, description = "validation_failed (names the field)")))]
pub async fn update(
    state: web::Data<Certificates>,
    caller: Authorized<roles::CatalogAdmin>,
    id: web::Path<String>,
    body: Json<TemplateUpdate>,
) -> Result<HttpResponse, ApiError> {
    let row = template_of(&state, &caller, &id).await?;
    let b = body.into_inner();
    valid(&b.design)?;
    let is_default = b.is_default.unwrap_or(row.is_default);
    let txn = state.db.begin().await.map_err(ApiError::from)?;
    if is_default && !row.is_default {
        storage::clear_default(&txn, &row.department_id).await?;
    }
    storage::update_template(&txn, row.id, &b.design, is_default, state.clock.now())
        .await
        .map_err(default_taken)?;
    txn.commit().await.map_err(ApiError::from)?;
    let row = storage::template(&state.db, row.id)
        .await?
        .ok_or_else(|| CertificateError::Corrupt("template vanished".into()))?;
    Ok(HttpResponse::Ok().json(TemplateView::of(&row, b.design)))
}

#[utoipa::path(get, path = "/api/v2/admin/certificate-templates/{id}/preview", tag = "certificates", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, content_type = "application/pdf", description = "The template rendered with sample data"),
        (status = 401), (status = 403), (status = 404)))]
pub async fn preview(
    state: web::Data<Certificates>,
    caller: Authorized<roles::CatalogAdmin>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = template_of(&state, &caller, &id).await?;
    let design = row.design()?;
    let number = "CERT-2026-SAMPLE0000000000".to_string();
    let printed = Printed {
        recipient_name: "Zoë Łukasiewicz-Nguyễn".into(),
        course_name: "Sample Course".into(),
        certificate_type: "course".into(),
        completion_date: "28 November 2026".into(),
        issue_date: "28 November 2026".into(),
        expiry_date: None,
        verification_url: state.urls().verification(&number),
        number,
        revoked: None,
    };
    let pdf = state.render_pdf(design, printed).await?;
    Ok(HttpResponse::Ok().content_type("application/pdf").body(pdf))
}
