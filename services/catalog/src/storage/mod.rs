//! Catalog persistence: SQL only, one file per table or aggregate. Every function takes
//! `&impl ConnectionTrait` so a route composes it in one transaction with its outbox rows. Rows
//! are read into domain types strictly: a value the domain cannot read is a `DbErr::Custom`
//! (answered 500, the cause logged), never a default.
//!
//! Time filters in SQL mirror [`kernel::Window::contains`], half-open: `from <= now < until`.

pub mod courses;
pub mod departments;
pub mod exchange_rates;
pub mod prices;
pub mod programs;

pub use courses::*;
pub use departments::*;
pub use exchange_rates::*;
pub use prices::*;
pub use programs::*;

use chrono::{DateTime, Utc};
use sea_orm::{DbErr, Value};
use uuid::Uuid;

/// A stored value the domain cannot read.
pub(crate) fn corrupt(what: impl std::fmt::Display) -> DbErr {
    DbErr::Custom(format!("corrupt catalog row: {what}"))
}

pub(crate) fn opt_time(t: Option<DateTime<Utc>>) -> Value {
    Value::ChronoDateTimeUtc(t)
}

/// Filters of course and program lists.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub department: Option<String>,
    pub departments_in: Option<Vec<String>>,
    pub search: Option<String>,
    /// Published items whose availability has not ended.
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

/// The WHERE clause of a course or program list. `public_only` keeps the `until` half of
/// [`kernel::Window::contains`] (`now < available_until`): an item whose availability has not
/// started yet is listed, with `available: false`.
pub(crate) fn list_filters(f: &ListFilter, now: DateTime<Utc>) -> db::Filters {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_is_matched_literally() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
