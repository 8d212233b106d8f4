//! One email, decided in a consumer's transaction: the learner's address from what orders told
//! us, the template rendered now, the send recorded once per cause and scheduled for the
//! provider. No address → recorded as skipped with the reason, never retried.

use crate::Notifier;
use crate::domain::templates::{self, Template};
use crate::storage::{self, NewSend};
use bus::HandlerError;
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

/// What one email is about.
pub struct Email<'a> {
    /// What caused it: one send per cause, template and learner, ever.
    pub cause: String,
    pub template: Template,
    pub user_id: &'a str,
    pub vars: serde_json::Value,
    /// The department whose wording of the template applies, if it has its own.
    pub department: Option<&'a str>,
    /// The certificate whose PDF goes with it.
    pub certificate_id: Option<uuid::Uuid>,
    /// Whether a learner not known yet (their order's events not consumed yet) is waited for;
    /// otherwise the send is recorded as skipped.
    pub wait_for_learner: bool,
}

pub async fn send(
    c: &impl ConnectionTrait,
    n: &Notifier,
    e: Email<'_>,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    let Email {
        cause,
        template,
        user_id,
        mut vars,
        department,
        certificate_id,
        wait_for_learner,
    } = e;
    let cause = cause.as_str();
    // Every learner with an order is known (from `order.created`); until the orders consumer has
    // seen it, wait rather than decide "no address".
    let storage::Addressee {
        recipient: who,
        suppressed,
        wording: over,
    } = storage::addressee(c, user_id, department, template.name()).await?;
    if who.is_none() && wait_for_learner {
        return Err(HandlerError::transient(format!(
            "learner {user_id} not known yet"
        )));
    }
    let email = who.as_ref().and_then(|r| r.email.clone());
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
    let r = templates::render_with(
        template,
        over.as_ref(),
        &vars,
        &n.platform_name,
        &n.base_url,
    )
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
    bus::wake_after_commit(&n.wake);
    Ok(())
}

/// `49.00 USD` from minor units and a currency code; an unknown currency is an error.
pub fn money(minor: i64, currency: &str) -> Result<String, HandlerError> {
    let c =
        kernel::Currency::parse(currency).map_err(|e| HandlerError::permanent(e.to_string()))?;
    Ok(kernel::Money::new(minor, c).to_string())
}
