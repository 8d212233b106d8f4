//! Processor webhooks relayed by the gateway (`inbound.processor.<name>`): verified with the
//! processor's own scheme and, for a processor whose events only name a change (Stripe's arrive
//! in any order), resolved by asking the processor for the intent and its refunds before the
//! transaction opens; then applied through the same exactly-once transitions as a client
//! confirmation, so a late or repeated event never moves a payment backwards. A forged webhook
//! is logged and dropped; one that breaks the processor's contract is dead-lettered at once.

use crate::domain::PaymentStatus;
use crate::processor::{IntentState, Outcome, Processors, RelayedWebhook, WebhookEvent};
use crate::storage;
use bus::{Delivery, HandlerError, HandlerFuture, PreparedHandler};
use kernel::Clock;
use sea_orm::DatabaseTransaction;
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct WebhookHandler {
    pub db: sea_orm::DatabaseConnection,
    pub processors: Processors,
    pub clock: Arc<dyn Clock>,
}

/// The relayed HTTP headers (`http-<name>` in the message) without their transport prefix.
fn relayed<'a>(d: &'a Delivery) -> RelayedWebhook<'a> {
    let headers: BTreeMap<String, String> = d
        .headers
        .iter()
        .filter_map(|(k, vs)| {
            let key: &str = k.as_ref();
            let name = key.to_ascii_lowercase().strip_prefix("http-")?.to_string();
            Some((name, vs.first()?.as_str().to_string()))
        })
        .collect();
    RelayedWebhook {
        headers,
        body: &d.payload,
        received_at: d.envelope.time.timestamp(),
    }
}

/// What `prepare` learnt: the verified webhook in our terms, resolved with the processor (for a
/// processor whose events only name a change), or nothing to apply.
pub enum Prepared {
    /// Forged, or for a processor this deployment does not run: dropped.
    Dropped,
    /// The event, with the payment's confirmation attempt as it stood before the processor
    /// was asked (a decline read then is stale if another attempt has started since).
    Event(WebhookEvent, Option<i32>),
}

impl WebhookHandler {
    /// Verifies and parses; then, with no transaction open, asks the processor for the state an
    /// event points at.
    async fn resolve(&self, d: &Delivery) -> Result<Prepared, HandlerError> {
        let name = events::subjects::processor_of(&d.subject).unwrap_or_default();
        let Some(processor) = self.processors.by_name(name) else {
            tracing::warn!(processor = name, "webhook for an unknown processor dropped");
            return Ok(Prepared::Dropped);
        };
        if let Err(e) = processor.verify_webhook(&relayed(d)) {
            tracing::warn!(processor = name, error = %e, "webhook signature refused; dropped");
            return Ok(Prepared::Dropped);
        }
        let event = processor
            .parse_webhook(&d.payload)
            .map_err(|e| HandlerError::permanent(e.to_string()))?;
        let seen = match &event {
            WebhookEvent::IntentChanged { intent_id, .. } => {
                storage::by_intent(&self.db, intent_id)
                    .await?
                    .map(|p| p.confirm_attempts)
            }
            _ => None,
        };
        let event = processor.resolve_webhook(event).await?;
        Ok(Prepared::Event(event, seen))
    }
}

impl PreparedHandler for WebhookHandler {
    type Ready = Prepared;

    fn prepare<'a>(
        &'a self,
        d: &'a Delivery,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Prepared, HandlerError>> + Send + 'a>> {
        Box::pin(self.resolve(d))
    }

    fn apply<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        d: &'a Delivery,
        ready: Prepared,
    ) -> HandlerFuture<'a> {
        Box::pin(self.apply_event(txn, d, ready))
    }
}

