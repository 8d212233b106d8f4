//! Processor webhooks relayed by the gateway (`inbound.processor.<name>`): verified with the
//! processor's own scheme, then applied through the same exactly-once transition as a client
//! confirmation. A forged webhook is logged and dropped.

use crate::processor::{Outcome, Processors, WebhookEvent};
use crate::storage;
use bus::{Delivery, Handler, HandlerError, HandlerFuture};
use sea_orm::DatabaseTransaction;

pub struct WebhookHandler {
    pub processors: Processors,
}

impl Handler for WebhookHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let name = d.subject.rsplit('.').next().unwrap_or_default();
            let Some(processor) = self.processors.by_name(name) else {
                tracing::warn!(processor = name, "webhook for an unknown processor dropped");
                return Ok(());
            };
            if let Err(e) =
                processor.verify_webhook(&d.payload, &d.headers, d.envelope.time.timestamp())
            {
                tracing::warn!(processor = name, error = %e, "webhook signature refused; dropped");
                return Ok(());
            }
            let event = processor
                .parse_webhook(&d.payload)
                .map_err(|e| HandlerError(e.to_string()))?;
            let actor = format!("processor:{name}");
            let (intent, outcome, amount) = match event {
                WebhookEvent::PaymentSucceeded {
                    intent_id,
                    amount_minor,
                    currency,
                    event_id,
                } => (
                    intent_id,
                    Outcome::Succeeded {
                        transaction_id: event_id,
                    },
                    Some((amount_minor, currency)),
                ),
                WebhookEvent::PaymentFailed {
                    intent_id, reason, ..
                } => (intent_id, Outcome::Failed { reason }, None),
                WebhookEvent::Ignored { kind, .. } => {
                    tracing::debug!(kind, "webhook ignored");
                    return Ok(());
                }
            };
            let Some(p) = storage::lock_by_intent(txn, &intent).await? else {
                return Err(HandlerError(format!("webhook for unknown intent {intent}")));
            };
            if let Some((amount, currency)) = amount
                && (amount != p.amount_minor || currency != p.currency.trim())
            {
                return Err(HandlerError(format!(
                    "webhook amount {amount} {currency} differs from payment {}",
                    p.id
                )));
            }
            storage::settle(txn, &p, &outcome, &actor, chrono::Utc::now()).await?;
            Ok(())
        })
    }
}
