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
    /// Square's access token; empty = Square is not available in this deployment.
    pub square_access_token: Secret,
    /// Public: the Web Payments SDK's application id and the location payments go to.
    pub square_application_id: String,
    pub square_location_id: String,
    /// The location's currency (Square takes no other for its payments).
    pub square_currency: String,
    /// The webhook subscription's signature key, and its notification URL exactly as Square
    /// has it (the signature covers the URL).
    pub square_webhook_signature_key: Secret,
    pub square_webhook_url: String,
    /// `https://connect.squareup.com` (sandbox: `https://connect.squareupsandbox.com`).
    pub square_api_base: String,
    pub square_timeout_ms: u64,
    pub square_attempts: u32,
    /// Converge's account; an empty PIN = Converge is not available in this deployment.
    pub converge_merchant_id: String,
    pub converge_user_id: String,
    pub converge_pin: Secret,
    /// The XML API (`…/processxml.do`) and Hosted Payments (`…/hosted-payments`).
    pub converge_api_url: String,
    pub converge_hosted_url: String,
    /// The account's currency.
    pub converge_currency: String,
    pub converge_timeout_ms: u64,
    pub converge_attempts: u32,
    /// Refunds in flight longer than this are asked about again (same idempotency key).
    pub refund_sweep_after_secs: u64,
    /// Every this often, each processor that lists its activity is reconciled over the period
    /// since (0 = never on a schedule); the period ends `reconcile_lag_secs` ago, so what is
    /// still settling is compared the next time.
    pub reconcile_interval_secs: u64,
    pub reconcile_lag_secs: u64,
    /// Velocity check: this many declined attempts by one learner within the window put their
    /// further attempts on hold for a billing-admin's review.
    pub velocity_max_declines: u32,
    /// The same per client address (several learners behind one) and per card fingerprint
    /// (where the processor gives one; a success does not reset it).
    pub velocity_max_declines_per_ip: u32,
    pub velocity_max_declines_per_card: u32,
    pub velocity_window_minutes: u32,
    /// Subscriptions: every this often the renewal job charges the periods that are due and
    /// retries the past-due ones (0 = only on demand, `POST /api/v2/admin/subscriptions/renewals`).
    pub subscription_renew_interval_secs: u64,
    /// How long a past-due subscription keeps access while its renewal is retried.
    pub subscription_grace_days: u32,
    /// How long after a declined renewal it is tried again.
    pub subscription_retry_hours: u32,
    /// What a subscription becomes when its grace period ends unpaid: `cancel` or `pause`.
    pub subscription_after_grace: String,
    /// How long a renewal job holds a subscription it is charging before another may take over
    /// (a job that died mid-charge); longer than a processor call with its retries.
    pub subscription_claim_secs: u64,
    /// A pause longer than this ends the subscription (its courses are unenrolled).
    pub subscription_max_pause_days: u32,
    /// Development only: the service's clock can be moved forward through
    /// `POST /api/v2/admin/subscriptions/renewals` (`advanceDays`), to show renewals in a demo.
    pub dev_clock: bool,
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
        if self.square_enabled() {
            if self.square_location_id.is_empty() || self.square_application_id.is_empty() {
                return bad("Square needs square_application_id and square_location_id".into());
            }
            if !runtime::settings::is_http_url(&self.square_api_base)
                || !runtime::settings::is_http_url(&self.square_webhook_url)
            {
                return bad("square_api_base and square_webhook_url must be http(s) URLs".into());
            }
            if kernel::Currency::parse(&self.square_currency).is_err() {
                return bad("square_currency must be an ISO 4217 code".into());
            }
            if self.square_webhook_signature_key.is_empty() {
                return bad("Square needs square_webhook_signature_key".into());
            }
            if self.square_timeout_ms == 0 || self.square_attempts == 0 {
                return bad("square_timeout_ms and square_attempts must be positive".into());
            }
        }
        if self.converge_enabled() {
            if self.converge_merchant_id.is_empty() || self.converge_user_id.is_empty() {
                return bad("Converge needs converge_merchant_id and converge_user_id".into());
            }
            if !runtime::settings::is_http_url(&self.converge_api_url)
                || !runtime::settings::is_http_url(&self.converge_hosted_url)
            {
                return bad("converge_api_url and converge_hosted_url must be http(s) URLs".into());
            }
            if kernel::Currency::parse(&self.converge_currency).is_err() {
                return bad("converge_currency must be an ISO 4217 code".into());
            }
            if self.converge_timeout_ms == 0 || self.converge_attempts == 0 {
                return bad("converge_timeout_ms and converge_attempts must be positive".into());
            }
        }
        let named =
            std::iter::once(&self.default_processor).chain(self.processors_by_department.values());
        for name in named {
            if name == "square" && !self.square_enabled() {
                return bad("processor `square` needs square_access_token".into());
            }
            if name == "converge" && !self.converge_enabled() {
                return bad("processor `converge` needs converge_pin".into());
            }
            let stripe = name == "stripe" || name == "gpay";
            if stripe && !self.stripe_enabled() {
                return bad(format!("processor `{name}` needs stripe_secret_key"));
            }
            if name == "gpay" && self.google_pay_merchant_id.is_empty() {
                return bad("processor `gpay` needs google_pay_merchant_id".into());
            }
        }
        if self.velocity_max_declines == 0
            || self.velocity_max_declines_per_ip == 0
            || self.velocity_max_declines_per_card == 0
            || self.velocity_window_minutes == 0
        {
            return bad(
                "velocity_max_declines and velocity_window_minutes must be positive".into(),
            );
        }
        if !matches!(self.subscription_after_grace.as_str(), "cancel" | "pause") {
            return bad("subscription_after_grace must be `cancel` or `pause`".into());
        }
        if self.subscription_retry_hours == 0
            || self.subscription_claim_secs == 0
            || self.subscription_max_pause_days == 0
        {
            return bad(
                "subscription_retry_hours, subscription_claim_secs and subscription_max_pause_days must be positive".into(),
            );
        }
        if self.refund_sweep_after_secs == 0 {
            return bad("refund_sweep_after_secs must be positive".into());
        }
        Ok(())
    }

    pub fn square_enabled(&self) -> bool {
        !self.square_access_token.is_empty()
    }

    pub fn converge_enabled(&self) -> bool {
        !self.converge_pin.is_empty()
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
        let mut value = serde_json::json!({
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
            "square_access_token": "",
            "square_application_id": "",
            "square_location_id": "",
            "square_currency": "USD",
            "square_webhook_signature_key": "",
            "square_webhook_url": "",
            "square_api_base": "https://connect.squareup.com",
            "square_timeout_ms": 10000,
            "square_attempts": 3,
            "converge_merchant_id": "",
            "converge_user_id": "",
            "converge_pin": "",
            "converge_api_url": "https://api.convergepay.com/VirtualMerchant/processxml.do",
            "converge_hosted_url": "https://api.convergepay.com/hosted-payments",
            "converge_currency": "USD",
            "converge_timeout_ms": 10000,
            "converge_attempts": 3,
            "refund_sweep_after_secs": 60,
            "reconcile_interval_secs": 86400,
            "reconcile_lag_secs": 600,
            "velocity_max_declines": 5,
            "velocity_max_declines_per_ip": 20,
            "velocity_max_declines_per_card": 3,
            "velocity_window_minutes": 15,
        });
        let subscriptions = serde_json::json!({
            "subscription_renew_interval_secs": 300,
            "subscription_grace_days": 7,
            "subscription_retry_hours": 24,
            "subscription_after_grace": "cancel",
            "subscription_claim_secs": 120,
            "subscription_max_pause_days": 90,
            "dev_clock": false,
        });
        for (k, v) in subscriptions.as_object().unwrap() {
            value[k] = v.clone();
        }
        let c: PaymentConfig = serde_json::from_value(value).unwrap();
        assert!(c.validate().is_ok());
        let mut after = c.clone();
        after.subscription_after_grace = "downgrade".into();
        assert!(after.validate().is_err(), "after grace: cancel or pause");
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
        let mut fee = c.clone();
        fee.sandbox_fee_bps = 10_001;
        assert!(fee.validate().is_err());
        let mut square = c.clone();
        square.default_processor = "square".into();
        assert!(square.validate().is_err(), "square without a token");
        square.square_access_token = Secret::new("EAAA-token");
        assert!(square.validate().is_err(), "square without its location");
        square.square_application_id = "sq0idp-app".into();
        square.square_location_id = "L1".into();
        square.square_webhook_signature_key = Secret::new("key");
        square.square_webhook_url = "https://shop.example/api/v2/payments/webhook/square".into();
        assert!(square.validate().is_ok());
        let mut converge = c;
        converge.processors_by_department =
            BTreeMap::from([("music".to_string(), "converge".to_string())]);
        assert!(converge.validate().is_err(), "converge without a PIN");
        converge.converge_pin = Secret::new("PIN");
        converge.converge_merchant_id = "0021999".into();
        converge.converge_user_id = "api".into();
        assert!(converge.validate().is_ok());
        converge.converge_currency = "dollars".into();
        assert!(converge.validate().is_err());
    }
}
