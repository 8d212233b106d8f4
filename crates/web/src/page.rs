//! Cursor pagination. Lists are ordered by time-ordered ids, so the cursor is the last id seen.

use crate::problem::ApiError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const DEFAULT_LIMIT: u64 = 20;
pub const MAX_LIMIT: u64 = 100;

/// The envelope of every list: a page of items and the cursor of the next page (`null` on the
/// last one).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` when this is the last.
    #[schema(format = Uuid)]
    pub next_cursor: Option<String>,
}

/// `?cursor=&limit=` as every list accepts them.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `nextCursor` of the previous page (empty: the first page).
    #[param(
        pattern = "^$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        nullable = false
    )]
    pub cursor: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, nullable = false)]
    pub limit: Option<u64>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<u64, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(l) if (1..=MAX_LIMIT).contains(&l) => Ok(l),
            Some(_) => Err(ApiError::bad_request(
                "invalid_query",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            )
            .with_field("limit")),
        }
    }
    pub fn cursor(&self) -> Result<Option<Uuid>, ApiError> {
        match &self.cursor {
            None => Ok(None),
            Some(c) if c.is_empty() => Ok(None),
            Some(c) => parse_cursor(c).map(Some),
        }
    }
}

/// The pattern of a cursor in the documents: empty (the first page) or an id as lists give it.
pub const CURSOR_PATTERN: &str =
    "^$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// A non-empty cursor: an id in the hyphenated form lists give (`nextCursor`), else 400.
pub fn parse_cursor(c: &str) -> Result<Uuid, ApiError> {
    let malformed =
        || ApiError::bad_request("invalid_query", "malformed cursor").with_field("cursor");
    if c.len() != 36 {
        return Err(malformed());
    }
    Uuid::parse_str(c).map_err(|_| malformed())
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows: the extra row only says another page exists.
    pub fn from_rows(mut rows: Vec<T>, limit: u64, id_of: impl Fn(&T) -> String) -> Self {
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more { rows.last().map(&id_of) } else { None };
        Page {
            items: rows,
            next_cursor,
        }
    }
}