impl WebhookHandler {
    async fn apply_event(
        &self,
        txn: &DatabaseTransaction,
        d: &Delivery,
        prepared: Prepared,
    ) -> Result<(), HandlerError> {
        let Prepared::Event(event, seen) = prepared else {
            return Ok(());
        };
        let name = events::subjects::processor_of(&d.subject).unwrap_or_default();
        let actor = format!("processor:{name}");
        let now = self.clock.now();
        let (event_id, kind) = event.id_and_kind();
        if !storage::first_delivery(txn, name, event_id, kind, now).await? {
            tracing::debug!(
                processor = name,
                event_id,
                "processor event already applied"
            );
            return Ok(());
        }
        let (intent, outcome, amount) = match event {
            WebhookEvent::PaymentSucceeded {
                intent_id,
                amount,
                fee,
                transaction_id,
                method,
                ..
            } => (
                intent_id,
                Outcome::Succeeded {
                    transaction_id,
                    fee,
                    method,
                },
                amount,
            ),
            WebhookEvent::PaymentFailed {
                intent_id,
                reason,
                confirm_key,
                ..
            } => {
                let p = locked(txn, &intent_id).await?;
                let current = storage::confirm_key(p.id, p.confirm_attempts);
                if confirm_key.is_some_and(|k| k != current) {
                    tracing::info!(payment = %p.id, "decline of an earlier attempt; the current one stands");
                    return Ok(());
                }
                storage::settle(
                    txn,
                    &p,
                    &Outcome::Failed {
                        reason,
                        fingerprint: None,
                    },
                    &actor,
                    now,
                )
                .await?;
                return Ok(());
            }
            WebhookEvent::IntentState {
                intent_id,
                state,
                refunds,
                ..
            } => {
                let p = locked(txn, &intent_id).await?;
                match &state {
                    // A decline read before another attempt started belongs to the earlier one.
                    IntentState::Outcome(Outcome::Failed { .. })
                        if seen != Some(p.confirm_attempts) =>
                    {
                        tracing::info!(payment = %p.id, "decline of an earlier attempt; the current one stands");
                    }
                    IntentState::Outcome(o) => {
                        storage::settle(txn, &p, o, &actor, now).await?;
                    }
                    IntentState::Open => {}
                }
                let p = storage::get(txn, p.id)
                    .await?
                    .ok_or_else(|| HandlerError::transient("payment vanished"))?;
                if p.state()? == PaymentStatus::Succeeded {
                    storage::refunds::sync(txn, &p, &refunds, &actor, now).await?;
                } else if !refunds.is_empty() {
                    return Err(HandlerError::transient(format!(
                        "refunds for payment {} which is {}",
                        p.id, p.status
                    )));
                }
                return Ok(());
            }
            WebhookEvent::IntentChanged { intent_id, .. } => {
                return Err(HandlerError::permanent(format!(
                    "change of {intent_id} reached the transaction unresolved"
                )));
            }
            WebhookEvent::Disputed {
                intent_id,
                dispute_id,
                amount,
                reason,
                ..
            } => {
                let Some(p) = storage::lock_by_intent(txn, &intent_id).await? else {
                    return Err(HandlerError::permanent(format!(
                        "dispute {dispute_id} for unknown intent {intent_id}"
                    )));
                };
                storage::record_dispute(txn, &p, &dispute_id, amount, &reason, &actor, now).await?;
                return Ok(());
            }
            WebhookEvent::Ignored { kind, .. } => {
                tracing::debug!(kind, "webhook ignored");
                return Ok(());
            }
        };
        let p = locked(txn, &intent).await?;
        if amount != p.amount()? {
            return Err(HandlerError::permanent(format!(
                "webhook amount {amount} differs from payment {}",
                p.id
            )));
        }
        storage::settle(txn, &p, &outcome, &actor, now).await?;
        Ok(())
    }
}

/// The payment of `intent_id`, locked. The intent may be recorded a moment after the processor
/// created it, so an unknown one is retried.
async fn locked(
    txn: &DatabaseTransaction,
    intent_id: &str,
) -> Result<storage::PaymentRow, HandlerError> {
    storage::lock_by_intent(txn, intent_id)
        .await?
        .ok_or_else(|| HandlerError::transient(format!("webhook for unknown intent {intent_id}")))
}
