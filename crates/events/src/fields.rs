//! Reading event fields: protobuf strings carry ids and times, and an empty string means "not
//! set". A field that is set but unreadable is an error (the message is poison), never a default.

use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {problem}: `{value}`")]
pub struct FieldError {
    pub field: &'static str,
    pub problem: &'static str,
    pub value: String,
}

fn bad(field: &'static str, problem: &'static str, value: &str) -> FieldError {
    FieldError {
        field,
        problem,
        value: value.to_string(),
    }
}

/// A required UUID.
pub fn uuid(field: &'static str, s: &str) -> Result<Uuid, FieldError> {
    opt_uuid(field, s)?.ok_or_else(|| bad(field, "is required", s))
}

/// An optional UUID (empty: none).
pub fn opt_uuid(field: &'static str, s: &str) -> Result<Option<Uuid>, FieldError> {
    if s.is_empty() {
        return Ok(None);
    }
    Uuid::parse_str(s)
        .map(Some)
        .map_err(|_| bad(field, "is not a UUID", s))
}

/// A required RFC 3339 time.
pub fn time(field: &'static str, s: &str) -> Result<DateTime<Utc>, FieldError> {
    opt_time(field, s)?.ok_or_else(|| bad(field, "is required", s))
}

/// An optional RFC 3339 time (empty: none).
pub fn opt_time(field: &'static str, s: &str) -> Result<Option<DateTime<Utc>>, FieldError> {
    if s.is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| bad(field, "is not RFC 3339", s))
}

/// A required non-empty string.
pub fn required<'a>(field: &'static str, s: &'a str) -> Result<&'a str, FieldError> {
    if s.is_empty() {
        Err(bad(field, "is required", s))
    } else {
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_set_fields_and_refuses_bad_ones() {
        let id = Uuid::now_v7();
        assert_eq!(uuid("order_id", &id.to_string()), Ok(id));
        assert!(uuid("order_id", "").is_err());
        assert!(uuid("order_id", "nope").is_err());
        assert_eq!(opt_uuid("program_id", ""), Ok(None));
        assert!(time("completed_at", "2026-11-28T10:00:00Z").is_ok());
        assert!(time("completed_at", "yesterday").is_err());
        assert_eq!(opt_time("effective_until", ""), Ok(None));
        assert!(required("currency", "").is_err());
    }
}
