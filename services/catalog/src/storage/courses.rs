//! The `courses` table.

use super::{corrupt, opt_time};
use crate::domain::ValidCourse;
use crate::domain::split::from_stored;
use chrono::{DateTime, Utc};
use db::stmt as pg;
use kernel::{RevenueSplit, Window};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Value};
use uuid::Uuid;

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
    /// The stored split; shares that are negative or do not sum to the whole are an error.
    pub fn split(&self) -> Result<RevenueSplit, DbErr> {
        from_stored(self.platform_bps, self.creator_bps, self.instructor_bps)
            .map_err(|e| corrupt(format_args!("course {}: revenue split: {e}", self.id)))
    }

    /// When the course can be bought.
    pub fn availability(&self) -> Result<Window, DbErr> {
        Window::new(self.available_from, self.available_until)
            .map_err(|e| corrupt(format_args!("course {}: availability: {e}", self.id)))
    }
}

const COURSE_COLS: &str = "id, lms_course_id, title, description, department_id, creator_id, \
    instructor_id, approval_required, platform_bps, creator_bps, instructor_bps, available_from, \
    available_until, published, created_at, updated_at";

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
        opt_time(v.availability.from()),
        opt_time(v.availability.until()),
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

/// The published courses of a department and of every department under it (a plan's reach).
pub async fn published_courses_under(
    c: &impl ConnectionTrait,
    department: &str,
) -> Result<Vec<CourseRow>, DbErr> {
    CourseRow::find_by_statement(pg(
        &format!(
            "WITH RECURSIVE tree(id) AS (
                 SELECT $1::text
                 UNION SELECT d.id FROM departments d JOIN tree ON d.parent_id = tree.id)
             SELECT {COURSE_COLS} FROM courses
             WHERE published AND department_id IN (SELECT id FROM tree) ORDER BY id"
        ),
        vec![department.into()],
    ))
    .all(c)
    .await
}

pub async fn list_courses(
    c: &impl ConnectionTrait,
    f: &super::ListFilter,
    now: DateTime<Utc>,
) -> Result<Vec<CourseRow>, DbErr> {
    let q = super::list_filters(f, now).query(
        &format!("{COURSE_COLS} FROM courses"),
        "ORDER BY id",
        f.limit + 1,
    );
    CourseRow::find_by_statement(q).all(c).await
}

pub async fn published_course_count(
    c: &impl ConnectionTrait,
    department: &str,
) -> Result<i64, DbErr> {
    #[derive(FromQueryResult)]
    struct N {
        n: i64,
    }
    N::find_by_statement(pg(
        "SELECT count(*) AS n FROM courses WHERE department_id = $1 AND published",
        vec![department.into()],
    ))
    .one(c)
    .await?
    .map(|n| n.n)
    // count(*) always answers one row: none is a broken query, not zero courses.
    .ok_or_else(|| DbErr::RecordNotFound("count(*) of courses returned no row".into()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    pub(crate) fn row() -> CourseRow {
        let t = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).single().unwrap();
        CourseRow {
            id: kernel::new_id(),
            lms_course_id: "lms-1".into(),
            title: "Rust".into(),
            description: String::new(),
            department_id: "cs".into(),
            creator_id: "u1".into(),
            instructor_id: "u2".into(),
            approval_required: false,
            platform_bps: 2000,
            creator_bps: 5000,
            instructor_bps: 3000,
            available_from: None,
            available_until: None,
            published: true,
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn an_unreadable_split_is_an_error_not_the_default() {
        assert_eq!(row().split().unwrap().creator_bps(), 5000);
        for (p, c, i) in [(-1, 5000, 5001), (3000, 3000, 3000), (0, 0, 0)] {
            let r = CourseRow {
                platform_bps: p,
                creator_bps: c,
                instructor_bps: i,
                ..row()
            };
            let e = r.split().unwrap_err();
            assert!(matches!(e, DbErr::Custom(_)), "{e}");
            assert!(e.to_string().contains(&r.id.to_string()), "{e}");
        }
    }

    #[test]
    fn an_unreadable_availability_is_an_error() {
        let r = row();
        let backwards = CourseRow {
            available_from: Some(r.created_at),
            available_until: Some(r.created_at),
            ..r
        };
        assert!(matches!(backwards.availability(), Err(DbErr::Custom(_))));
        assert_eq!(row().availability().unwrap(), Window::always());
    }
}
