//! One email, decided in a consumer's transaction: the learner's address from what orders told
//! us, the template rendered now, the send recorded once per cause and scheduled for the
//! provider. No address → recorded as skipped with the reason, never retried.

use crate::Notifier;
use crate::domain::templates::{self, Template};
use crate::storage::{self, NewSend};
use bus::HandlerError;
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

pub async fn send(
    c: &impl ConnectionTrait,
    n: &Notifier,
    cause: &str,
    template: Template,
    user_id: &str,
    vars: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    send_with(c, n, cause, template, user_id, vars, None, now).await
}

/// [`send`], with the PDF of a certificate attached.
#[allow(clippy::too_many_arguments)]
pub async fn send_with(
    c: &impl ConnectionTrait,
    n: &Notifier,
    cause: &str,
    template: Template,
    user_id: &str,
    mut vars: serde_json::Value,
    certificate_id: Option<uuid::Uuid>,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    let who = storage::recipient(c, user_id).await?;
    let email = who.as_ref().and_then(|r| r.email.clone());
    let suppressed = match &email {
        Some(e) => storage::suppressed(c, e).await?,
        None => None,
    };
    let name = who
        .as_ref()
        .and_then(|r| r.name.clone())
        .unwrap_or_else(|| "learner".into());
    if let Some(m) = vars.as_object_mut() {
        m.entry("recipient_name").or_insert(name.into());
    }
    let skipped = match (&email, &suppressed) {
        (None, _) => Some("no email address known for the learner".to_string()),
        (Some(_), Some(why)) => Some(format!("address suppressed: {why}")),
        (Some(_), None) => None,
    };
    let r = templates::render(template, &vars, &n.platform_name, &n.base_url)
        .map_err(|e| HandlerError::permanent(e.to_string()))?;
    storage::record(
        c,
        &NewSend {
            cause,
            template: template.name(),
            user_id,
            recipient: email.as_deref(),
            subject: &r.subject,
            html: &r.html,
            text: &r.text,
            certificate_id,
            skipped: skipped.as_deref(),
        },
        now,
    )
    .await?;
    n.wake.notify_one();
    Ok(())
}

/// `49.00 USD` from minor units and a currency code; an unknown currency is an error.
pub fn money(minor: i64, currency: &str) -> Result<String, HandlerError> {
    let c =
        kernel::Currency::parse(currency).map_err(|e| HandlerError::permanent(e.to_string()))?;
    Ok(kernel::Money::new(minor, c).to_string())
}
