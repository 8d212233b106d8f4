//! Discount codes as admins manage them (CAT-004): a dept-admin for their departments, a
//! billing-admin for all (and for codes valid in every department). A code an order carried is
//! deactivated, never deleted, and its amount no longer changes.

use super::may_manage;
use crate::CartOrder;
use crate::domain::CartOrderError;
use crate::domain::discount::{Applicable, Discount, DiscountKind};
use crate::storage::discounts::{self, DiscountRow};
use crate::views::{DiscountPage, DiscountView};
use ::web::page::{Page, PageQuery};
use ::web::{ApiError, Authorized, Caller, Json, Role, roles};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::TransactionTrait;
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DiscountType {
    Percentage,
    Fixed,
}

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApplicableTo {
    All,
    Courses,
    Programs,
    Subscriptions,
}

impl From<DiscountType> for DiscountKind {
    fn from(t: DiscountType) -> DiscountKind {
        match t {
            DiscountType::Percentage => DiscountKind::Percentage,
            DiscountType::Fixed => DiscountKind::Fixed,
        }
    }
}

impl From<ApplicableTo> for Applicable {
    fn from(a: ApplicableTo) -> Applicable {
        match a {
            ApplicableTo::All => Applicable::All,
            ApplicableTo::Courses => Applicable::Courses,
            ApplicableTo::Programs => Applicable::Programs,
            ApplicableTo::Subscriptions => Applicable::Subscriptions,
        }
    }
}

/// A new code.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewDiscount {
    /// 1 to 64 letters, digits, `-` or `_`; unique whatever the case.
    pub code: String,
    /// Absent: every department (billing-admins only).
    pub department_id: Option<String>,
    pub discount_type: DiscountType,
    /// A percentage (0–100) or an amount in minor units of `currency`.
    pub discount_value: i64,
    /// ISO 4217; required for a fixed amount or a minimum purchase.
    pub currency: Option<String>,
    #[schema(minimum = 1)]
    pub max_uses: Option<i64>,
    #[schema(minimum = 1)]
    pub max_uses_per_user: Option<i64>,
    /// Absent: from now.
    pub valid_from: Option<DateTime<Utc>>,
    /// Absent: no end.
    pub valid_until: Option<DateTime<Utc>>,
    /// Absent: active.
    pub is_active: Option<bool>,
    /// Absent: `all`.
    pub applicable_to: Option<ApplicableTo>,
    #[serde(default)]
    pub course_ids: Vec<Uuid>,
    #[serde(default)]
    pub program_ids: Vec<Uuid>,
    /// The least cart subtotal, in minor units of `currency`.
    #[schema(minimum = 0)]
    pub min_purchase: Option<i64>,
}

/// A present field, `null` included (to tell "set to null" from "absent").
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Changes to a code: absent fields stay; `null` clears a limit, an end or a minimum. The code
/// and its department never change; the type, value and currency only while no order carried it.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DiscountPatch {
    pub discount_type: Option<DiscountType>,
    pub discount_value: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    pub currency: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, nullable, minimum = 1)]
    pub max_uses: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, nullable, minimum = 1)]
    pub max_uses_per_user: Option<Option<i64>>,
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<DateTime<Utc>>, nullable)]
    pub valid_until: Option<Option<DateTime<Utc>>>,
    pub is_active: Option<bool>,
    pub applicable_to: Option<ApplicableTo>,
    pub course_ids: Option<Vec<Uuid>>,
    pub program_ids: Option<Vec<Uuid>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, nullable, minimum = 0)]
    pub min_purchase: Option<Option<i64>>,
}

/// `?departmentId=&active=&cursor=&limit=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct DiscountQuery {
    /// Only this department (one of the caller's).
    #[param(nullable = false)]
    pub department_id: Option<String>,
    /// Only active (`true`) or inactive (`false`) codes.
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

fn currency(c: Option<&str>) -> Result<Option<kernel::Currency>, CartOrderError> {
    c.map(crate::domain::parse_currency).transpose()
}

fn taken(code: &str) -> impl Fn(sea_orm::DbErr) -> ApiError + '_ {
    move |e| {
        if db::is_unique_violation(&e) {
            CartOrderError::CodeTaken(code.to_string()).into()
        } else {
            e.into()
        }
    }
}

#[utoipa::path(get, path = "/api/v2/admin/discounts", tag = "discounts", security(("bearer" = [])), params(DiscountQuery),
    responses((status = 200, body = DiscountPage, description = "Codes of the caller's departments, newest first"),
        (status = 400, description = "invalid_query"), (status = 401), (status = 403)))]
pub async fn list(
    state: web::Data<CartOrder>,
    caller: Authorized<roles::CatalogAdmin>,
    q: web::Query<DiscountQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery {
        cursor: q.cursor.clone(),
        limit: q.limit,
    };
    let limit = page.limit()?;
    let scope = caller.department_scope(Role::DeptAdmin, q.department_id.as_deref())?;
    let rows =
        discounts::list_discounts(&state.db, scope.as_deref(), q.active, page.cursor()?, limit)
            .await?;
    let p = Page::from_rows(rows, limit, |d| d.id.to_string());
    Ok(HttpResponse::Ok().json(DiscountPage {
        items: p.items,
        next_cursor: p.next_cursor,
    }))
}

