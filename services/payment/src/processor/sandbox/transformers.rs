//! The sandbox's wire format (Stripe's event and PaymentIntent shapes, trimmed) and the one
//! mapping of its statuses to ours. Amounts cross here: Stripe-style integer minor units and a
//! lower-case currency code.

use crate::processor::{Confirm, Outcome, ProcessorError, WebhookEvent};
use kernel::{Currency, Money};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub id: String,
    pub object: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created: i64,
    pub data: EventData,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventData {
    pub object: PaymentIntent,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PaymentIntent {
    pub id: String,
    pub object: String,
    pub amount: i64,
    pub currency: String,
    pub status: IntentStatus,
    pub last_payment_error: Option<PaymentError>,
    pub metadata: Metadata,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PaymentError {
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub order_id: String,
    pub payment_id: String,
}

/// Stripe's PaymentIntent statuses.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    RequiresCapture,
    Canceled,
    Succeeded,
}

pub const SUCCEEDED: &str = "payment_intent.succeeded";
pub const PAYMENT_FAILED: &str = "payment_intent.payment_failed";

/// The webhook body the sandbox sends after a confirmation; none while action is required.
pub fn event_for(
    req: &Confirm,
    outcome: &Outcome,
    event_id: String,
    created: i64,
) -> Option<Event> {
    let (kind, status, error) = match outcome {
        Outcome::Succeeded { .. } => (SUCCEEDED, IntentStatus::Succeeded, None),
        Outcome::Failed { reason } => (
            PAYMENT_FAILED,
            IntentStatus::RequiresPaymentMethod,
            Some(PaymentError {
                message: reason.clone(),
            }),
        ),
        Outcome::RequiresAction { .. } => return None,
    };
    Some(Event {
        id: event_id,
        object: "event".into(),
        kind: kind.into(),
        created,
        data: EventData {
            object: PaymentIntent {
                id: req.intent_id.clone(),
                object: "payment_intent".into(),
                amount: req.amount.amount_minor(),
                currency: req.amount.currency().code().to_lowercase(),
                status,
                last_payment_error: error,
                metadata: Metadata {
                    order_id: req.order_id.clone(),
                    payment_id: req.payment_id.clone(),
                },
            },
        },
    })
}

/// A webhook body in our terms. Every field the mapping needs must be there: a missing amount
/// or an unknown currency is an invalid webhook, never a placeholder value.
pub fn parse(body: &[u8]) -> Result<WebhookEvent, ProcessorError> {
    #[derive(Deserialize)]
    struct Head {
        id: String,
        #[serde(rename = "type")]
        kind: String,
    }
    let head: Head = serde_json::from_slice(body)
        .map_err(|e| ProcessorError::InvalidWebhook(format!("not an event: {e}")))?;
    if head.kind != SUCCEEDED && head.kind != PAYMENT_FAILED {
        return Ok(WebhookEvent::Ignored {
            event_id: head.id,
            kind: head.kind,
        });
    }
    let event: Event = serde_json::from_slice(body)
        .map_err(|e| ProcessorError::InvalidWebhook(format!("malformed {}: {e}", head.kind)))?;
    let intent = event.data.object;
    match intent.status {
        IntentStatus::Succeeded => {
            let currency = Currency::parse(&intent.currency.to_uppercase())
                .map_err(|e| ProcessorError::InvalidWebhook(e.to_string()))?;
            Ok(WebhookEvent::PaymentSucceeded {
                event_id: event.id,
                intent_id: intent.id,
                amount: Money::new(intent.amount, currency),
            })
        }
        IntentStatus::RequiresPaymentMethod | IntentStatus::Canceled => {
            Ok(WebhookEvent::PaymentFailed {
                event_id: event.id,
                intent_id: intent.id,
                reason: intent
                    .last_payment_error
                    .map(|e| e.message)
                    .unwrap_or_else(|| "payment failed".into()),
            })
        }
        other => Ok(WebhookEvent::Ignored {
            event_id: event.id,
            kind: format!("{} ({other:?})", event.kind),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_succeeded_event_without_an_amount_is_invalid() {
        let body = br#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded","created":1,
            "data":{"object":{"id":"pi_1","object":"payment_intent","currency":"usd","status":"succeeded",
            "last_payment_error":null,"metadata":{"orderId":"o","paymentId":"p"}}}}"#;
        assert!(matches!(
            parse(body),
            Err(ProcessorError::InvalidWebhook(_))
        ));
    }

    #[test]
    fn unknown_currency_is_invalid_and_other_events_are_ignored() {
        let body = br#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded","created":1,
            "data":{"object":{"id":"pi_1","object":"payment_intent","amount":100,"currency":"zzz","status":"succeeded",
            "last_payment_error":null,"metadata":{"orderId":"o","paymentId":"p"}}}}"#;
        assert!(matches!(
            parse(body),
            Err(ProcessorError::InvalidWebhook(_))
        ));
        let other = br#"{"id":"evt_2","type":"charge.refunded"}"#;
        assert!(matches!(parse(other), Ok(WebhookEvent::Ignored { .. })));
    }
}
