//! Catalog persistence. Functions take `&impl ConnectionTrait` so a route composes them in one
//! transaction with its outbox rows.

use crate::model::*;
use chrono::{DateTime, Utc};
use kernel::RevenueSplit;
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Value};
use uuid::Uuid;

use db::stmt as pg;

#[derive(Debug, Clone, FromQueryResult)]
pub struct CourseRow {
    pub id: Uuid,
    pub lms_course_id: String,
    pub title: String,
    pub description: String,
    pub department_id: String,
    pub creator_id: String,
    pub instructor_id: String,
    pub approval_required: bool,
    pub platform_bps: i32,
    pub creator_bps: i32,
    pub instructor_bps: i32,
    pub available_from: Option<DateTime<Utc>>,
    pub available_until: Option<DateTime<Utc>>,
    pub published: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CourseRow {
    pub fn split(&self) -> RevenueSplit {
        let u = |v: i32| u32::try_from(v).unwrap_or(0);
        RevenueSplit::new(
            u(self.platform_bps),
            u(self.creator_bps),
            u(self.instructor_bps),
        )
        .unwrap_or_default()
    }
    pub fn available_at(&self, now: DateTime<Utc>) -> bool {
        self.published
            && self.available_from.is_none_or(|f| f <= now)
            && self.available_until.is_none_or(|u| now < u)
    }
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct ProgramRow {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub department_id: String,
    pub available_from: Option<DateTime<Utc>>,
    pub available_until: Option<DateTime<Utc>>,
    pub published: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ProgramRow {
    pub fn available_at(&self, now: DateTime<Utc>) -> bool {
        self.published
            && self.available_from.is_none_or(|f| f <= now)
            && self.available_until.is_none_or(|u| now < u)
    }
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct PriceRow {
    pub id: Uuid,
    pub course_id: Option<Uuid>,
    pub program_id: Option<Uuid>,
    pub department_id: String,
    pub price_type: String,
    pub currency: String,
    pub amount_minor: i64,
    pub billing_interval: Option<String>,
    pub trial_days: Option<i32>,
    pub is_active: bool,
    pub effective_from: DateTime<Utc>,
    pub effective_until: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PriceRow {
    pub fn view(&self) -> PriceView {
        PriceView {
            id: self.id,
            course_id: self.course_id,
            program_id: self.program_id,
            department_id: self.department_id.clone(),
            price_type: PriceType::parse(&self.price_type).unwrap_or(PriceType::OneTime),
            currency: self.currency.clone(),
            base_price: self.amount_minor,
            subscription: self
                .billing_interval
                .as_deref()
                .and_then(Interval::parse)
                .map(|interval| SubscriptionTerms {
                    interval,
                    trial_days: self.trial_days.and_then(|t| u32::try_from(t).ok()),
                }),
            is_active: self.is_active,
            effective_from: self.effective_from,
            effective_until: self.effective_until,
            created_by: self.created_by.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    pub fn event(&self) -> events::commerce::v1::PriceChanged {
        events::commerce::v1::PriceChanged {
            price_id: self.id.to_string(),
            course_id: self.course_id.map(|c| c.to_string()).unwrap_or_default(),
            program_id: self.program_id.map(|c| c.to_string()).unwrap_or_default(),
            department_id: self.department_id.clone(),
            price_type: self.price_type.clone(),
            currency: self.currency.clone(),
            amount_minor: self.amount_minor,
            interval: self.billing_interval.clone().unwrap_or_default(),
            trial_days: self
                .trial_days
                .and_then(|t| u32::try_from(t).ok())
                .unwrap_or(0),
            effective_from: self.effective_from.to_rfc3339(),
            effective_until: self
                .effective_until
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            active: self.is_active,
            changed_at: self.updated_at.to_rfc3339(),
        }
    }
}

const COURSE_COLS: &str = "id, lms_course_id, title, description, department_id, creator_id, instructor_id, \
    approval_required, platform_bps, creator_bps, instructor_bps, available_from, available_until, published, \
    created_at, updated_at";
const PROGRAM_COLS: &str = "id, title, description, department_id, available_from, available_until, published, created_at, updated_at";
const PRICE_COLS: &str = "id, course_id, program_id, department_id, price_type, currency, amount_minor, \
    billing_interval, trial_days, is_active, effective_from, effective_until, created_by, created_at, updated_at";

fn opt_time(t: Option<DateTime<Utc>>) -> Value {
    Value::ChronoDateTimeUtc(t)
}

/// `$1..$15` of both course writes: id, every field in column order, then the write time.
fn course_params(id: Uuid, v: &ValidCourse, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        id.into(),
        v.lms_course_id.clone().into(),
        v.title.clone().into(),
        v.description.clone().into(),
        v.department_id.clone().into(),
        v.creator_id.clone().into(),
        v.instructor_id.clone().into(),
        v.approval_required.into(),
        (v.split.platform_bps() as i32).into(),
        (v.split.creator_bps() as i32).into(),
        (v.split.instructor_bps() as i32).into(),
        opt_time(v.available_from),
        opt_time(v.available_until),
        v.published.into(),
        now.into(),
    ]
}

pub async fn insert_course(
    c: &impl ConnectionTrait,
    id: Uuid,
    v: &ValidCourse,
    by: &str,
    now: DateTime<Utc>,
) -> Result<CourseRow, DbErr> {
    let row = CourseRow::find_by_statement(pg(
        &format!(
            "INSERT INTO courses ({COURSE_COLS}, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16)
             RETURNING {COURSE_COLS}"
        ),
        [course_params(id, v, now), vec![by.into()]].concat(),
    ))
    .one(c)
    .await?;
    row.ok_or_else(|| DbErr::RecordNotInserted)
}

pub async fn update_course(
    c: &impl ConnectionTrait,
    id: Uuid,
    v: &ValidCourse,
    now: DateTime<Utc>,
) -> Result<Option<CourseRow>, DbErr> {
    CourseRow::find_by_statement(pg(
        &format!(
            "UPDATE courses SET lms_course_id = $2, title = $3, description = $4, department_id = $5,
                creator_id = $6, instructor_id = $7, approval_required = $8, platform_bps = $9,
                creator_bps = $10, instructor_bps = $11, available_from = $12, available_until = $13,
                published = $14, updated_at = $15
             WHERE id = $1 RETURNING {COURSE_COLS}"
        ),
        course_params(id, v, now),
    ))
    .one(c)
    .await
}

pub async fn course(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<CourseRow>, DbErr> {
    CourseRow::find_by_statement(pg(
        &format!("SELECT {COURSE_COLS} FROM courses WHERE id = $1"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

pub async fn courses_by_ids(
    c: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<Vec<CourseRow>, DbErr> {
    CourseRow::find_by_statement(pg(
        &format!("SELECT {COURSE_COLS} FROM courses WHERE id = ANY($1)"),
        vec![ids.to_vec().into()],
    ))
    .all(c)
    .await
}

/// Filters of course and program lists.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub department: Option<String>,
    pub departments_in: Option<Vec<String>>,
    pub search: Option<String>,
    pub public_only: bool,
    pub cursor: Option<Uuid>,
    pub limit: u64,
}

fn like_pattern(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

fn list_filters(f: &ListFilter, now: DateTime<Utc>) -> db::Filters {
    let mut w = db::Filters::new();
    if f.public_only {
        w.add(
            "published AND (available_until IS NULL OR available_until > ?)",
            now,
        );
    }
    w.add_opt("department_id = ?", f.department.clone())
        .add_opt("department_id = ANY(?)", f.departments_in.clone())
        .add_opt("title ILIKE ?", f.search.as_deref().map(like_pattern))
        .add_opt("id > ?", f.cursor);
    w
}

pub async fn list_courses(
    c: &impl ConnectionTrait,
    f: &ListFilter,
    now: DateTime<Utc>,
) -> Result<Vec<CourseRow>, DbErr> {
    let q = list_filters(f, now).query(
        &format!("{COURSE_COLS} FROM courses"),
        "ORDER BY id",
        f.limit + 1,
    );
    CourseRow::find_by_statement(q).all(c).await
}

pub async fn list_programs(
    c: &impl ConnectionTrait,
    f: &ListFilter,
    now: DateTime<Utc>,
) -> Result<Vec<ProgramRow>, DbErr> {
    let q = list_filters(f, now).query(
        &format!("{PROGRAM_COLS} FROM programs"),
        "ORDER BY id",
        f.limit + 1,
    );
    ProgramRow::find_by_statement(q).all(c).await
}

/// `$1..$8` of both program writes: id, every field in column order, then the write time.
fn program_params(id: Uuid, v: &ValidProgram, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        id.into(),
        v.title.clone().into(),
        v.description.clone().into(),
        v.department_id.clone().into(),
        opt_time(v.available_from),
        opt_time(v.available_until),
        v.published.into(),
        now.into(),
    ]
}

pub async fn insert_program(
    c: &impl ConnectionTrait,
    id: Uuid,
    v: &ValidProgram,
    by: &str,
    now: DateTime<Utc>,
) -> Result<ProgramRow, DbErr> {
    let row = ProgramRow::find_by_statement(pg(
        &format!(
            "INSERT INTO programs ({PROGRAM_COLS}, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
             RETURNING {PROGRAM_COLS}"
        ),
        [program_params(id, v, now), vec![by.into()]].concat(),
    ))
    .one(c)
    .await?
    .ok_or(DbErr::RecordNotInserted)?;
    set_program_courses(c, id, &v.course_ids).await?;
    Ok(row)
}

pub async fn update_program(
    c: &impl ConnectionTrait,
    id: Uuid,
    v: &ValidProgram,
    now: DateTime<Utc>,
) -> Result<Option<ProgramRow>, DbErr> {
    let row = ProgramRow::find_by_statement(pg(
        &format!(
            "UPDATE programs SET title = $2, description = $3, department_id = $4, available_from = $5,
                available_until = $6, published = $7, updated_at = $8
             WHERE id = $1 RETURNING {PROGRAM_COLS}"
        ),
        program_params(id, v, now),
    ))
    .one(c)
    .await?;
    if row.is_some() {
        set_program_courses(c, id, &v.course_ids).await?;
    }
    Ok(row)
}

async fn set_program_courses(
    c: &impl ConnectionTrait,
    program: Uuid,
    courses: &[Uuid],
) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "DELETE FROM program_courses WHERE program_id = $1",
        vec![program.into()],
    ))
    .await?;
    let positions: Vec<i32> = (0..courses.len() as i32).collect();
    c.execute_raw(pg(
        "INSERT INTO program_courses (program_id, course_id, position)
         SELECT $1, c, p FROM unnest($2::uuid[], $3::int[]) AS t(c, p)",
        vec![program.into(), courses.to_vec().into(), positions.into()],
    ))
    .await?;
    Ok(())
}

pub async fn program(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<ProgramRow>, DbErr> {
    ProgramRow::find_by_statement(pg(
        &format!("SELECT {PROGRAM_COLS} FROM programs WHERE id = $1"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

/// Member course ids of each program, in order.
pub async fn program_course_ids(
    c: &impl ConnectionTrait,
    programs: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<Uuid>>, DbErr> {
    #[derive(FromQueryResult)]
    struct Member {
        program_id: Uuid,
        course_id: Uuid,
    }
    let rows = Member::find_by_statement(pg(
        "SELECT program_id, course_id FROM program_courses WHERE program_id = ANY($1) ORDER BY program_id, position",
        vec![programs.to_vec().into()],
    ))
    .all(c)
    .await?;
    let mut out: std::collections::HashMap<Uuid, Vec<Uuid>> = std::collections::HashMap::new();
    for r in rows {
        out.entry(r.program_id).or_default().push(r.course_id);
    }
    Ok(out)
}

pub async fn insert_price(
    c: &impl ConnectionTrait,
    id: Uuid,
    v: &ValidPrice,
    department_id: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<PriceRow, DbErr> {
    let (course_id, program_id) = match v.target {
        PriceTarget::Course(c) => (Some(c), None),
        PriceTarget::Program(p) => (None, Some(p)),
        PriceTarget::Department => (None, None),
    };
    // A new price supersedes the current one for the same target and currency from its start:
    // the old row's window is closed, never deleted.
    c.execute_raw(pg(
        "UPDATE prices SET effective_until = $5, updated_at = $6
         WHERE is_active AND currency = $4
           AND course_id IS NOT DISTINCT FROM $1 AND program_id IS NOT DISTINCT FROM $2
           AND department_id = $3 AND billing_interval IS NOT DISTINCT FROM $7
           AND effective_from < $5 AND (effective_until IS NULL OR effective_until > $5)",
        vec![
            course_id.into(),
            program_id.into(),
            department_id.into(),
            v.currency.code().into(),
            v.effective_from.into(),
            now.into(),
            v.interval.map(|i| i.as_str().to_string()).into(),
        ],
    ))
    .await?;
    PriceRow::find_by_statement(pg(
        &format!(
            "INSERT INTO prices ({PRICE_COLS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, true, $10, $11, $12, $13, $13)
             RETURNING {PRICE_COLS}"
        ),
        vec![
            id.into(),
            course_id.into(),
            program_id.into(),
            department_id.into(),
            v.price_type.as_str().into(),
            v.currency.code().into(),
            v.amount_minor.into(),
            v.interval.map(|i| i.as_str().to_string()).into(),
            v.trial_days.map(|t| t as i32).into(),
            v.effective_from.into(),
            opt_time(v.effective_until),
            by.into(),
            now.into(),
        ],
    ))
    .one(c)
    .await?
    .ok_or(DbErr::RecordNotInserted)
}

pub async fn price(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<PriceRow>, DbErr> {
    PriceRow::find_by_statement(pg(
        &format!("SELECT {PRICE_COLS} FROM prices WHERE id = $1"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

pub async fn deactivate_price(
    c: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<PriceRow>, DbErr> {
    PriceRow::find_by_statement(pg(
        &format!("UPDATE prices SET is_active = false, updated_at = $2 WHERE id = $1 AND is_active RETURNING {PRICE_COLS}"),
        vec![id.into(), now.into()],
    ))
    .one(c)
    .await
}

#[derive(Debug, Default, Clone)]
pub struct PriceFilter {
    pub course_id: Option<Uuid>,
    pub program_id: Option<Uuid>,
    pub department: Option<String>,
    pub departments_in: Option<Vec<String>>,
    pub active: Option<bool>,
    pub cursor: Option<Uuid>,
    pub limit: u64,
}

pub async fn list_prices(
    c: &impl ConnectionTrait,
    f: &PriceFilter,
) -> Result<Vec<PriceRow>, DbErr> {
    let mut w = db::Filters::new();
    w.add_opt("course_id = ?", f.course_id)
        .add_opt("program_id = ?", f.program_id)
        .add_opt("department_id = ?", f.department.clone())
        .add_opt("department_id = ANY(?)", f.departments_in.clone())
        .add_opt("is_active = ?", f.active)
        .add_opt("id > ?", f.cursor);
    PriceRow::find_by_statement(w.query(
        &format!("{PRICE_COLS} FROM prices"),
        "ORDER BY id",
        f.limit + 1,
    ))
    .all(c)
    .await
}

/// The price in effect at `now` for each course or program in `ids` (latest start wins).
pub async fn current_prices(
    c: &impl ConnectionTrait,
    column: &'static str,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<std::collections::HashMap<Uuid, PriceRow>, DbErr> {
    let rows = PriceRow::find_by_statement(pg(
        &format!(
            "SELECT DISTINCT ON ({column}) {PRICE_COLS} FROM prices
             WHERE {column} = ANY($1) AND is_active AND effective_from <= $2
               AND (effective_until IS NULL OR effective_until > $2)
             ORDER BY {column}, effective_from DESC, created_at DESC"
        ),
        vec![ids.to_vec().into(), now.into()],
    ))
    .all(c)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let key = if column == "course_id" {
                r.course_id
            } else {
                r.program_id
            };
            key.map(|k| (k, r))
        })
        .collect())
}

/// Current department plans (one per interval and currency).
pub async fn current_plans(
    c: &impl ConnectionTrait,
    department: &str,
    now: DateTime<Utc>,
) -> Result<Vec<PriceRow>, DbErr> {
    PriceRow::find_by_statement(pg(
        &format!(
            "SELECT DISTINCT ON (billing_interval, currency) {PRICE_COLS} FROM prices
             WHERE department_id = $1 AND price_type = 'subscription' AND course_id IS NULL AND program_id IS NULL
               AND is_active AND effective_from <= $2 AND (effective_until IS NULL OR effective_until > $2)
             ORDER BY billing_interval, currency, effective_from DESC, created_at DESC"
        ),
        vec![department.into(), now.into()],
    ))
    .all(c)
    .await
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct DepartmentRow {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub updated_at: DateTime<Utc>,
}

pub async fn upsert_department(
    c: &impl ConnectionTrait,
    id: &str,
    name: &str,
    parent: Option<&str>,
    now: DateTime<Utc>,
) -> Result<DepartmentRow, DbErr> {
    DepartmentRow::find_by_statement(pg(
        "INSERT INTO departments (id, name, parent_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, parent_id = EXCLUDED.parent_id, updated_at = EXCLUDED.updated_at
         RETURNING id, name, parent_id, updated_at",
        vec![id.into(), name.into(), parent.map(str::to_string).into(), now.into()],
    ))
    .one(c)
    .await?
    .ok_or(DbErr::RecordNotInserted)
}

pub async fn department(
    c: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<DepartmentRow>, DbErr> {
    DepartmentRow::find_by_statement(pg(
        "SELECT id, name, parent_id, updated_at FROM departments WHERE id = $1",
        vec![id.into()],
    ))
    .one(c)
    .await
}

pub async fn sub_departments(c: &impl ConnectionTrait, id: &str) -> Result<Vec<String>, DbErr> {
    #[derive(FromQueryResult)]
    struct Id {
        id: String,
    }
    Ok(Id::find_by_statement(pg(
        "SELECT id FROM departments WHERE parent_id = $1 ORDER BY id",
        vec![id.into()],
    ))
    .all(c)
    .await?
    .into_iter()
    .map(|r| r.id)
    .collect())
}

/// Would making `parent` the parent of `id` close a cycle?
pub async fn creates_cycle(
    c: &impl ConnectionTrait,
    id: &str,
    parent: &str,
) -> Result<bool, DbErr> {
    #[derive(FromQueryResult)]
    struct Found {
        found: bool,
    }
    let r = Found::find_by_statement(pg(
        "WITH RECURSIVE up(id, parent_id) AS (
             SELECT id, parent_id FROM departments WHERE id = $2
             UNION SELECT d.id, d.parent_id FROM departments d JOIN up ON d.id = up.parent_id)
         SELECT EXISTS (SELECT 1 FROM up WHERE id = $1) AS found",
        vec![id.into(), parent.into()],
    ))
    .one(c)
    .await?;
    Ok(id == parent || r.is_some_and(|r| r.found))
}

pub async fn published_course_count(
    c: &impl ConnectionTrait,
    department: &str,
) -> Result<i64, DbErr> {
    #[derive(FromQueryResult)]
    struct N {
        n: i64,
    }
    Ok(N::find_by_statement(pg(
        "SELECT count(*) AS n FROM courses WHERE department_id = $1 AND published",
        vec![department.into()],
    ))
    .one(c)
    .await?
    .map(|n| n.n)
    .unwrap_or(0))
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct RateRow {
    pub currency: String,
    pub rate: Decimal,
    pub updated_at: DateTime<Utc>,
}

pub async fn upsert_rate(
    c: &impl ConnectionTrait,
    currency: &str,
    rate: Decimal,
    by: &str,
    now: DateTime<Utc>,
) -> Result<RateRow, DbErr> {
    RateRow::find_by_statement(pg(
        "INSERT INTO exchange_rates (currency, rate, updated_by, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (currency) DO UPDATE SET rate = EXCLUDED.rate, updated_by = EXCLUDED.updated_by,
             updated_at = EXCLUDED.updated_at
         RETURNING currency, rate, updated_at",
        vec![currency.into(), rate.into(), by.into(), now.into()],
    ))
    .one(c)
    .await?
    .ok_or(DbErr::RecordNotInserted)
}

pub async fn rates(c: &impl ConnectionTrait) -> Result<Vec<RateRow>, DbErr> {
    RateRow::find_by_statement(pg(
        "SELECT currency, rate, updated_at FROM exchange_rates ORDER BY currency",
        vec![],
    ))
    .all(c)
    .await
}

pub async fn rate(c: &impl ConnectionTrait, currency: &str) -> Result<Option<RateRow>, DbErr> {
    RateRow::find_by_statement(pg(
        "SELECT currency, rate, updated_at FROM exchange_rates WHERE currency = $1",
        vec![currency.into()],
    ))
    .one(c)
    .await
}
