//! Catalog administration: courses, programs, departments, exchange rates. A billing-admin may
//! act on every department; a dept-admin only on its own.

use super::public::BrowseQuery;
use super::{course_view, parse_id, program_views};
use crate::model::*;
use crate::storage::{self, CourseRow, ProgramRow};
use crate::{Catalog, NAME};
use ::web::idempotency::{self, MaybeIdempotencyKey};
use ::web::{ApiError, Authorized, Caller, Json, Page, Reply, Role, roles};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use events::commerce::v1 as ev;
use events::subjects;
use kernel::Currency;

fn course_event(r: &CourseRow) -> ev::CourseChanged {
    let s = r.split();
    ev::CourseChanged {
        course_id: r.id.to_string(),
        lms_course_id: r.lms_course_id.clone(),
        title: r.title.clone(),
        department_id: r.department_id.clone(),
        creator_id: r.creator_id.clone(),
        instructor_id: r.instructor_id.clone(),
        approval_required: r.approval_required,
        revenue_split: Some(ev::RevenueSplit {
            platform_bps: s.platform_bps(),
            creator_bps: s.creator_bps(),
            instructor_bps: s.instructor_bps(),
        }),
        available_from: r.available_from.map(|t| t.to_rfc3339()).unwrap_or_default(),
        available_until: r
            .available_until
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        published: r.published,
        changed_at: r.updated_at.to_rfc3339(),
        description: r.description.clone(),
    }
}

fn program_event(r: &ProgramRow, course_ids: &[uuid::Uuid]) -> ev::ProgramChanged {
    ev::ProgramChanged {
        program_id: r.id.to_string(),
        title: r.title.clone(),
        department_id: r.department_id.clone(),
        course_ids: course_ids.iter().map(|c| c.to_string()).collect(),
        published: r.published,
        available_from: r.available_from.map(|t| t.to_rfc3339()).unwrap_or_default(),
        available_until: r
            .available_until
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        changed_at: r.updated_at.to_rfc3339(),
    }
}

fn duplicate_lms(e: sea_orm::DbErr) -> ApiError {
    if db::is_unique_violation(&e) {
        ApiError::conflict(
            "duplicate_lms_course_id",
            "another course already has this lmsCourseId",
        )
        .with_field("lmsCourseId")
    } else {
        e.into()
    }
}

/// Create a course.
#[utoipa::path(post, path = "/api/v2/admin/catalog/courses", tag = "catalog", request_body = CourseInput,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = CourseView), (status = 400), (status = 401), (status = 403), (status = 409), (status = 422)))]
pub async fn create_course(
    caller: Authorized<roles::CatalogAdmin>,
    req: HttpRequest,
    state: web::Data<Catalog>,
    key: MaybeIdempotencyKey,
    body: Json<CourseInput>,
) -> Result<HttpResponse, ApiError> {
    let v = body.value.clone().validate()?;
    caller.require_department(Role::DeptAdmin, &v.department_id)?;
    let now = state.clock.now();
    let fp = idempotency::fingerprint(&req, &body.raw);
    let user = caller.user_id.clone();
    let resp = idempotency::run(&state.db, &user, key.0.as_ref(), &fp, |txn| async move {
        let row = storage::insert_course(&txn, kernel::new_id(), &v, &caller.user_id, now)
            .await
            .map_err(duplicate_lms)?;
        bus::enqueue(&txn, NAME, subjects::COURSE_CREATED, &course_event(&row)).await?;
        Ok((txn, Reply::created(course_view(&row, None, None, now))?))
    })
    .await?;
    state.outbox.notify_one();
    Ok(resp)
}

