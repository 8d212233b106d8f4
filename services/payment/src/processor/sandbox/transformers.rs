//! The sandbox's wire format (Stripe's event and PaymentIntent shapes, trimmed) and the one
//! mapping of its statuses to ours. Amounts cross here: Stripe-style integer minor units and a
//! lower-case currency code.

use crate::processor::{Confirm, MethodType, Outcome, ProcessorError, WebhookEvent};
use kernel::{Currency, Money};
use serde::{Deserialize, Serialize};

/// Stripe's event. What the mapping needs is required; the rest may be absent, as Stripe adds and
/// trims fields between API versions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub id: String,
    #[serde(default)]
    pub object: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
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
    #[serde(default)]
    pub object: String,
    pub amount: i64,
    pub currency: String,
    pub status: IntentStatus,
    #[serde(default)]
    pub last_payment_error: Option<PaymentError>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
    /// The charge of a captured intent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_charge: Option<String>,
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
    /// The confirmation attempt the event answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_key: Option<String>,
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

/// What the sandbox keeps of a capture, like a card processor: a share in basis points plus a
/// fixed amount in minor units (Stripe's US card price is 290 bps + 30).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeePolicy {
    pub bps: u32,
    pub fixed_minor: i64,
}

impl FeePolicy {
    /// The fee of capturing `amount`: `amount × bps / 10 000`, rounded half to even, plus the
    /// fixed part; never more than the amount itself.
    pub fn fee_for(&self, amount: Money) -> Result<Money, ProcessorError> {
        let overflow = || ProcessorError::Permanent(format!("fee of {amount} overflows"));
        let fee = kernel::mul_div_half_even(amount.amount_minor(), i64::from(self.bps), 10_000)
            .ok()
            .and_then(|v| v.checked_add(self.fixed_minor))
            .ok_or_else(overflow)?;
        Ok(Money::new(
            fee.clamp(0, amount.amount_minor().max(0)),
            amount.currency(),
        ))
    }
}

pub const SUCCEEDED: &str = "payment_intent.succeeded";
pub const DISPUTE_CREATED: &str = "charge.dispute.created";

/// Stripe's dispute, as far as we record it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Dispute {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub reason: String,
    pub payment_intent: String,
}

#[derive(Debug, Deserialize)]
struct DisputeEvent {
    id: String,
    data: DisputeData,
}

#[derive(Debug, Deserialize)]
struct DisputeData {
    object: Dispute,
}
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
        Outcome::Failed { reason, .. } => (
            PAYMENT_FAILED,
            IntentStatus::RequiresPaymentMethod,
            Some(PaymentError {
                message: reason.clone(),
            }),
        ),
        Outcome::RequiresAction { .. } | Outcome::Processing | Outcome::Cancelled { .. } => {
            return None;
        }
    };
    let latest_charge = match outcome {
        Outcome::Succeeded { transaction_id, .. } => Some(transaction_id.clone()),
        _ => None,
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
                latest_charge,
                metadata: Some(Metadata {
                    order_id: req.order_id.clone(),
                    payment_id: req.payment_id.clone(),
                    confirm_key: Some(req.idempotency_key.clone()),
                }),
            },
        },
    })
}