#[utoipa::path(post, path = "/api/v2/admin/discounts", tag = "discounts", security(("bearer" = [])), request_body = NewDiscount,
    responses((status = 201, body = DiscountView), (status = 400, description = "invalid_body"),
        (status = 401), (status = 403, description = "Not an admin of the department (every department: billing-admins only)"),
        (status = 409, description = "discount_code_taken"),
        (status = 422, description = "validation_failed (names the field): a percentage over 100, a negative value, validUntil before validFrom, an unknown currency…")))]
pub async fn create(
    state: web::Data<CartOrder>,
    caller: Authorized<roles::CatalogAdmin>,
    body: Json<NewDiscount>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    may_manage(&caller, b.department_id.as_deref())?;
    let now = state.clock.now();
    let d = Discount {
        code: b.code.trim().to_string(),
        department_id: b.department_id,
        kind: b.discount_type.into(),
        value: b.discount_value,
        currency: currency(b.currency.as_deref())?,
        max_uses: b.max_uses,
        max_uses_per_user: b.max_uses_per_user,
        valid_from: b.valid_from.unwrap_or(now),
        valid_until: b.valid_until,
        is_active: b.is_active.unwrap_or(true),
        applicable_to: b.applicable_to.map_or(Applicable::All, Into::into),
        course_ids: b.course_ids,
        program_ids: b.program_ids,
        min_purchase: b.min_purchase,
    };
    d.validate().map_err(CartOrderError::from)?;
    let row = discounts::insert_discount(&state.db, kernel::new_id(), &d, &caller.user_id, now)
        .await
        .map_err(taken(&d.code))?;
    Ok(HttpResponse::Created().json(row))
}

async fn discount_of(
    state: &CartOrder,
    caller: &Caller,
    id: &str,
) -> Result<DiscountRow, ApiError> {
    let missing = || CartOrderError::NotFound(format!("no discount code `{id}`"));
    let id = Uuid::parse_str(id).map_err(|_| missing())?;
    let row = discounts::discount(&state.db, id)
        .await?
        .ok_or_else(missing)?;
    may_manage(caller, row.department_id.as_deref())?;
    Ok(row)
}

#[utoipa::path(get, path = "/api/v2/admin/discounts/{id}", tag = "discounts", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = DiscountView), (status = 401), (status = 403), (status = 404)))]
pub async fn get(
    state: web::Data<CartOrder>,
    caller: Authorized<roles::CatalogAdmin>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = discount_of(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(row))
}

#[utoipa::path(patch, path = "/api/v2/admin/discounts/{id}", tag = "discounts", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)), request_body = DiscountPatch,
    responses((status = 200, body = DiscountView), (status = 400, description = "invalid_body"),
        (status = 401), (status = 403), (status = 404),
        (status = 409, description = "discount_in_use: the type, value or currency of a code orders carried"),
        (status = 422, description = "validation_failed (names the field)")))]
pub async fn update(
    state: web::Data<CartOrder>,
    caller: Authorized<roles::CatalogAdmin>,
    id: web::Path<String>,
    body: Json<DiscountPatch>,
) -> Result<HttpResponse, ApiError> {
    let row = discount_of(&state, &caller, &id).await?;
    let p = body.into_inner();
    let old = row.rules()?;
    let mut d = old.clone();
    if let Some(t) = p.discount_type {
        d.kind = t.into();
    }
    if let Some(v) = p.discount_value {
        d.value = v;
    }
    if let Some(c) = p.currency {
        d.currency = currency(c.as_deref())?;
    }
    if let Some(m) = p.max_uses {
        d.max_uses = m;
    }
    if let Some(m) = p.max_uses_per_user {
        d.max_uses_per_user = m;
    }
    if let Some(f) = p.valid_from {
        d.valid_from = f;
    }
    if let Some(u) = p.valid_until {
        d.valid_until = u;
    }
    if let Some(a) = p.is_active {
        d.is_active = a;
    }
    if let Some(a) = p.applicable_to {
        d.applicable_to = a.into();
    }
    if let Some(c) = p.course_ids {
        d.course_ids = c;
    }
    if let Some(c) = p.program_ids {
        d.program_ids = c;
    }
    if let Some(m) = p.min_purchase {
        d.min_purchase = m;
    }
    d.validate().map_err(CartOrderError::from)?;
    let amount_changed = (d.kind, d.value, d.currency) != (old.kind, old.value, old.currency);
    if amount_changed && (row.taken() > 0 || discounts::carried(&state.db, row.id).await?) {
        return Err(CartOrderError::DiscountInUse.into());
    }
    let saved =
        discounts::update_discount(&state.db, row.id, &d, amount_changed, state.clock.now())
            .await?
            // An order took a use between the check and the update.
            .ok_or(CartOrderError::DiscountInUse)?;
    Ok(HttpResponse::Ok().json(saved))
}

#[utoipa::path(delete, path = "/api/v2/admin/discounts/{id}", tag = "discounts", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204, description = "Deleted: no order ever carried it"), (status = 401),
        (status = 403), (status = 404),
        (status = 409, description = "discount_in_use: orders carried it; deactivate it instead")))]
pub async fn delete(
    state: web::Data<CartOrder>,
    caller: Authorized<roles::CatalogAdmin>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = discount_of(&state, &caller, &id).await?;
    let txn = state.db.begin().await?;
    if !discounts::delete_unused_discount(&txn, row.id).await? {
        return Err(CartOrderError::DiscountInUse.into());
    }
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
