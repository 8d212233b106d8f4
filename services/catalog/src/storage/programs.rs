//! The `programs` table and `program_courses`, its ordered members.

use super::{corrupt, opt_time};
use crate::domain::ValidProgram;
use chrono::{DateTime, Utc};
use db::stmt as pg;
use kernel::Window;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Value};
use std::collections::HashMap;
use uuid::Uuid;

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
    /// When the program can be bought.
    pub fn availability(&self) -> Result<Window, DbErr> {
        Window::new(self.available_from, self.available_until)
            .map_err(|e| corrupt(format_args!("program {}: availability: {e}", self.id)))
    }
}

const PROGRAM_COLS: &str = "id, title, description, department_id, available_from, \
    available_until, published, created_at, updated_at";

/// `$1..$8` of both program writes: id, every field in column order, then the write time.
fn program_params(id: Uuid, v: &ValidProgram, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        id.into(),
        v.title.clone().into(),
        v.description.clone().into(),
        v.department_id.clone().into(),
        opt_time(v.availability.from()),
        opt_time(v.availability.until()),
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
            "INSERT INTO programs ({PROGRAM_COLS}, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
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
            "UPDATE programs SET title = $2, description = $3, department_id = $4,
                available_from = $5, available_until = $6, published = $7, updated_at = $8
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

pub async fn list_programs(
    c: &impl ConnectionTrait,
    f: &super::ListFilter,
    now: DateTime<Utc>,
) -> Result<Vec<ProgramRow>, DbErr> {
    let q = super::list_filters(f, now).query(
        &format!("{PROGRAM_COLS} FROM programs"),
        "ORDER BY id",
        f.limit + 1,
    );
    ProgramRow::find_by_statement(q).all(c).await
}

/// Member course ids of each program, in order; a program without members has no entry.
pub async fn program_course_ids(
    c: &impl ConnectionTrait,
    programs: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Uuid>>, DbErr> {
    #[derive(FromQueryResult)]
    struct Member {
        program_id: Uuid,
        course_id: Uuid,
    }
    let rows = Member::find_by_statement(pg(
        "SELECT program_id, course_id FROM program_courses WHERE program_id = ANY($1)
         ORDER BY program_id, position",
        vec![programs.to_vec().into()],
    ))
    .all(c)
    .await?;
    let mut out: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for r in rows {
        out.entry(r.program_id).or_default().push(r.course_id);
    }
    Ok(out)
}
