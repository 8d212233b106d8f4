//! payment's settings: the `[payment]` section (defaults and comments in
//! `deploy/commerce.default.toml`), validated at start. Secrets are [`kernel::Secret`]s.

use kernel::Secret;
use runtime::{Settings, StartError};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentConfig {
    /// The processor of departments without their own.
    pub default_processor: String,
    /// Department id → processor name.
    pub processors_by_department: BTreeMap<String, String>,
    /// The sandbox processor's webhook signing secret (Stripe-Signature scheme).
    pub sandbox_webhook_secret: Secret,
    /// Where the sandbox sends its webhooks; empty = this deployment's gateway route.
    pub sandbox_webhook_url: String,
    /// The sandbox's fee on a capture: basis points of the amount, plus a fixed part in minor
    /// units, so offline runs carry real-looking fees.
    pub sandbox_fee_bps: u32,
    pub sandbox_fee_fixed_minor: i64,
}

impl PaymentConfig {
    pub fn load(settings: &Settings) -> Result<PaymentConfig, StartError> {
        let c: PaymentConfig = settings.section("payment")?;
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), StartError> {
        let bad = |m: String| Err(StartError::Other(format!("payment: {m}")));
        if self.sandbox_webhook_secret.len() < 16 {
            return bad("sandbox_webhook_secret must be at least 16 characters".into());
        }
        let url = &self.sandbox_webhook_url;
        let http = url.starts_with("http://") || url.starts_with("https://");
        if !url.is_empty() && !http {
            return bad("sandbox_webhook_url must be an http(s) URL".into());
        }
        if self.sandbox_fee_bps > 10_000 || self.sandbox_fee_fixed_minor < 0 {
            return bad("sandbox fees must be 0 to 10000 bps and a non-negative fixed part".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_and_redacts() {
        let c: PaymentConfig = serde_json::from_value(serde_json::json!({
            "default_processor": "sandbox",
            "processors_by_department": {},
            "sandbox_webhook_secret": "whsec_0123456789abcdef",
            "sandbox_webhook_url": "",
            "sandbox_fee_bps": 290,
            "sandbox_fee_fixed_minor": 30,
        }))
        .unwrap();
        assert!(c.validate().is_ok());
        assert!(!format!("{c:?}").contains("whsec_0123456789abcdef"));
        let mut short = c.clone();
        short.sandbox_webhook_secret = Secret::new("x");
        assert!(short.validate().is_err());
        let mut url = c.clone();
        url.sandbox_webhook_url = "ftp://x".into();
        assert!(url.validate().is_err());
        let mut fee = c;
        fee.sandbox_fee_bps = 10_001;
        assert!(fee.validate().is_err());
    }
}
