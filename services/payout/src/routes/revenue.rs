//! Revenue reports (CAT-009) and the accounting export. A billing-admin sees everything, a
//! dept-admin the courses of their departments, a creator or instructor (token `sub`) their own
//! report; anyone else is refused before anything is read.

use crate::Payout;
use crate::domain::PayoutError;
use crate::domain::report::{Period, PeriodError};
use crate::storage::{self, reports, reports::Subject};
use crate::views::*;
use ::web::{ApiError, Authorized, Caller, Role, roles};
use actix_web::{HttpResponse, web};
use bytes::Bytes;
use serde::Deserialize;
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// Start (inclusive): `YYYY-MM-DD` or RFC 3339. Default: the first day of the month eleven
    /// months ago (twelve monthly buckets with this one).
    #[param(nullable = false, schema_with = date_or_instant)]
    pub start: Option<String>,
    /// End (exclusive): `YYYY-MM-DD` or RFC 3339. Default: now. After `start`, at most ten
    /// years later (else 422 `invalid_period`).
    #[param(nullable = false, schema_with = date_or_instant)]
    pub end: Option<String>,
}

/// `YYYY-MM-DD` or an RFC 3339 date-time.
fn date_or_instant() -> utoipa::openapi::Schema {
    use utoipa::openapi::{KnownFormat, ObjectBuilder, SchemaFormat, schema::Type};
    let of = |f| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(f)))
            .build()
    };
    utoipa::openapi::schema::AnyOfBuilder::new()
        .item(of(KnownFormat::Date))
        .item(of(KnownFormat::DateTime))
        .build()
        .into()
}

fn period(state: &Payout, q: &PeriodQuery) -> Result<Period, ApiError> {
    Period::from_query(q.start.as_deref(), q.end.as_deref(), state.clock.now()).map_err(|e| {
        match e {
            PeriodError::Unreadable(m) => PayoutError::InvalidQuery(m),
            PeriodError::Invalid(m) => PayoutError::InvalidPeriod(m),
        }
        .into()
    })
}

fn view(p: &Period) -> PeriodView {
    PeriodView {
        start: p.start,
        end: p.end,
    }
}

fn enrollments_by_course(rows: &[reports::Enrolled]) -> HashMap<Uuid, (i64, i64)> {
    let mut out: HashMap<Uuid, (i64, i64)> = HashMap::new();
    for r in rows {
        let e = out.entry(r.course_id).or_default();
        e.0 += r.enrollments;
        e.1 += r.active;
    }
    out
}

#[utoipa::path(get, path = "/api/v1/revenue/by-course/{courseId}", tag = "revenue", security(("bearer" = [])),
    params(("courseId" = uuid::Uuid, Path, description = "The course id"), PeriodQuery),
    responses((status = 200, body = CourseRevenueReport), (status = 400, description = "invalid_query: a date that does not read"), (status = 422, description = "invalid_period: `start` not before `end`, or more than ten years"),
        (status = 401), (status = 403, description = "Not a billing-admin, or a dept-admin of no department the course was sold in (a dept-admin's figures cover their departments' sales)"),
        (status = 404, description = "The ledger has no entry for this course")))]
pub async fn by_course(
    state: web::Data<Payout>,
    caller: Authorized<roles::CatalogAdmin>,
    id: web::Path<String>,
    q: web::Query<PeriodQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id)
        .map_err(|_| PayoutError::NotFound(format!("no revenue for course `{id}`")))?;
    let course = reports::course(&state.db, id)
        .await?
        .ok_or_else(|| PayoutError::NotFound(format!("no revenue for course `{id}`")))?;
    // A dept-admin sees the course's sales made in their departments (a program of another
    // department may include the course), and nothing of a course never sold in them.
    let scope = caller.department_scope(Role::DeptAdmin, None)?;
    if let Some(deps) = &scope
        && !course.departments.iter().any(|d| deps.contains(d))
    {
        return Err(PayoutError::Forbidden(format!(
            "not allowed to see department `{}`",
            course.departments.join("`, `")
        ))
        .into());
    }
    let p = period(&state, &q)?;
    let cur = &state.settlement;
    let deps = scope.as_deref();
    let sums = reports::by_course(&state.db, Subject::Course(id), &p, deps, cur).await?;
    let months = reports::course_months(&state.db, id, &p, deps, cur).await?;
    let enrolled = reports::enrollments(&state.db, &[id], &p).await?;
    let gross: HashMap<&str, i64> = months.iter().map(|m| (m.month.as_str(), m.gross)).collect();
    let by_month = p
        .months()
        .into_iter()
        .map(|m| CourseMonth {
            gross_revenue: gross.get(m.as_str()).copied().unwrap_or(0),
            enrollments: enrolled
                .iter()
                .filter(|e| e.month == m)
                .map(|e| e.enrollments)
                .sum(),
            month: m,
        })
        .collect();
    let totals = CourseTotals {
        gross_revenue: sums.iter().map(|s| s.gross).sum(),
        net_revenue: sums.iter().map(|s| s.net).sum(),
        enrollments: enrolled.iter().map(|e| e.enrollments).sum(),
        completion_rate: None,
    };
    Ok(HttpResponse::Ok().json(CourseRevenueReport {
        course_id: id.to_string(),
        course_name: course.course_name,
        period: view(&p),
        currency: cur.clone(),
        totals,
        by_month,
    }))
}

