//! JSON bodies: the size limit answers 413, a malformed body or a wrong type answers 400 naming
//! the field, and the raw bytes stay available for idempotency fingerprints.

use crate::problem::ApiError;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, web};
use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

pub struct Json<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.value
    }
}

/// Parses `bytes` as `T`, naming the offending field in the error. A body holding card data is
/// refused first ([`crate::card_data`]).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Parsed once: the card-data scan and the typed read share the tree.
    let mut value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("invalid_body", format!("malformed JSON body: {e}")))?;
    whole_numbers(&mut value);
    crate::card_data::refuse(&value)?;
    if let Some(field) = nul_field(&value) {
        return Err(ApiError::bad_request(
            "invalid_body",
            "a string holds U+0000, which no field may contain",
        )
        .with_field(if field.is_empty() { ".".into() } else { field }));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let detail = if path == "." || path.is_empty() {
            format!("malformed JSON body: {inner}")
        } else {
            format!("invalid value for `{path}`: {inner}")
        };
        let mut err = ApiError::bad_request("invalid_body", detail);
        if !(path == "." || path.is_empty()) {
            err = err.with_field(path);
        } else if let Some(f) = missing_field(&inner.to_string()) {
            err = err.with_field(f);
        }
        err
    })
}

/// A body that may be left out: empty (or whitespace) and `null` are `None`, anything else is
/// parsed as `T` ([`parse`]).
pub fn parse_optional<T: DeserializeOwned>(bytes: &[u8]) -> Result<Option<T>, ApiError> {
    let trimmed = bytes.trim_ascii();
    if trimmed.is_empty() || trimmed == b"null" {
        return Ok(None);
    }
    parse(trimmed).map(Some)
}

/// JSON has one number type: `5.0` is the integer 5 (JSON Schema agrees), so a whole number
/// written with a fraction is read as the integer it is, and integer fields take it.
fn whole_numbers(v: &mut serde_json::Value) {
    use serde_json::{Number, Value};
    match v {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                // Below 2^53 every whole f64 is exact, so the conversion loses nothing.
                *n = Number::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(map) => map.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

/// The first string (value or key) holding U+0000, as a JSON path: PostgreSQL text cannot
/// store it, so it is refused here rather than failing in the database.
fn nul_field(v: &serde_json::Value) -> Option<String> {
    first_path(v, &|key, value| match (key, value) {
        (Some(k), _) if k.contains('\0') => true,
        (_, serde_json::Value::String(s)) => s.contains('\0'),
        _ => false,
    })
}

/// The JSON path (`payload.items.0.note`) of the first place in `v`, depth first, where
/// `hit(key, value)` holds; `key` is the member name for an object's members, `None` for the root
/// and array items.
pub(crate) fn first_path(
    v: &serde_json::Value,
    hit: &dyn Fn(Option<&str>, &serde_json::Value) -> bool,
) -> Option<String> {
    use serde_json::Value;
    fn walk(
        v: &Value,
        path: &mut Vec<String>,
        hit: &dyn Fn(Option<&str>, &Value) -> bool,
    ) -> Option<String> {
        let mut child = |step: String, key: Option<&str>, item: &Value| {
            path.push(step);
            let found = if hit(key, item) {
                Some(path.join("."))
            } else {
                walk(item, path, hit)
            };
            path.pop();
            found
        };
        match v {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| child(i.to_string(), None, item)),
            Value::Object(map) => map
                .iter()
                .find_map(|(k, item)| child(k.clone(), Some(k), item)),
            _ => None,
        }
    }
    if hit(None, v) {
        return Some(String::new());
    }
    walk(v, &mut Vec::new(), hit)
}

fn missing_field(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("missing field `")?;
    rest.split('`').next().map(str::to_string)
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let raw = bytes.await.map_err(|e| {
                if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "the request body is too large",
                    )
                } else {
                    ApiError::bad_request("invalid_body", format!("cannot read the body: {e}"))
                }
            })?;
            let value = parse(&raw)?;
            Ok(Json { value, raw })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_u0000_anywhere_naming_the_field() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Body {
            title: String,
        }
        let e = parse::<Body>(br#"{"title": "a\u0000b"}"#)
            .err()
            .map(|e| (e.status.as_u16(), e.code, e.field));
        assert_eq!(e, Some((400, "invalid_body", Some("title".to_string()))));
        let e = parse::<serde_json::Value>(br#"{"tags": [{"x\u0000": 1}]}"#)
            .err()
            .and_then(|e| e.field);
        assert_eq!(e.as_deref(), Some("tags.0.x\u{0}"));
        assert!(parse::<Body>(br#"{"title": "Zo\u00eb"}"#).is_ok());
    }

    #[test]
    fn a_whole_number_with_a_fraction_is_an_integer() {
        #[derive(serde::Deserialize)]
        struct Body {
            n: u32,
            f: f64,
        }
        let b = parse::<Body>(br#"{"n": 62.0, "f": 0.5}"#)
            .ok()
            .map(|b| (b.n, b.f));
        assert_eq!(b, Some((62, 0.5)));
        assert!(parse::<Body>(br#"{"n": 62.5, "f": 1}"#).is_err());
    }
}
