//! notification's settings: the `[notification]` section (defaults and comments in
//! `deploy/commerce.default.toml`), validated at start.

use runtime::{Settings, StartError};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationConfig {
    /// `smtp` (the only provider this build speaks).
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
        if self.provider != "smtp" {
            return bad(format!(
                "provider `{}` is not available in this build (smtp is)",
                self.provider
            ));
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
        ] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return bad(format!("{name} must be an http(s) URL"));
            }
        }
        if self.max_attempts == 0 || self.smtp_host.is_empty() {
            return bad("max_attempts must be at least 1 and smtp_host set".into());
        }
        Ok(())
    }
}
