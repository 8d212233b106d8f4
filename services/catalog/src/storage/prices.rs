//! The `prices` table: course and program prices and department plans, with their history
//! (a price is deactivated or superseded, never deleted).

use super::{corrupt, opt_time};
use crate::domain::{Interval, PriceType, ValidPrice};
use chrono::{DateTime, Utc};
use db::stmt as pg;
use kernel::{Currency, Window};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use std::collections::HashMap;
use uuid::Uuid;

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
    /// The stored price type; an unknown one is an error, never `one-time`.
    pub fn price_type(&self) -> Result<PriceType, DbErr> {
        PriceType::parse(&self.price_type).ok_or_else(|| {
            corrupt(format_args!(
                "price {}: unknown price type `{}`",
                self.id, self.price_type
            ))
        })
    }

    /// The billing interval of a plan (`None` for other prices); an unknown one is an error.
    pub fn interval(&self) -> Result<Option<Interval>, DbErr> {
        self.billing_interval
            .as_deref()
            .map(|s| {
                Interval::parse(s).ok_or_else(|| {
                    corrupt(format_args!("price {}: unknown interval `{s}`", self.id))
                })
            })
            .transpose()
    }

    /// The free trial of a plan, if it has one; a negative one is an error.
    pub fn trial_days(&self) -> Result<Option<u32>, DbErr> {
        self.trial_days
            .map(|t| {
                u32::try_from(t)
                    .map_err(|_| corrupt(format_args!("price {}: trial of {t} days", self.id)))
            })
            .transpose()
    }

    pub fn currency(&self) -> Result<Currency, DbErr> {
        Currency::parse(&self.currency).map_err(|e| corrupt(format_args!("price {}: {e}", self.id)))
    }

    /// When the price applies.
    pub fn effective(&self) -> Result<Window, DbErr> {
        Window::new(Some(self.effective_from), self.effective_until)
            .map_err(|e| corrupt(format_args!("price {}: effective window: {e}", self.id)))
    }
}

const PRICE_COLS: &str = "id, course_id, program_id, department_id, price_type, currency, \
    amount_minor, billing_interval, trial_days, is_active, effective_from, effective_until, \
    created_by, created_at, updated_at";

/// A new price for `department_id`. It supersedes the current one for the same target,
/// currency and interval from its start.
pub async fn insert_price(
    c: &impl ConnectionTrait,
    id: Uuid,
    v: &ValidPrice,
    department_id: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<PriceRow, DbErr> {
    let (course_id, program_id) = v.target.columns();
    let interval = v.interval.map(|i| i.as_str().to_string());
    // The rows whose window contains the new start (after their own start) end there: the old
    // row's window is closed, never deleted.
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
            interval.clone().into(),
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
            interval.into(),
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

/// Deactivates an active price; `None` when it is unknown or already inactive.
pub async fn deactivate_price(
    c: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<PriceRow>, DbErr> {
    PriceRow::find_by_statement(pg(
        &format!(
            "UPDATE prices SET is_active = false, updated_at = $2 WHERE id = $1 AND is_active
             RETURNING {PRICE_COLS}"
        ),
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

/// What a course or program price is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priced {
    Course,
    Program,
}

impl Priced {
    fn column(self) -> &'static str {
        match self {
            Priced::Course => "course_id",
            Priced::Program => "program_id",
        }
    }

    fn key(self, r: &PriceRow) -> Option<Uuid> {
        match self {
            Priced::Course => r.course_id,
            Priced::Program => r.program_id,
        }
    }
}

/// The price in effect at `now` for each course or program in `ids` (latest start wins). The
/// WHERE clause is [`crate::domain::price::in_effect`]: active and `from <= now < until`.
pub async fn current_prices(
    c: &impl ConnectionTrait,
    of: Priced,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, PriceRow>, DbErr> {
    let column = of.column();
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
        .filter_map(|r| of.key(&r).map(|k| (k, r)))
        .collect())
}

/// Current department plans (one per interval and currency), in effect as in
/// [`current_prices`].
pub async fn current_plans(
    c: &impl ConnectionTrait,
    department: &str,
    now: DateTime<Utc>,
) -> Result<Vec<PriceRow>, DbErr> {
    PriceRow::find_by_statement(pg(
        &format!(
            "SELECT DISTINCT ON (billing_interval, currency) {PRICE_COLS} FROM prices
             WHERE department_id = $1 AND price_type = 'subscription'
               AND course_id IS NULL AND program_id IS NULL
               AND is_active AND effective_from <= $2
               AND (effective_until IS NULL OR effective_until > $2)
             ORDER BY billing_interval, currency, effective_from DESC, created_at DESC"
        ),
        vec![department.into(), now.into()],
    ))
    .all(c)
    .await
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    pub(crate) fn row() -> PriceRow {
        let t = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).single().unwrap();
        PriceRow {
            id: kernel::new_id(),
            course_id: None,
            program_id: None,
            department_id: "cs".into(),
            price_type: "subscription".into(),
            currency: "USD".into(),
            amount_minor: 1900,
            billing_interval: Some("monthly".into()),
            trial_days: Some(14),
            is_active: true,
            effective_from: t,
            effective_until: None,
            created_by: "admin".into(),
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn a_readable_row_reads_exactly() {
        let r = row();
        assert_eq!(r.price_type().unwrap(), PriceType::Subscription);
        assert_eq!(r.interval().unwrap(), Some(Interval::Monthly));
        assert_eq!(r.trial_days().unwrap(), Some(14));
        assert_eq!(r.currency().unwrap(), Currency::USD);
        assert!(r.effective().unwrap().contains(r.effective_from));
        let one_time = PriceRow {
            price_type: "one-time".into(),
            billing_interval: None,
            trial_days: None,
            ..row()
        };
        assert_eq!(one_time.interval().unwrap(), None);
        assert_eq!(one_time.trial_days().unwrap(), None);
    }

    #[test]
    fn an_unreadable_row_is_an_error_not_a_default() {
        // Once an unknown type silently became one-time.
        let bad_type = PriceRow {
            price_type: "lifetime".into(),
            ..row()
        };
        assert!(matches!(bad_type.price_type(), Err(DbErr::Custom(_))));
        let bad_interval = PriceRow {
            billing_interval: Some("weekly".into()),
            ..row()
        };
        assert!(matches!(bad_interval.interval(), Err(DbErr::Custom(_))));
        let bad_trial = PriceRow {
            trial_days: Some(-3),
            ..row()
        };
        assert!(matches!(bad_trial.trial_days(), Err(DbErr::Custom(_))));
        let bad_currency = PriceRow {
            currency: "XYZ".into(),
            ..row()
        };
        assert!(matches!(bad_currency.currency(), Err(DbErr::Custom(_))));
        let r = row();
        let bad_window = PriceRow {
            effective_until: Some(r.effective_from),
            ..r
        };
        assert!(matches!(bad_window.effective(), Err(DbErr::Custom(_))));
    }
}