/// What a creator's or instructor's report is made of: the period, the sums per course, and the
/// enrollments per course (made, still active).
struct PersonSums {
    period: Period,
    sums: Vec<reports::CourseSums>,
    courses: Vec<Uuid>,
    enrolled: HashMap<Uuid, (i64, i64)>,
}

/// Checks who may read the report (before anything is read), then sums it.
async fn person_sums(
    state: &Payout,
    caller: &Caller,
    who: Subject<'_>,
    id: &str,
    q: &PeriodQuery,
) -> Result<PersonSums, ApiError> {
    let scope = person_scope(state, caller, who, id).await?;
    let period = period(state, q)?;
    let sums =
        reports::by_course(&state.db, who, &period, scope.as_deref(), &state.settlement).await?;
    let courses: Vec<Uuid> = sums.iter().map(|s| s.course_id).collect();
    let enrolled =
        enrollments_by_course(&reports::enrollments(&state.db, &courses, &period).await?);
    Ok(PersonSums {
        period,
        sums,
        courses,
        enrolled,
    })
}

/// Admins, or the person the report is about.
async fn person_scope(
    state: &Payout,
    caller: &Caller,
    who: Subject<'_>,
    id: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    let admin = caller.has(Role::BillingAdmin) || caller.has(Role::DeptAdmin);
    if caller.user_id == id && !caller.has(Role::BillingAdmin) {
        return Ok(None);
    }
    if !admin {
        return Err(PayoutError::Forbidden("only your own revenue report".into()).into());
    }
    if !reports::known(&state.db, who).await? {
        return Err(PayoutError::NotFound(format!("no revenue for `{id}`")).into());
    }
    caller.department_scope(Role::DeptAdmin, None)
}

#[utoipa::path(get, path = "/api/v1/revenue/by-creator/{creatorId}", tag = "revenue", security(("bearer" = [])),
    params(("creatorId" = String, Path, description = "The content creator's id (their token `sub`)"), PeriodQuery),
    responses((status = 200, body = CreatorRevenueReport), (status = 400, description = "invalid_query: a date that does not read"), (status = 422, description = "invalid_period: `start` not before `end`, or more than ten years"),
        (status = 401), (status = 403, description = "Neither an admin nor this creator"),
        (status = 404, description = "The ledger has no entry for this creator")))]
pub async fn by_creator(
    state: web::Data<Payout>,
    caller: Caller,
    id: web::Path<String>,
    q: web::Query<PeriodQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let PersonSums {
        period: p,
        sums,
        enrolled,
        ..
    } = person_sums(&state, &caller, Subject::Creator(&id), &id, &q).await?;
    let by_course: Vec<CreatorCourse> = sums
        .iter()
        .map(|s| CreatorCourse {
            course_id: s.course_id.to_string(),
            course_name: s.course_name.clone(),
            revenue: s.gross,
            enrollments: enrolled.get(&s.course_id).map(|e| e.0).unwrap_or(0),
        })
        .collect();
    Ok(HttpResponse::Ok().json(CreatorRevenueReport {
        creator_id: id,
        creator_name: None,
        period: view(&p),
        currency: state.settlement.clone(),
        totals: CreatorTotals {
            total_revenue: sums.iter().map(|s| s.gross).sum(),
            creator_share: sums.iter().map(|s| s.creator).sum(),
            course_count: i64::try_from(sums.len()).map_err(ApiError::internal)?,
            total_enrollments: by_course.iter().map(|c| c.enrollments).sum(),
        },
        by_course,
    }))
}

