//! registration's settings: the `[registration]` section (defaults and comments in
//! `deploy/commerce.default.toml`), validated at start. Secrets are [`kernel::Secret`]s.

use kernel::Secret;
use runtime::{Settings, StartError};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationConfig {
    /// The LMS connector's base URL.
    pub lms_url: String,
    pub lms_api_key: Secret,
    /// Standard Webhooks secret (`whsec_<base64>`) of the LMS's enrollment-status webhooks.
    pub lms_webhook_secret: Secret,
    /// Delivery attempts before an enrollment request is parked.
    pub max_attempts: u32,
    /// The first retry delay; each further one doubles.
    pub retry_base_ms: u64,
}

impl RegistrationConfig {
    pub fn load(settings: &Settings) -> Result<RegistrationConfig, StartError> {
        let c: RegistrationConfig = settings.section("registration")?;
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), StartError> {
        let bad = |m: &str| Err(StartError::Other(format!("registration: {m}")));
        if self.max_attempts == 0 {
            return bad("max_attempts must be at least 1");
        }
        if web::standard_webhooks::check_secret(self.lms_webhook_secret.expose()).is_err() {
            return bad("lms_webhook_secret must look like whsec_<base64>");
        }
        if !runtime::settings::is_http_url(&self.lms_url) {
            return bad("lms_url must be an http(s) URL");
        }
        if self.lms_api_key.is_empty() {
            return bad("lms_api_key must be set");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RegistrationConfig {
        serde_json::from_value(serde_json::json!({
            "lms_url": "http://lms:8090",
            "lms_api_key": "k",
            "lms_webhook_secret": "whsec_c2VjcmV0",
            "max_attempts": 8,
            "retry_base_ms": 500,
        }))
        .unwrap()
    }

    #[test]
    fn validates_and_redacts() {
        let c = config();
        assert!(c.validate().is_ok());
        assert!(!format!("{c:?}").contains("whsec_c2VjcmV0"));
        let mut zero = config();
        zero.max_attempts = 0;
        assert!(zero.validate().is_err());
        let mut bad = config();
        bad.lms_webhook_secret = Secret::new("plain");
        assert!(bad.validate().is_err());
    }
}