/// A webhook body in our terms. Every field the mapping needs must be there: a missing amount
/// or an unknown currency is an invalid webhook, never a placeholder value.
pub fn parse(body: &[u8], fees: &FeePolicy) -> Result<WebhookEvent, ProcessorError> {
    #[derive(Deserialize)]
    struct Head {
        id: String,
        #[serde(rename = "type")]
        kind: String,
    }
    let head: Head = serde_json::from_slice(body)
        .map_err(|e| ProcessorError::InvalidWebhook(format!("not an event: {e}")))?;
    if head.kind == DISPUTE_CREATED {
        let event: DisputeEvent = serde_json::from_slice(body)
            .map_err(|e| ProcessorError::InvalidWebhook(format!("malformed {}: {e}", head.kind)))?;
        let d = event.data.object;
        let currency = Currency::parse(&d.currency.to_uppercase())
            .map_err(|e| ProcessorError::InvalidWebhook(e.to_string()))?;
        return Ok(WebhookEvent::Disputed {
            event_id: event.id,
            intent_id: d.payment_intent,
            dispute_id: d.id,
            amount: Money::new(d.amount, currency),
            reason: d.reason,
        });
    }
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
            let amount = Money::new(intent.amount, currency);
            Ok(WebhookEvent::PaymentSucceeded {
                // Events of a capture name its charge; an older event stands for it by its id.
                transaction_id: intent.latest_charge.unwrap_or_else(|| event.id.clone()),
                event_id: event.id,
                intent_id: intent.id,
                fee: fees.fee_for(amount)?,
                amount,
                method: MethodType::Card,
            })
        }
        IntentStatus::RequiresPaymentMethod | IntentStatus::Canceled => {
            Ok(WebhookEvent::PaymentFailed {
                event_id: event.id,
                intent_id: intent.id,
                confirm_key: intent.metadata.and_then(|m| m.confirm_key),
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

    const FEES: FeePolicy = FeePolicy {
        bps: 290,
        fixed_minor: 30,
    };

    #[test]
    fn fees_are_a_share_plus_a_fixed_part_rounded_half_to_even() {
        let usd = |m| Money::new(m, Currency::USD);
        // 2.9 % of $49.00 is 142.1 cents → 142, plus 30.
        assert_eq!(FEES.fee_for(usd(4900)).unwrap(), usd(172));
        // 2.9 % of 50 cents is 1.45 → 1; of 150 cents 4.35 → 4; plus 30.
        assert_eq!(FEES.fee_for(usd(50)).unwrap(), usd(31));
        assert_eq!(FEES.fee_for(usd(150)).unwrap(), usd(34));
        // Exactly half rounds to even: 5000 bps of 3 cents is 1.5 → 2, of 1 cent 0.5 → 0.
        let half = FeePolicy {
            bps: 5000,
            fixed_minor: 0,
        };
        assert_eq!(half.fee_for(usd(3)).unwrap(), usd(2));
        assert_eq!(half.fee_for(usd(1)).unwrap(), usd(0));
        // Never more than the capture.
        assert_eq!(FEES.fee_for(usd(10)).unwrap(), usd(10));
        let none = FeePolicy {
            bps: 0,
            fixed_minor: 0,
        };
        assert_eq!(none.fee_for(usd(4900)).unwrap(), usd(0));
    }

    #[test]
    fn reads_a_dispute() {
        let body = br#"{"id":"evt_d","type":"charge.dispute.created","data":{"object":{
            "id":"dp_1","object":"dispute","amount":4900,"currency":"usd","reason":"fraudulent",
            "payment_intent":"pi_1"}}}"#;
        assert!(matches!(
            parse(body, &FEES),
            Ok(WebhookEvent::Disputed { ref dispute_id, ref intent_id, amount, ref reason, .. })
                if dispute_id == "dp_1" && intent_id == "pi_1"
                    && amount == Money::new(4900, Currency::USD) && reason == "fraudulent"
        ));
        let no_intent = br#"{"id":"evt_d","type":"charge.dispute.created","data":{"object":{
            "id":"dp_1","amount":4900,"currency":"usd"}}}"#;
        assert!(matches!(
            parse(no_intent, &FEES),
            Err(ProcessorError::InvalidWebhook(_))
        ));
    }

    #[test]
    fn fields_the_mapping_does_not_need_may_be_absent() {
        let body = br#"{"id":"evt_1","type":"payment_intent.succeeded",
            "data":{"object":{"id":"pi_1","amount":4900,"currency":"usd","status":"succeeded"}}}"#;
        assert!(matches!(
            parse(body, &FEES),
            Ok(WebhookEvent::PaymentSucceeded { amount, .. }) if amount.amount_minor() == 4900
        ));
    }

    #[test]
    fn a_succeeded_event_without_an_amount_is_invalid() {
        let body = br#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded","created":1,
            "data":{"object":{"id":"pi_1","object":"payment_intent","currency":"usd","status":"succeeded",
            "last_payment_error":null,"metadata":{"orderId":"o","paymentId":"p"}}}}"#;
        assert!(matches!(
            parse(body, &FEES),
            Err(ProcessorError::InvalidWebhook(_))
        ));
    }

    #[test]
    fn unknown_currency_is_invalid_and_other_events_are_ignored() {
        let body = br#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded","created":1,
            "data":{"object":{"id":"pi_1","object":"payment_intent","amount":100,"currency":"zzz","status":"succeeded",
            "last_payment_error":null,"metadata":{"orderId":"o","paymentId":"p"}}}}"#;
        assert!(matches!(
            parse(body, &FEES),
            Err(ProcessorError::InvalidWebhook(_))
        ));
        let other = br#"{"id":"evt_2","type":"charge.refunded"}"#;
        assert!(matches!(
            parse(other, &FEES),
            Ok(WebhookEvent::Ignored { .. })
        ));
    }
}
