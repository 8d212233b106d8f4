//! certificate's settings: the `[certificate]` section (defaults and comments in
//! `deploy/commerce.default.toml`), validated at start. Secrets are [`kernel::Secret`]s.

use kernel::Secret;
use runtime::{Settings, StartError};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    /// The public base URL verification and share links are built from (no trailing slash).
    pub public_base_url: String,
    /// Standard Webhooks secret (`whsec_<base64>`) the LMS signs completion webhooks with.
    pub lms_webhook_secret: Secret,
}

impl CertificateConfig {
    pub fn load(settings: &Settings) -> Result<CertificateConfig, StartError> {
        let mut c: CertificateConfig = settings.section("certificate")?;
        c.public_base_url = c.public_base_url.trim_end_matches('/').to_string();
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), StartError> {
        let bad = |m: &str| Err(StartError::Other(format!("certificate: {m}")));
        if web::standard_webhooks::check_secret(self.lms_webhook_secret.expose()).is_err() {
            return bad("lms_webhook_secret must look like whsec_<base64>");
        }
        if !runtime::settings::is_http_url(&self.public_base_url) {
            return bad("public_base_url must be an http(s) URL");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CertificateConfig {
        serde_json::from_value(serde_json::json!({
            "public_base_url": "https://commerce.example",
            "lms_webhook_secret": "whsec_c2VjcmV0",
        }))
        .unwrap()
    }

    #[test]
    fn validates_and_redacts() {
        let c = config();
        assert!(c.validate().is_ok());
        assert!(!format!("{c:?}").contains("whsec_c2VjcmV0"));
        let mut plain = config();
        plain.lms_webhook_secret = Secret::new("plain");
        assert!(plain.validate().is_err());
        let mut url = config();
        url.public_base_url = "commerce.example".into();
        assert!(url.validate().is_err());
    }
}
