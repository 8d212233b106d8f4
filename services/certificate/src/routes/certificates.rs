//! Learners' own certificates (list, details, PDF) and the public verification and share page.

use crate::Certificates;
use crate::domain::CertificateError;
use crate::domain::certificate::looks_like_number;
use crate::storage::{self, CertificateRow};
use crate::views::*;
use ::web::page::PageQuery;
use ::web::{ApiError, Caller};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use uuid::Uuid;

#[utoipa::path(get, path = "/api/v2/certificates", tag = "certificates", security(("bearer" = [])),
    params(("cursor" = Option<String>, Query, nullable = false, pattern = "^$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "The `nextCursor` of the previous page (empty: the first page)"), ("limit" = Option<u64>, Query, nullable = false, minimum = 1, maximum = 100, description = "Items per page, 1 to 100 (default 20)")),
    responses((status = 200, body = CertificatePage, description = "The caller's certificates, newest first"),
        (status = 400, description = "invalid_query"), (status = 401)))]
pub async fn list(
    state: web::Data<Certificates>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = q.limit()?;
    let rows = storage::page(&state.db, Some(&caller.user_id), None, q.cursor()?, limit).await?;
    Ok(HttpResponse::Ok().json(state.page(rows, limit).await?))
}

/// The caller's certificate `id`; another learner's is as unknown as a missing one.
async fn own(state: &Certificates, caller: &Caller, id: &str) -> Result<CertificateRow, ApiError> {
    let missing = || CertificateError::NotFound(format!("no certificate `{id}`"));
    let id = Uuid::parse_str(id).map_err(|_| missing())?;
    storage::get(&state.db, id)
        .await?
        .filter(|c| c.user_id == caller.user_id)
        .ok_or_else(|| missing().into())
}

#[utoipa::path(get, path = "/api/v2/certificates/{id}", tag = "certificates", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = CertificateView), (status = 401),
        (status = 404, description = "Unknown, or another learner's")))]
pub async fn details(
    state: web::Data<Certificates>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = own(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(state.view(&c).await?))
}

#[utoipa::path(get, path = "/api/v2/certificates/{id}/download", tag = "certificates", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid), ("If-None-Match" = Option<String>, Header, nullable = false, description = "An ETag of an earlier answer")),
    responses((status = 200, content_type = "application/pdf", description = "The certificate as a PDF, with an ETag"),
        (status = 304, description = "The ETag still matches"), (status = 401),
        (status = 404, description = "Unknown, or another learner's")))]
pub async fn download(
    req: HttpRequest,
    state: web::Data<Certificates>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = own(&state, &caller, &id).await?;
    let (design, version) = state.design_of(&c).await?;
    let etag = format!("\"{}\"", crate::render::etag(&c, &version, &state.base_url));
    if ::web::etag::matches(&req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    let pdf = state
        .render_pdf(design, crate::render::printed(&c, &state.urls()))
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{}.pdf\"", c.number),
        ))
        .body(pdf))
}

/// Finds a certificate by number with one query whether or not the number is well formed, so
/// that an unknown number costs what a known one does.
async fn by_number(state: &Certificates, number: &str) -> Result<CertificateRow, ApiError> {
    let shaped = looks_like_number(number);
    let lookup = if shaped { number } else { "" };
    storage::by_number(&state.db, lookup)
        .await?
        .filter(|_| shaped)
        .ok_or_else(|| CertificateError::NotFound("no such certificate".into()).into())
}

#[utoipa::path(get, path = "/api/v2/certificates/verify/{number}", tag = "certificates",
    params(("number" = String, Path, description = "CERT-<year>-<code>")),
    responses((status = 200, body = Verification, description = "Public: who holds it, what for, and whether it is still valid"),
        (status = 404, description = "No such certificate"), (status = 429)))]
pub async fn verify(
    state: web::Data<Certificates>,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = by_number(&state, &number).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(c.verification(state.clock.now())))
}

#[utoipa::path(get, path = "/api/v2/certificates/share/{number}", tag = "certificates",
    params(("number" = String, Path, description = "CERT-<year>-<code>")),
    responses((status = 200, content_type = "text/html", description = "Public page showing the verification"),
        (status = 404, description = "No such certificate"), (status = 429)))]
pub async fn share(
    state: web::Data<Certificates>,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = by_number(&state, &number).await?;
    let v = c.verification(state.clock.now());
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(crate::render::share_page(
            &v,
            &state.urls().verification(&c.number),
        )))
}

/// `GET /internal/certificates/{id}/pdf`: the PDF for another service of the platform (the
/// notification service attaches it to the certificate email). Not in the public API.
pub async fn internal_pdf(
    _internal: ::web::internal::Internal,
    state: web::Data<Certificates>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let missing = || CertificateError::NotFound(format!("no certificate `{id}`"));
    let cid = Uuid::parse_str(&id).map_err(|_| missing())?;
    let c = storage::get(&state.db, cid).await?.ok_or_else(missing)?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .body(state.pdf_of(&c).await?))
}
