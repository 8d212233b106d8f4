//! `/api/v2/admin/pricing`: create (or supersede), list with history, deactivate. Prices are
//! never deleted; a new price for the same target closes the window of the current one.

use crate::domain::{CatalogError, PriceTarget, ValidPrice};
use crate::events as published;
use crate::model::{PriceInput, parse_id};
use crate::storage::{self, PriceFilter};
use crate::views::{self, PriceView};
use crate::{Catalog, NAME};
use ::events::subjects;
use ::web::idempotency::{self, MaybeIdempotencyKey};
use ::web::page::PageQuery;
use ::web::{ApiError, Authorized, Json, Page, Reply, Role, roles};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

/// Create or update course/program pricing, or a department plan.
#[utoipa::path(post, path = "/api/v2/admin/pricing", tag = "catalog", security(("bearer" = [])), request_body = PriceInput,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,255}$", description = "Makes a retry safe: the same key and request answer the first answer again (1 to 255 visible ASCII characters)")),
    responses((status = 201, body = PriceView), (status = 400), (status = 401), (status = 403), (status = 422)))]
pub async fn create(
    caller: Authorized<roles::CatalogAdmin>,
    req: HttpRequest,
    state: web::Data<Catalog>,
    key: MaybeIdempotencyKey,
    body: Json<PriceInput>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let v = ValidPrice::parse(body.value.clone(), now)?;
    let fp = idempotency::fingerprint(&req, &body.raw);
    let user = caller.user_id.clone();
    let resp = idempotency::run(&state.db, &user, key.0.as_ref(), &fp, |txn| async move {
        // The department that owns the target.
        let owner = match &v.target {
            PriceTarget::Course(id) => storage::course(&txn, *id)
                .await?
                .map(|c| c.department_id)
                .ok_or(CatalogError::UnknownCourse {
                id: *id,
                field: "courseId",
            })?,
            PriceTarget::Program(id) => storage::program(&txn, *id)
                .await?
                .map(|p| p.department_id)
                .ok_or(CatalogError::UnknownProgram(*id))?,
            PriceTarget::Department(d) => d.clone(),
        };
        if let Some(given) = &v.department_id
            && *given != owner
        {
            return Err(CatalogError::DepartmentMismatch { owner }.into());
        }
        caller.require_department(Role::DeptAdmin, &owner)?;
        let row =
            storage::insert_price(&txn, kernel::new_id(), &v, &owner, &caller.user_id, now).await?;
        let event = published::price_changed(&row)?;
        bus::enqueue(&txn, NAME, subjects::PRICE_CREATED, &event).await?;
        Ok((txn, Reply::created(views::price(&row)?)?))
    })
    .await?;
    state.committed();
    Ok(resp)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct PriceListQuery {
    #[param(nullable = false)]
    pub course_id: Option<Uuid>,
    #[param(nullable = false)]
    pub program_id: Option<Uuid>,
    #[param(nullable = false)]
    pub department_id: Option<String>,
    /// `true` for active prices only, `false` for deactivated ones; all when absent.
    #[param(nullable = false)]
    pub active: Option<bool>,
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

/// List pricing configurations, history included.
#[utoipa::path(get, path = "/api/v2/admin/pricing", tag = "catalog", security(("bearer" = [])), params(PriceListQuery),
    responses((status = 200, description = "A page of prices", body = ::web::Page<PriceView>), (status = 401), (status = 403)))]
pub async fn list(
    caller: Authorized<roles::CatalogAdmin>,
    state: web::Data<Catalog>,
    q: web::Query<PriceListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery {
        cursor: q.cursor.clone(),
        limit: q.limit,
    };
    let mut f = PriceFilter {
        course_id: q.course_id,
        program_id: q.program_id,
        department: q.department_id.clone(),
        departments_in: None,
        active: q.active,
        cursor: page.cursor()?,
        limit: page.limit()?,
    };
    if !caller.has(Role::BillingAdmin) {
        if let Some(d) = &f.department {
            caller.require_department(Role::DeptAdmin, d)?;
        }
        f.departments_in = Some(caller.departments.clone());
    }
    let rows = storage::list_prices(&state.db, &f).await?;
    let page = Page::from_rows(rows, f.limit, |r| r.id.to_string());
    Ok(HttpResponse::Ok().json(Page {
        items: views::prices(&page.items)?,
        next_cursor: page.next_cursor,
    }))
}

/// Deactivate a price. The row and its history stay.
#[utoipa::path(delete, path = "/api/v2/admin/pricing/{id}", tag = "catalog", security(("bearer" = [])), params(("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,255}$", description = "Makes a retry safe: the same key and request answer the first answer again (1 to 255 visible ASCII characters)"), ("id" = uuid::Uuid, Path)),
    responses((status = 200, body = PriceView), (status = 401), (status = 403), (status = 404)))]
pub async fn deactivate(
    caller: Authorized<roles::CatalogAdmin>,
    req: HttpRequest,
    state: web::Data<Catalog>,
    key: MaybeIdempotencyKey,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id, "price")?;
    let now = state.clock.now();
    let fp = idempotency::fingerprint(&req, b"");
    let user = caller.user_id.clone();
    let resp = idempotency::run(&state.db, &user, key.0.as_ref(), &fp, |txn| async move {
        let current = storage::price(&txn, id)
            .await?
            .ok_or_else(|| CatalogError::NotFound(format!("no price `{id}`")))?;
        caller.require_department(Role::DeptAdmin, &current.department_id)?;
        let row = match storage::deactivate_price(&txn, id, now).await? {
            Some(row) => {
                let event = published::price_changed(&row)?;
                bus::enqueue(&txn, NAME, subjects::PRICE_DEACTIVATED, &event).await?;
                row
            }
            // Already inactive: deactivating again changes nothing.
            None => current,
        };
        Ok((txn, Reply::ok(views::price(&row)?)?))
    })
    .await?;
    state.committed();
    Ok(resp)
}