/// Replace a course's details.
#[utoipa::path(put, path = "/api/v2/admin/catalog/courses/{id}", tag = "catalog", request_body = CourseInput,
    params(("id" = String, Path)),
    responses((status = 200, body = CourseView), (status = 400), (status = 401), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn update_course(
    caller: Authorized<roles::CatalogAdmin>,
    req: HttpRequest,
    state: web::Data<Catalog>,
    key: MaybeIdempotencyKey,
    id: web::Path<String>,
    body: Json<CourseInput>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id, "course")?;
    let v = body.value.clone().validate()?;
    let now = state.clock.now();
    let fp = idempotency::fingerprint(&req, &body.raw);
    let user = caller.user_id.clone();
    let resp = idempotency::run(&state.db, &user, key.0.as_ref(), &fp, |txn| async move {
        let old = storage::course(&txn, id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no course `{id}`")))?;
        caller.require_department(Role::DeptAdmin, &old.department_id)?;
        caller.require_department(Role::DeptAdmin, &v.department_id)?;
        let row = storage::update_course(&txn, id, &v, now)
            .await
            .map_err(duplicate_lms)?
            .ok_or_else(|| ApiError::not_found(format!("no course `{id}`")))?;
        bus::enqueue(&txn, NAME, subjects::COURSE_UPDATED, &course_event(&row)).await?;
        let price = storage::current_prices(&txn, "course_id", &[id], now)
            .await?
            .remove(&id);
        Ok((
            txn,
            Reply::ok(course_view(&row, price.as_ref(), None, now))?,
        ))
    })
    .await?;
    state.outbox.notify_one();
    Ok(resp)
}

fn scoped(caller: &Caller, q: &BrowseQuery) -> Result<storage::ListFilter, ApiError> {
    let mut f = q.filter(false)?;
    if !caller.has(Role::BillingAdmin) {
        if let Some(d) = &f.department {
            caller.require_department(Role::DeptAdmin, d)?;
        }
        f.departments_in = Some(caller.departments.clone());
    }
    Ok(f)
}

/// List courses, unpublished ones included (scoped to the admin's departments).
#[utoipa::path(get, path = "/api/v2/admin/catalog/courses", tag = "catalog", params(BrowseQuery),
    responses((status = 200, body = [CourseView]), (status = 401), (status = 403)))]
pub async fn list_courses(
    caller: Authorized<roles::CatalogAdmin>,
    state: web::Data<Catalog>,
    q: web::Query<BrowseQuery>,
) -> Result<HttpResponse, ApiError> {
    let f = scoped(&caller, &q)?;
    let rows = storage::list_courses(&state.db, &f, state.clock.now()).await?;
    let page = Page::from_rows(rows, f.limit, |r| r.id.to_string());
    let items = super::course_views(&state, page.items, None).await?;
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: page.next_cursor,
    }))
}

async fn check_courses(
    txn: &impl sea_orm::ConnectionTrait,
    v: &ValidProgram,
) -> Result<(), ApiError> {
    let found = storage::courses_by_ids(txn, &v.course_ids).await?;
    if let Some(missing) = v
        .course_ids
        .iter()
        .find(|c| !found.iter().any(|f| f.id == **c))
    {
        return Err(
            ApiError::rule("unknown_course", format!("no course `{missing}`"))
                .with_field("courseIds"),
        );
    }
    Ok(())
}

