//! Processor webhooks relayed by the gateway (`inbound.processor.<name>`): verified with the
//! processor's own scheme, then applied through the same exactly-once transition as a client
//! confirmation. A forged webhook is logged and dropped; one that breaks the processor's
//! contract is dead-lettered at once.

use crate::processor::{Outcome, Processors, RelayedWebhook, WebhookEvent};
use crate::storage;
use bus::{Delivery, Handler, HandlerError, HandlerFuture};
use kernel::Clock;
use sea_orm::DatabaseTransaction;
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct WebhookHandler {
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

impl Handler for WebhookHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let name = events::subjects::processor_of(&d.subject).unwrap_or_default();
            let Some(processor) = self.processors.by_name(name) else {
                tracing::warn!(processor = name, "webhook for an unknown processor dropped");
                return Ok(());
            };
            if let Err(e) = processor.verify_webhook(&relayed(d)) {
                tracing::warn!(processor = name, error = %e, "webhook signature refused; dropped");
                return Ok(());
            }
            let event = processor
                .parse_webhook(&d.payload)
                .map_err(|e| HandlerError::permanent(e.to_string()))?;
            let actor = format!("processor:{name}");
            let (intent, outcome, amount) = match event {
                WebhookEvent::PaymentSucceeded {
                    intent_id,
                    amount,
                    fee,
                    event_id,
                } => (
                    intent_id,
                    Outcome::Succeeded {
                        transaction_id: event_id,
                        fee,
                    },
                    Some(amount),
                ),
                WebhookEvent::PaymentFailed {
                    intent_id, reason, ..
                } => (intent_id, Outcome::Failed { reason }, None),
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
                    storage::record_dispute(
                        txn,
                        &p,
                        &dispute_id,
                        amount,
                        &reason,
                        &actor,
                        self.clock.now(),
                    )
                    .await?;
                    return Ok(());
                }
                WebhookEvent::Ignored { kind, .. } => {
                    tracing::debug!(kind, "webhook ignored");
                    return Ok(());
                }
            };
            // The intent may be recorded a moment after the processor created it: retry.
            let Some(p) = storage::lock_by_intent(txn, &intent).await? else {
                return Err(HandlerError::transient(format!(
                    "webhook for unknown intent {intent}"
                )));
            };
            if let Some(amount) = amount
                && amount != p.amount()?
            {
                return Err(HandlerError::permanent(format!(
                    "webhook amount {amount} differs from payment {}",
                    p.id
                )));
            }
            storage::settle(txn, &p, &outcome, &actor, self.clock.now()).await?;
            Ok(())
        })
    }
}
