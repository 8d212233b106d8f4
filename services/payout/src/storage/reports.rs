//! The sums behind the revenue reports: settlement-currency amounts of the entries recorded in a
//! period (reversals included, so a refund lowers the month it was made in), and enrollments
//! counted by the time the learner was enrolled.

use crate::domain::report::Period;
use db::stmt as pg;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

/// Who the report is about.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Course(Uuid),
    Creator(&'a str),
    Instructor(&'a str),
}

impl Subject<'_> {
    fn column(&self) -> &'static str {
        match self {
            Subject::Course(_) => "course_id",
            Subject::Creator(_) => "content_creator_id",
            Subject::Instructor(_) => "instructor_id",
        }
    }

    fn value(&self) -> sea_orm::Value {
        match self {
            Subject::Course(id) => (*id).into(),
            Subject::Creator(s) | Subject::Instructor(s) => (*s).into(),
        }
    }
}

/// What the ledger knows of a course: its latest name, and every department it was sold in (a
/// program line carries the program's department).
#[derive(Debug, Clone, FromQueryResult)]
pub struct CourseInfo {
    pub course_name: String,
    pub departments: Vec<String>,
}

pub async fn course(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<CourseInfo>, DbErr> {
    CourseInfo::find_by_statement(pg(
        "SELECT (array_agg(course_name ORDER BY seq DESC))[1] AS course_name,
             array_agg(DISTINCT department_id) AS departments
         FROM ledger_entries WHERE course_id = $1 HAVING count(*) > 0",
        vec![id.into()],
    ))
    .one(c)
    .await
}

/// Whether the ledger has any entry for this creator or instructor.
pub async fn known(c: &impl ConnectionTrait, who: Subject<'_>) -> Result<bool, DbErr> {
    Ok(c.query_one_raw(pg(
        &format!(
            "SELECT 1 AS one FROM ledger_entries WHERE {} = $1 LIMIT 1",
            who.column()
        ),
        vec![who.value()],
    ))
    .await?
    .is_some())
}

/// One course's sums in the period.
#[derive(Debug, Clone, FromQueryResult)]
pub struct CourseSums {
    pub course_id: Uuid,
    pub course_name: String,
    pub gross: i64,
    pub net: i64,
    pub creator: i64,
    pub instructor: i64,
    pub currency: String,
}

/// Per course of `who`, the sums of its entries recorded in `p`; `departments` limits the
/// courses (a dept-admin's).
pub async fn by_course(
    c: &impl ConnectionTrait,
    who: Subject<'_>,
    p: &Period,
    departments: Option<&[String]>,
    settlement: &str,
) -> Result<Vec<CourseSums>, DbErr> {
    CourseSums::find_by_statement(pg(
        &format!(
            "SELECT course_id, (array_agg(course_name ORDER BY seq DESC))[1] AS course_name,
                 COALESCE(sum(s_gross_minor), 0)::bigint AS gross, COALESCE(sum(s_net_minor), 0)::bigint AS net,
                 COALESCE(sum(s_creator_minor), 0)::bigint AS creator,
                 COALESCE(sum(s_instructor_minor), 0)::bigint AS instructor,
                 min(settlement_currency) AS currency
             FROM ledger_entries
             WHERE {} = $1 AND recorded_at >= $2 AND recorded_at < $3
               AND ($4::text[] IS NULL OR department_id = ANY($4)) AND settlement_currency = $5
             GROUP BY course_id ORDER BY course_id",
            who.column()
        ),
        vec![
            who.value(),
            p.start.into(),
            p.end.into(),
            departments.map(|d| d.to_vec()).into(),
            settlement.into(),
        ],
    ))
    .all(c)
    .await
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct MonthSum {
    pub month: String,
    pub gross: i64,
}

/// A course's gross per UTC month of the period.
pub async fn course_months(
    c: &impl ConnectionTrait,
    course: Uuid,
    p: &Period,
    departments: Option<&[String]>,
    settlement: &str,
) -> Result<Vec<MonthSum>, DbErr> {
    MonthSum::find_by_statement(pg(
        "SELECT to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month,
             COALESCE(sum(s_gross_minor), 0)::bigint AS gross
         FROM ledger_entries WHERE course_id = $1 AND recorded_at >= $2 AND recorded_at < $3
             AND settlement_currency = $4 AND ($5::text[] IS NULL OR department_id = ANY($5))
         GROUP BY 1 ORDER BY 1",
        vec![
            course.into(),
            p.start.into(),
            p.end.into(),
            settlement.into(),
            departments.map(|d| d.to_vec()).into(),
        ],
    ))
    .all(c)
    .await
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct Enrolled {
    pub course_id: Uuid,
    pub month: String,
    pub enrollments: i64,
    /// Learners enrolled in the period and not cancelled since.
    pub active: i64,
}

/// Enrollments of `courses` made in `p`, per course and UTC month.
pub async fn enrollments(
    c: &impl ConnectionTrait,
    courses: &[Uuid],
    p: &Period,
) -> Result<Vec<Enrolled>, DbErr> {
    Enrolled::find_by_statement(pg(
        "SELECT course_id, to_char(enrolled_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month,
             count(*)::bigint AS enrollments,
             count(*) FILTER (WHERE cancelled_at IS NULL)::bigint AS active
         FROM enrollments WHERE course_id = ANY($1) AND enrolled_at >= $2 AND enrolled_at < $3
         GROUP BY 1, 2",
        vec![courses.to_vec().into(), p.start.into(), p.end.into()],
    ))
    .all(c)
    .await
}

/// Distinct learners enrolled in `courses` in `p` and not cancelled since.
pub async fn active_learners(
    c: &impl ConnectionTrait,
    courses: &[Uuid],
    p: &Period,
) -> Result<i64, DbErr> {
    #[derive(FromQueryResult)]
    struct N {
        n: i64,
    }
    Ok(N::find_by_statement(pg(
        "SELECT count(DISTINCT user_id)::bigint AS n FROM enrollments
         WHERE course_id = ANY($1) AND enrolled_at >= $2 AND enrolled_at < $3 AND cancelled_at IS NULL",
        vec![courses.to_vec().into(), p.start.into(), p.end.into()],
    ))
    .one(c)
    .await?
    .map(|n| n.n)
    .unwrap_or(0))
}
