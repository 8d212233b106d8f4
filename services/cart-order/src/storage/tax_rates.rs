//! Manual tax rates per department (or every department) and country (or region).

use crate::domain::tax::ManualRate;
use chrono::{DateTime, Utc};
use db::stmt as pg;
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

#[derive(Debug, Clone, FromQueryResult)]
pub struct TaxRateRow {
    pub id: Uuid,
    pub department_id: Option<String>,
    pub country: String,
    pub region: Option<String>,
    pub rate: Decimal,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLS: &str = "id, department_id, country, region, rate, created_by, created_at, updated_at";

impl TaxRateRow {
    pub fn rule(&self) -> ManualRate {
        ManualRate {
            department_id: self.department_id.clone(),
            country: self.country.clone(),
            region: self.region.clone(),
            rate: self.rate,
        }
    }
}

/// Every rate of `country` (the calculator picks the most specific per line).
pub async fn rates_for(c: &impl ConnectionTrait, country: &str) -> Result<Vec<ManualRate>, DbErr> {
    Ok(TaxRateRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM tax_rates WHERE country = $1"),
        vec![country.into()],
    ))
    .all(c)
    .await?
    .iter()
    .map(TaxRateRow::rule)
    .collect())
}

/// Saves a rate; one per (department, country, region): a second is a unique violation.
pub async fn insert_rate(
    c: &impl ConnectionTrait,
    r: &ManualRate,
    by: &str,
    now: DateTime<Utc>,
) -> Result<TaxRateRow, DbErr> {
    TaxRateRow::find_by_statement(pg(
        &format!(
            "INSERT INTO tax_rates (id, department_id, country, region, rate, created_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {COLS}"
        ),
        vec![
            kernel::new_id().into(),
            r.department_id.clone().into(),
            r.country.clone().into(),
            r.region.clone().into(),
            r.rate.into(),
            by.into(),
            now.into(),
        ],
    ))
    .one(c)
    .await?
    .ok_or(DbErr::RecordNotInserted)
}

pub async fn rate(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<TaxRateRow>, DbErr> {
    TaxRateRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM tax_rates WHERE id = $1"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

pub async fn set_rate(
    c: &impl ConnectionTrait,
    id: Uuid,
    rate: Decimal,
    now: DateTime<Utc>,
) -> Result<Option<TaxRateRow>, DbErr> {
    TaxRateRow::find_by_statement(pg(
        &format!("UPDATE tax_rates SET rate = $2, updated_at = $3 WHERE id = $1 RETURNING {COLS}"),
        vec![id.into(), rate.into(), now.into()],
    ))
    .one(c)
    .await
}

pub async fn delete_rate(c: &impl ConnectionTrait, id: Uuid) -> Result<bool, DbErr> {
    Ok(
        c.execute_raw(pg("DELETE FROM tax_rates WHERE id = $1", vec![id.into()]))
            .await?
            .rows_affected()
            == 1,
    )
}

/// Rates newest first; `departments`: `None` for all (a billing-admin), else those departments'.
pub async fn list_rates(
    c: &impl ConnectionTrait,
    departments: Option<&[String]>,
    cursor: Option<Uuid>,
    limit: u64,
) -> Result<Vec<TaxRateRow>, DbErr> {
    let mut w = db::Filters::new();
    w.add_opt(
        "department_id = ANY(?)",
        departments.map(<[String]>::to_vec),
    )
    .add_opt("id < ?", cursor);
    TaxRateRow::find_by_statement(w.query(
        &format!("{COLS} FROM tax_rates"),
        "ORDER BY id DESC",
        limit + 1,
    ))
    .all(c)
    .await
}
