//! Secrets (API keys, webhook secrets, signing keys) in a type whose `Debug` and `Display` never
//! show them, so a logged configuration or error cannot leak one.

use serde::{Deserialize, Deserializer};
use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shows_itself() {
        let s: Secret = serde_json::from_str("\"whsec_top\"").unwrap();
        assert_eq!(s.expose(), "whsec_top");
        assert!(!format!("{s:?} {s}").contains("whsec_top"));
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Cfg {
            key: Secret,
        }
        let c: Cfg = serde_json::from_str(r#"{"key":"k-123"}"#).unwrap();
        assert!(!format!("{c:?}").contains("k-123"));
    }
}