fn new_program_view(row: &ProgramRow, v: &ValidProgram, now: DateTime<Utc>) -> ProgramView {
    ProgramView {
        id: row.id,
        title: row.title.clone(),
        description: row.description.clone(),
        department_id: row.department_id.clone(),
        available_from: row.available_from,
        available_until: row.available_until,
        available: row.available_at(now),
        published: row.published,
        courses: None,
        course_ids: v.course_ids.clone(),
        price: None,
        display_price: None,
        individual_total: None,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// Create a program bundle of ordered courses (its price is set with `/admin/pricing`).
#[utoipa::path(post, path = "/api/v2/admin/catalog/programs", tag = "catalog", request_body = ProgramInput,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = ProgramView), (status = 400), (status = 401), (status = 403), (status = 422)))]
pub async fn create_program(
    caller: Authorized<roles::CatalogAdmin>,
    req: HttpRequest,
    state: web::Data<Catalog>,
    key: MaybeIdempotencyKey,
    body: Json<ProgramInput>,
) -> Result<HttpResponse, ApiError> {
    let v = body.value.clone().validate()?;
    caller.require_department(Role::DeptAdmin, &v.department_id)?;
    let now = state.clock.now();
    let fp = idempotency::fingerprint(&req, &body.raw);
    let user = caller.user_id.clone();
    let resp = idempotency::run(&state.db, &user, key.0.as_ref(), &fp, |txn| async move {
        check_courses(&txn, &v).await?;
        let row = storage::insert_program(&txn, kernel::new_id(), &v, &caller.user_id, now).await?;
        bus::enqueue(
            &txn,
            NAME,
            subjects::PROGRAM_CREATED,
            &program_event(&row, &v.course_ids),
        )
        .await?;
        Ok((txn, Reply::created(new_program_view(&row, &v, now))?))
    })
    .await?;
    state.outbox.notify_one();
    Ok(resp)
}

/// Replace a program's details and course list.
#[utoipa::path(put, path = "/api/v2/admin/catalog/programs/{id}", tag = "catalog", request_body = ProgramInput,
    params(("id" = String, Path)),
    responses((status = 200, body = ProgramView), (status = 400), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn update_program(
    caller: Authorized<roles::CatalogAdmin>,
    req: HttpRequest,
    state: web::Data<Catalog>,
    key: MaybeIdempotencyKey,
    id: web::Path<String>,
    body: Json<ProgramInput>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id, "program")?;
    let v = body.value.clone().validate()?;
    let now = state.clock.now();
    let fp = idempotency::fingerprint(&req, &body.raw);
    let user = caller.user_id.clone();
    let resp = idempotency::run(&state.db, &user, key.0.as_ref(), &fp, |txn| async move {
        let old = storage::program(&txn, id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no program `{id}`")))?;
        caller.require_department(Role::DeptAdmin, &old.department_id)?;
        caller.require_department(Role::DeptAdmin, &v.department_id)?;
        check_courses(&txn, &v).await?;
        let row = storage::update_program(&txn, id, &v, now)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no program `{id}`")))?;
        bus::enqueue(
            &txn,
            NAME,
            subjects::PROGRAM_UPDATED,
            &program_event(&row, &v.course_ids),
        )
        .await?;
        Ok((txn, Reply::ok(new_program_view(&row, &v, now))?))
    })
    .await?;
    state.outbox.notify_one();
    Ok(resp)
}

/// List programs, unpublished ones included (scoped to the admin's departments).
#[utoipa::path(get, path = "/api/v2/admin/catalog/programs", tag = "catalog", params(BrowseQuery),
    responses((status = 200, body = [ProgramView]), (status = 401), (status = 403)))]
pub async fn list_programs(
    caller: Authorized<roles::CatalogAdmin>,
    state: web::Data<Catalog>,
    q: web::Query<BrowseQuery>,
) -> Result<HttpResponse, ApiError> {
    let f = scoped(&caller, &q)?;
    let rows = storage::list_programs(&state.db, &f, state.clock.now()).await?;
    let page = Page::from_rows(rows, f.limit, |r| r.id.to_string());
    let items = program_views(&state, page.items, None, false, false).await?;
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// Create or rename a department (and set its parent, for sub-departments).
#[utoipa::path(put, path = "/api/v2/admin/catalog/departments/{id}", tag = "catalog", request_body = DepartmentInput,
    params(("id" = String, Path)),
    responses((status = 200, body = DepartmentView), (status = 400), (status = 401), (status = 403), (status = 422)))]
