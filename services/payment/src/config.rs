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
    /// Stripe's secret key (`sk_test_…`/`sk_live_…`); empty = Stripe (and Google Pay) are not
    /// available in this deployment.
    pub stripe_secret_key: Secret,
    /// Handed to the UI for Stripe.js (public).
    pub stripe_publishable_key: String,
    /// The webhook endpoint's signing secret (`whsec_…`).
    pub stripe_webhook_secret: Secret,
    /// `https://api.stripe.com/`, or a fake's URL offline.
    pub stripe_api_base: String,
    /// Per attempt; a timed-out attempt is retried with the same idempotency key.
    pub stripe_timeout_ms: u64,
    /// Attempts per Stripe call on a timeout, 5xx, 429 or 409.
    pub stripe_attempts: u32,
    /// Google Pay through Stripe (processor `gpay`): the merchant as Google knows it.
    pub google_pay_merchant_id: String,
    pub google_pay_merchant_name: String,
    /// `TEST` or `PRODUCTION`.
    pub google_pay_environment: String,
    /// Refunds in flight longer than this are asked about again (same idempotency key).
    pub refund_sweep_after_secs: u64,
    /// Velocity check: this many declined attempts by one learner within the window put their
    /// further attempts on hold for a billing-admin's review.
    pub velocity_max_declines: u32,
    pub velocity_window_minutes: u32,
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
        let http = runtime::settings::is_http_url(url);
        if !url.is_empty() && !http {
            return bad("sandbox_webhook_url must be an http(s) URL".into());
        }
        if self.sandbox_fee_bps > 10_000 || self.sandbox_fee_fixed_minor < 0 {
            return bad("sandbox fees must be 0 to 10000 bps and a non-negative fixed part".into());
        }
        if self.stripe_enabled() {
            let key = self.stripe_secret_key.expose();
            if !(key.starts_with("sk_") || key.starts_with("rk_")) {
                return bad("stripe_secret_key must be a Stripe secret key (sk_… or rk_…)".into());
            }
            if !self.stripe_publishable_key.starts_with("pk_") {
                return bad("stripe_publishable_key must start with pk_".into());
            }
            if !self.stripe_webhook_secret.expose().starts_with("whsec_") {
                return bad("stripe_webhook_secret must start with whsec_".into());
            }
            let base = &self.stripe_api_base;
            if !runtime::settings::is_http_url(base) {
                return bad("stripe_api_base must be an http(s) URL".into());
            }
            if self.stripe_timeout_ms == 0 || self.stripe_attempts == 0 {
                return bad("stripe_timeout_ms and stripe_attempts must be positive".into());
            }
            if !matches!(self.google_pay_environment.as_str(), "TEST" | "PRODUCTION") {
                return bad("google_pay_environment must be TEST or PRODUCTION".into());
            }
        }
        let named =
            std::iter::once(&self.default_processor).chain(self.processors_by_department.values());
        for name in named {
            let stripe = name == "stripe" || name == "gpay";
            if stripe && !self.stripe_enabled() {
                return bad(format!("processor `{name}` needs stripe_secret_key"));
            }
            if name == "gpay" && self.google_pay_merchant_id.is_empty() {
                return bad("processor `gpay` needs google_pay_merchant_id".into());
            }
        }
        if self.velocity_max_declines == 0 || self.velocity_window_minutes == 0 {
            return bad(
                "velocity_max_declines and velocity_window_minutes must be positive".into(),
            );
        }
        if self.refund_sweep_after_secs == 0 {
            return bad("refund_sweep_after_secs must be positive".into());
        }
        Ok(())
    }

    pub fn stripe_enabled(&self) -> bool {
        !self.stripe_secret_key.expose().is_empty()
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
            "stripe_secret_key": "",
            "stripe_publishable_key": "",
            "stripe_webhook_secret": "",
            "stripe_api_base": "https://api.stripe.com/",
            "stripe_timeout_ms": 10000,
            "stripe_attempts": 3,
            "google_pay_merchant_id": "",
            "google_pay_merchant_name": "",
            "google_pay_environment": "TEST",
            "refund_sweep_after_secs": 60,
            "velocity_max_declines": 5,
            "velocity_window_minutes": 15,
        }))
        .unwrap();
        assert!(c.validate().is_ok());
        let mut needs_stripe = c.clone();
        needs_stripe.default_processor = "stripe".into();
        assert!(needs_stripe.validate().is_err(), "stripe without a key");
        needs_stripe.stripe_secret_key = Secret::new("sk_test_x");
        needs_stripe.stripe_publishable_key = "pk_test_x".into();
        needs_stripe.stripe_webhook_secret = Secret::new("whsec_x");
        assert!(needs_stripe.validate().is_ok());
        assert!(!format!("{needs_stripe:?}").contains("sk_test_x"));
        needs_stripe.processors_by_department =
            BTreeMap::from([("nursing".to_string(), "gpay".to_string())]);
        assert!(needs_stripe.validate().is_err(), "gpay without a merchant");
        needs_stripe.google_pay_merchant_id = "BCR2DN4T".into();
        assert!(needs_stripe.validate().is_ok());
        needs_stripe.stripe_secret_key = Secret::new("pk_test_wrong_kind");
        assert!(needs_stripe.validate().is_err());
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
