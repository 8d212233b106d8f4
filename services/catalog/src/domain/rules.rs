//! Small rules shared by the catalog's inputs: trimmed non-blank text, windows, decimal numbers
//! given as JSON numbers or strings.

use super::CatalogError;
use chrono::{DateTime, Utc};
use kernel::Window;

/// `v` trimmed; refused when blank or longer than `max` characters.
pub fn non_blank(field: &'static str, v: &str, max: usize) -> Result<String, CatalogError> {
    let t = v.trim();
    if t.is_empty() {
        return Err(CatalogError::InvalidField {
            field,
            detail: format!("`{field}` must not be blank"),
        });
    }
    if t.chars().count() > max {
        return Err(CatalogError::InvalidField {
            field,
            detail: format!("`{field}` is longer than {max} characters"),
        });
    }
    Ok(t.to_string())
}

/// The window `[from, until)`; refused (on `until_field`) when it ends before it starts.
pub fn window(
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    until_field: &'static str,
) -> Result<Window, CatalogError> {
    Window::new(from, until).map_err(|_| CatalogError::InvalidWindow { field: until_field })
}

/// The text of a JSON number or string; `None` for any other JSON type.
pub fn number_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(non_blank("title", "  Rust  ", 10).unwrap(), "Rust");
        let blank = non_blank("title", "   ", 10).unwrap_err();
        assert_eq!(blank.code(), "invalid_field");
        assert_eq!(blank.field(), Some("title"));
        assert_eq!(blank.to_string(), "`title` must not be blank");
        let long = non_blank("title", "ééééé", 4).unwrap_err();
        assert_eq!(long.to_string(), "`title` is longer than 4 characters");
        assert!(non_blank("title", "éééé", 4).is_ok());
    }

    #[test]
    fn windows_end_after_they_start() {
        let t = |s: i64| Utc.timestamp_opt(s, 0).single().unwrap();
        assert!(window(Some(t(1)), Some(t(2)), "availableUntil").is_ok());
        assert!(window(None, Some(t(2)), "availableUntil").is_ok());
        assert!(window(Some(t(2)), None, "availableUntil").is_ok());
        let e = window(Some(t(2)), Some(t(2)), "availableUntil").unwrap_err();
        assert_eq!(e.code(), "invalid_window");
        assert_eq!(e.field(), Some("availableUntil"));
    }

    #[test]
    fn numbers_come_as_numbers_or_strings() {
        assert_eq!(number_text(&serde_json::json!(0.3)).as_deref(), Some("0.3"));
        assert_eq!(
            number_text(&serde_json::json!("0.30")).as_deref(),
            Some("0.30")
        );
        assert_eq!(number_text(&serde_json::json!(true)), None);
        assert_eq!(number_text(&serde_json::json!(null)), None);
    }
}