pub async fn put_department(
    caller: Authorized<roles::CatalogAdmin>,
    req: HttpRequest,
    state: web::Data<Catalog>,
    key: MaybeIdempotencyKey,
    id: web::Path<String>,
    body: Json<DepartmentInput>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    caller.require_department(Role::DeptAdmin, &id)?;
    let name = body.value.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(
            ApiError::rule("invalid_field", "`name` must be 1 to 200 characters")
                .with_field("name"),
        );
    }
    let parent = body
        .value
        .parent_id
        .clone()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty());
    let now = state.clock.now();
    let fp = idempotency::fingerprint(&req, &body.raw);
    let user = caller.user_id.clone();
    let resp = idempotency::run(&state.db, &user, key.0.as_ref(), &fp, |txn| async move {
        if let Some(p) = &parent
            && storage::creates_cycle(&txn, &id, p).await?
        {
            return Err(ApiError::rule(
                "department_cycle",
                "a department cannot be its own ancestor",
            )
            .with_field("parentId"));
        }
        let row = storage::upsert_department(&txn, &id, &name, parent.as_deref(), now).await?;
        let event = ev::DepartmentChanged {
            department_id: row.id.clone(),
            name: row.name.clone(),
            parent_id: row.parent_id.clone().unwrap_or_default(),
            changed_at: row.updated_at.to_rfc3339(),
        };
        bus::enqueue(&txn, NAME, subjects::DEPARTMENT_UPDATED, &event).await?;
        let plans = storage::current_plans(&txn, &id, now).await?;
        let view = DepartmentView {
            id: row.id.clone(),
            name: Some(row.name.clone()),
            parent_id: row.parent_id.clone(),
            sub_department_ids: storage::sub_departments(&txn, &id).await?,
            plans: plans.iter().map(|p| p.view()).collect(),
            published_course_count: storage::published_course_count(&txn, &id).await?,
        };
        Ok((txn, Reply::ok(view)?))
    })
    .await?;
    state.outbox.notify_one();
    Ok(resp)
}

/// Set the exchange rate of a display currency (billing-admin).
#[utoipa::path(put, path = "/api/v2/admin/catalog/exchange-rates/{currency}", tag = "catalog", request_body = ExchangeRateInput,
    params(("currency" = String, Path)),
    responses((status = 200, body = ExchangeRateView), (status = 400), (status = 401), (status = 403), (status = 422)))]
pub async fn put_rate(
    caller: Authorized<roles::BillingAdmin>,
    req: HttpRequest,
    state: web::Data<Catalog>,
    key: MaybeIdempotencyKey,
    currency: web::Path<String>,
    body: Json<ExchangeRateInput>,
) -> Result<HttpResponse, ApiError> {
    let currency = Currency::parse(&currency)
        .map_err(|e| ApiError::rule("unknown_currency", e.to_string()))?;
    if currency == state.settlement {
        return Err(ApiError::rule(
            "invalid_exchange_rate",
            "the settlement currency has no exchange rate",
        ));
    }
    let rate = body.value.parse()?;
    let settlement = state.settlement;
    let now = state.clock.now();
    let fp = idempotency::fingerprint(&req, &body.raw);
    let user = caller.user_id.clone();
    let resp = idempotency::run(&state.db, &user, key.0.as_ref(), &fp, |txn| async move {
        let row = storage::upsert_rate(&txn, currency.code(), rate, &caller.user_id, now).await?;
        let view = ExchangeRateView {
            currency: currency.code().to_string(),
            settlement_currency: settlement.code().to_string(),
            rate: row.rate.normalize().to_string(),
            updated_at: row.updated_at,
        };
        let event = ev::ExchangeRateChanged {
            currency: view.currency.clone(),
            settlement_currency: view.settlement_currency.clone(),
            rate: view.rate.clone(),
            changed_at: row.updated_at.to_rfc3339(),
        };
        bus::enqueue(&txn, NAME, subjects::EXCHANGE_RATE_UPDATED, &event).await?;
        Ok((txn, Reply::ok(view)?))
    })
    .await?;
    state.outbox.notify_one();
    Ok(resp)
}
