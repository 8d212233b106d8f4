//! What admins set: completion criteria per course, templates per department.

use crate::domain::criteria::Criteria;
use crate::domain::template::Design;
use chrono::{DateTime, Utc};
use db::stmt as pg;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

#[derive(Debug, FromQueryResult)]
struct CriteriaRow {
    criteria: serde_json::Value,
}

/// The course's criteria, if an admin set them. Stored criteria that no longer parse are an
/// error, never the default.
pub async fn criteria(
    c: &impl ConnectionTrait,
    course_id: Uuid,
) -> Result<Option<Criteria>, DbErr> {
    let Some(row) = CriteriaRow::find_by_statement(pg(
        "SELECT criteria FROM criteria WHERE course_id = $1",
        vec![course_id.into()],
    ))
    .one(c)
    .await?
    else {
        return Ok(None);
    };
    serde_json::from_value(row.criteria)
        .map(Some)
        .map_err(|e| DbErr::Custom(format!("stored criteria of course {course_id}: {e}")))
}

pub async fn put_criteria(
    c: &impl ConnectionTrait,
    course_id: Uuid,
    department_id: &str,
    criteria: &Criteria,
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let json = serde_json::to_value(criteria).map_err(|e| DbErr::Custom(e.to_string()))?;
    c.execute_raw(pg(
        "INSERT INTO criteria (course_id, department_id, criteria, updated_by, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (course_id) DO UPDATE SET department_id = EXCLUDED.department_id,
             criteria = EXCLUDED.criteria, updated_by = EXCLUDED.updated_by,
             updated_at = EXCLUDED.updated_at",
        vec![
            course_id.into(),
            department_id.into(),
            json.into(),
            by.into(),
            at.into(),
        ],
    ))
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct TemplateRow {
    pub id: Uuid,
    pub department_id: String,
    pub design: serde_json::Value,
    pub is_default: bool,
    pub version: i32,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TemplateRow {
    pub fn design(&self) -> Result<Design, DbErr> {
        serde_json::from_value(self.design.clone())
            .map_err(|e| DbErr::Custom(format!("stored template {}: {e}", self.id)))
    }
}

const TEMPLATE: &str =
    "id, department_id, design, is_default, version, created_by, created_at, updated_at";

pub async fn template(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<TemplateRow>, DbErr> {
    TemplateRow::find_by_statement(pg(
        &format!("SELECT {TEMPLATE} FROM templates WHERE id = $1"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

/// The department's default template, if it has one.
pub async fn default_template(
    c: &impl ConnectionTrait,
    department_id: &str,
) -> Result<Option<TemplateRow>, DbErr> {
    TemplateRow::find_by_statement(pg(
        &format!("SELECT {TEMPLATE} FROM templates WHERE department_id = $1 AND is_default"),
        vec![department_id.into()],
    ))
    .one(c)
    .await
}

/// Templates of the given departments (all when `None`), oldest first.
pub async fn templates(
    c: &impl ConnectionTrait,
    departments: Option<&[String]>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<TemplateRow>, DbErr> {
    let mut f = db::Filters::new();
    if let Some(d) = departments {
        f.add("department_id = ANY(?)", d.to_vec());
    }
    f.add_opt("id > ?", after);
    TemplateRow::find_by_statement(f.query(
        &format!("{TEMPLATE} FROM templates"),
        "ORDER BY id",
        limit + 1,
    ))
    .all(c)
    .await
}

/// Clears the department's default so another template can become it (same transaction).
pub async fn clear_default(c: &impl ConnectionTrait, department_id: &str) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "UPDATE templates SET is_default = false WHERE department_id = $1 AND is_default",
        vec![department_id.into()],
    ))
    .await?;
    Ok(())
}

pub async fn insert_template(
    c: &impl ConnectionTrait,
    id: Uuid,
    department_id: &str,
    design: &Design,
    is_default: bool,
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let json = serde_json::to_value(design).map_err(|e| DbErr::Custom(e.to_string()))?;
    c.execute_raw(pg(
        "INSERT INTO templates (id, department_id, design, is_default, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
        vec![
            id.into(),
            department_id.into(),
            json.into(),
            is_default.into(),
            by.into(),
            at.into(),
        ],
    ))
    .await?;
    Ok(())
}

pub async fn update_template(
    c: &impl ConnectionTrait,
    id: Uuid,
    design: &Design,
    is_default: bool,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let json = serde_json::to_value(design).map_err(|e| DbErr::Custom(e.to_string()))?;
    c.execute_raw(pg(
        "UPDATE templates SET design = $2, is_default = $3, updated_at = $4, version = version + 1
         WHERE id = $1",
        vec![id.into(), json.into(), is_default.into(), at.into()],
    ))
    .await?;
    Ok(())
}
