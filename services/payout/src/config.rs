//! payout's settings: the `[payout]` section (defaults and comments in
//! `deploy/commerce.default.toml`), validated at start. Secrets are [`kernel::Secret`]s.

use kernel::Secret;
use runtime::{Settings, StartError};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutConfig {
    /// The Payout Platform's base URL.
    pub url: String,
    /// Standard Webhooks secret (`whsec_<base64>`) the webhooks are signed with.
    pub webhook_secret: Secret,
    /// Delivery attempts before a webhook is parked.
    pub max_attempts: u32,
    /// The first retry delay; each further one doubles.
    pub retry_base_ms: u64,
}

impl PayoutConfig {
    pub fn load(settings: &Settings) -> Result<PayoutConfig, StartError> {
        let c: PayoutConfig = settings.section("payout")?;
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), StartError> {
        let bad = |m: &str| Err(StartError::Other(format!("payout: {m}")));
        if self.max_attempts == 0 {
            return bad("max_attempts must be at least 1");
        }
        if web::standard_webhooks::check_secret(self.webhook_secret.expose()).is_err() {
            return bad("webhook_secret must look like whsec_<base64>");
        }
        if !runtime::settings::is_http_url(&self.url) {
            return bad("url must be an http(s) URL");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PayoutConfig {
        serde_json::from_value(serde_json::json!({
            "url": "http://payout:8091",
            "webhook_secret": "whsec_c2VjcmV0",
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
        let mut plain = config();
        plain.webhook_secret = Secret::new("plain");
        assert!(plain.validate().is_err());
        let mut url = config();
        url.url = "payout:8091".into();
        assert!(url.validate().is_err());
    }
}
