//! notification's settings: the `[notification]` section (defaults and comments in
//! `deploy/commerce.default.toml`), validated at start.

use kernel::Secret;
use runtime::{Settings, StartError};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationConfig {
    /// `smtp`, `sendgrid` or `mailgun`.
    pub provider: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_timeout_ms: u64,
    /// The sender, as learners see it.
    pub from_name: String,
    pub from_address: String,
    /// Links in emails start with it (no trailing slash).
    pub public_base_url: String,
    /// Where "start learning" links point: `{lms_course_url}/{lmsCourseId}`.
    pub lms_course_url: String,
    pub max_attempts: u32,
    pub retry_base_ms: u64,
    /// SendGrid v3: API base, API key, and the Signed Event Webhook's public key (base64 DER).
    pub sendgrid_api_base: String,
    pub sendgrid_api_key: Secret,
    pub sendgrid_webhook_public_key: String,
    /// Mailgun: API base (EU: https://api.eu.mailgun.net), API key, sending domain, and the
    /// webhook signing key.
    pub mailgun_api_base: String,
    pub mailgun_api_key: Secret,
    pub mailgun_domain: String,
    pub mailgun_webhook_signing_key: Secret,
}

impl NotificationConfig {
    pub fn load(settings: &Settings) -> Result<NotificationConfig, StartError> {
        let mut c: NotificationConfig = settings.section("notification")?;
        c.public_base_url = c.public_base_url.trim_end_matches('/').to_string();
        c.lms_course_url = c.lms_course_url.trim_end_matches('/').to_string();
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), StartError> {
        let bad = |m: String| Err(StartError::Other(format!("notification: {m}")));
        match self.provider.as_str() {
            "smtp" => {}
            "sendgrid" => {
                if self.sendgrid_api_key.is_empty() {
                    return bad("provider sendgrid needs sendgrid_api_key".into());
                }
            }
            "mailgun" => {
                if self.mailgun_api_key.is_empty() || self.mailgun_domain.is_empty() {
                    return bad("provider mailgun needs mailgun_api_key and mailgun_domain".into());
                }
            }
            other => {
                return bad(format!(
                    "provider `{other}`: one of smtp, sendgrid, mailgun"
                ));
            }
        }
        if !self.sendgrid_webhook_public_key.is_empty()
            && crate::webhooks::sendgrid_key(&self.sendgrid_webhook_public_key).is_err()
        {
            return bad("sendgrid_webhook_public_key must be a base64 DER P-256 public key".into());
        }
        if !web::auth::plausible_email(&self.from_address) {
            return bad(format!(
                "from_address `{}` is not an address",
                self.from_address
            ));
        }
        for (name, url) in [
            ("public_base_url", &self.public_base_url),
            ("lms_course_url", &self.lms_course_url),
            ("sendgrid_api_base", &self.sendgrid_api_base),
            ("mailgun_api_base", &self.mailgun_api_base),
        ] {
            if !runtime::settings::is_http_url(url) {
                return bad(format!("{name} must be an http(s) URL"));
            }
        }
        if self.max_attempts == 0 || self.smtp_host.is_empty() {
            return bad("max_attempts must be at least 1 and smtp_host set".into());
        }
        Ok(())
    }
}