#[utoipa::path(get, path = "/api/v1/revenue/by-instructor/{instructorId}", tag = "revenue", security(("bearer" = [])),
    params(("instructorId" = String, Path, description = "The instructor's id (their token `sub`)"), PeriodQuery),
    responses((status = 200, body = InstructorRevenueReport), (status = 400, description = "invalid_query: a date that does not read"), (status = 422, description = "invalid_period: `start` not before `end`, or more than ten years"),
        (status = 401), (status = 403, description = "Neither an admin nor this instructor"),
        (status = 404, description = "The ledger has no entry for this instructor")))]
pub async fn by_instructor(
    state: web::Data<Payout>,
    caller: Caller,
    id: web::Path<String>,
    q: web::Query<PeriodQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let PersonSums {
        period: p,
        sums,
        courses,
        enrolled,
    } = person_sums(&state, &caller, Subject::Instructor(&id), &id, &q).await?;
    let active = reports::active_learners(&state.db, &courses, &p).await?;
    Ok(HttpResponse::Ok().json(InstructorRevenueReport {
        instructor_id: id,
        instructor_name: None,
        period: view(&p),
        currency: state.settlement.clone(),
        totals: InstructorTotals {
            total_revenue: sums.iter().map(|s| s.gross).sum(),
            instructor_share: sums.iter().map(|s| s.instructor).sum(),
            active_learners: active,
            completed_learners: None,
        },
        by_course: sums
            .iter()
            .map(|s| InstructorCourse {
                course_id: s.course_id.to_string(),
                course_name: s.course_name.clone(),
                revenue: s.gross,
                learner_count: enrolled.get(&s.course_id).map(|e| e.1).unwrap_or(0),
            })
            .collect(),
    }))
}

/// Entries per page of the export.
const EXPORT_PAGE: i64 = 500;

#[utoipa::path(get, path = "/api/v1/revenue/export.csv", tag = "revenue", security(("bearer" = [])), params(PeriodQuery),
    responses((status = 200, description = "One CSV row per ledger entry recorded in the period, streamed", content_type = "text/csv", body = String),
        (status = 400, description = "invalid_query: a date that does not read"), (status = 422, description = "invalid_period: `start` not before `end`, or more than ten years"), (status = 401), (status = 403, description = "Not a billing-admin")))]
pub async fn export_csv(
    state: web::Data<Payout>,
    _caller: Authorized<roles::BillingAdmin>,
    q: web::Query<PeriodQuery>,
) -> Result<HttpResponse, ApiError> {
    let p = period(&state, &q)?;
    let db = state.db.clone();
    // Keyset pages by seq: memory holds one page whatever the ledger's size.
    let rows = futures_util::stream::unfold(Some(0i64), move |after| {
        let db = db.clone();
        async move {
            let after = after?;
            let page =
                match storage::page(&db, Some(p.start), Some(p.end), after, EXPORT_PAGE).await {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::error!(error = %e, "revenue export failed mid-stream");
                        return Some((Err(actix_web::error::ErrorInternalServerError(e)), None));
                    }
                };
            let ids: Vec<Uuid> = page.iter().map(|e| e.id).collect();
            let deliveries = match storage::deliveries_of(&db, &ids).await {
                Ok(d) => d,
                Err(e) => {
                    return Some((Err(actix_web::error::ErrorInternalServerError(e)), None));
                }
            };
            let mut chunk = String::new();
            for e in &page {
                chunk.push_str(&csv_row(e, deliveries.get(&e.id)));
            }
            let next = (page.len() as i64 == EXPORT_PAGE)
                .then(|| page.last().map(|e| e.seq))
                .flatten();
            if page.is_empty() {
                return None;
            }
            Some((Ok::<Bytes, actix_web::Error>(Bytes::from(chunk)), next))
        }
    });
    let header =
        futures_util::stream::once(async { Ok(Bytes::from_static(CSV_HEADER.as_bytes())) });
    use futures_util::StreamExt;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"revenue-ledger.csv\"",
        ))
        .streaming(header.chain(rows)))
}
