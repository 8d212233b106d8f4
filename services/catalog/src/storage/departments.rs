//! The `departments` table: names and the department tree.

use chrono::{DateTime, Utc};
use db::stmt as pg;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};

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
        "INSERT INTO departments (id, name, parent_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, parent_id = EXCLUDED.parent_id,
             updated_at = EXCLUDED.updated_at
         RETURNING id, name, parent_id, updated_at",
        vec![
            id.into(),
            name.into(),
            parent.map(str::to_string).into(),
            now.into(),
        ],
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
    if id == parent {
        return Ok(true);
    }
    let r = Found::find_by_statement(pg(
        "WITH RECURSIVE up(id, parent_id) AS (
             SELECT id, parent_id FROM departments WHERE id = $2
             UNION SELECT d.id, d.parent_id FROM departments d JOIN up ON d.id = up.parent_id)
         SELECT EXISTS (SELECT 1 FROM up WHERE id = $1) AS found",
        vec![id.into(), parent.into()],
    ))
    .one(c)
    .await?
    // EXISTS always answers one row: none is a broken query, not "no cycle".
    .ok_or_else(|| DbErr::RecordNotFound("the department cycle check returned no row".into()))?;
    Ok(r.found)
}
