//! Stripe's wire types (async-stripe's, plus the few event fields we read) and the one mapping of
//! Stripe's statuses, errors and amounts to ours. Amounts cross here and only here: Stripe counts
//! in "the smallest currency unit" with its own exceptions (ISK and UGX are sent ×100; the
//! three-decimal currencies must end in 0), so a value that does not convert is an error, never
//! a rounded guess.

use crate::processor::{
    Activity, ActivityKind, ActivityStatus, IntentState, MethodType, Outcome, ProcessorError,
    ProcessorRefund, RefundState, WebhookEvent,
};
use ::stripe::StripeError;
use kernel::{Currency, Money};
use serde::Deserialize;
use stripe_shared::{
    BalanceTransaction, Charge, PaymentIntent, PaymentIntentStatus,
    PaymentMethodDetailsCardWalletType, Refund,
};
use stripe_types::Expandable;

/// Currencies Stripe takes in two decimals although they have none (ISO 4217 says 0).
const SENT_TIMES_100: &[&str] = &["ISK", "UGX"];

/// Our minor units → Stripe's `amount`.
pub fn to_stripe(m: Money) -> Result<i64, ProcessorError> {
    let code = m.currency().code();
    let refuse = |why: &str| Err(ProcessorError::Permanent(format!("{m}: {why}")));
    if SENT_TIMES_100.contains(&code) {
        return m
            .amount_minor()
            .checked_mul(100)
            .ok_or_else(|| ProcessorError::Permanent(format!("{m}: overflows")));
    }
    if m.currency().exponent() == 3 && m.amount_minor() % 10 != 0 {
        return refuse("Stripe takes three-decimal amounts only in multiples of 10");
    }
    Ok(m.amount_minor())
}

/// Stripe's `amount` and `currency` → our money.
pub fn from_stripe(amount: i64, currency: &str) -> Result<Money, ProcessorError> {
    let c = Currency::parse(currency)
        .map_err(|e| ProcessorError::Permanent(format!("Stripe amount: {e}")))?;
    if SENT_TIMES_100.contains(&c.code()) {
        if amount % 100 != 0 {
            return Err(ProcessorError::Permanent(format!(
                "Stripe amount {amount} {currency} is not a whole unit"
            )));
        }
        return Ok(Money::new(amount / 100, c));
    }
    Ok(Money::new(amount, c))
}

pub fn currency(m: Money) -> Result<stripe_types::Currency, ProcessorError> {
    m.currency()
        .code()
        .to_ascii_lowercase()
        .parse::<stripe_types::Currency>()
        .map_err(|_| ProcessorError::Permanent(format!("Stripe does not take {}", m.currency())))
}

/// A Stripe error in our terms: a card error is a decline, a timeout, a 5xx, a 429 or a 409
/// (another request with the key in flight) may succeed when retried with the same key, the
/// rest can never succeed as sent.
pub fn error(e: StripeError) -> ProcessorError {
    match e {
        StripeError::Stripe(err, status) => {
            let code = err.code.as_ref().map(|c| c.as_str().to_string());
            let message = err.message.clone().unwrap_or_default();
            let what = format!(
                "{} ({status}): {}",
                code.as_deref().unwrap_or(err.type_.as_str()),
                message
            );
            match status {
                402 => ProcessorError::Declined(decline_reason(&err)),
                409 | 429 | 500..=599 => ProcessorError::Retryable(what),
                _ => ProcessorError::Permanent(what),
            }
        }
        StripeError::Timeout | StripeError::ClientError(_) => {
            ProcessorError::Retryable(e.to_string())
        }
        StripeError::JSONDeserialize(m) => {
            ProcessorError::Permanent(format!("unreadable Stripe answer: {m}"))
        }
        StripeError::ConfigError(m) => ProcessorError::Permanent(m),
    }
}

/// Whether the same request (same idempotency key) may succeed later: a timeout, a broken
/// connection, a 5xx, a 429, or a 409 (another request with the key still in flight).
pub fn retryable(e: &StripeError) -> bool {
    match e {
        StripeError::Stripe(_, status) => matches!(status, 409 | 429 | 500..=599),
        StripeError::Timeout | StripeError::ClientError(_) => true,
        StripeError::JSONDeserialize(_) | StripeError::ConfigError(_) => false,
    }
}

/// Whether Stripe refused because the intent is past confirming (already succeeded, say).
pub fn is_unexpected_state(e: &StripeError) -> bool {
    matches!(e, StripeError::Stripe(err, 400)
        if err.code.as_ref().is_some_and(|c| c.as_str() == "payment_intent_unexpected_state"))
}

fn decline_reason(err: &stripe_shared::ApiErrors) -> String {
    let code = err
        .decline_code
        .clone()
        .or_else(|| err.code.as_ref().map(|c| c.as_str().to_string()))
        .unwrap_or_else(|| "card_declined".into());
    match &err.message {
        Some(m) => format!("{code}: {m}"),
        None => code,
    }
}

/// The one mapping of a PaymentIntent's status to our outcome.
pub fn intent_state(pi: &PaymentIntent) -> Result<IntentState, ProcessorError> {
    use PaymentIntentStatus as S;
    Ok(match &pi.status {
        S::Succeeded => IntentState::Outcome(captured(pi)?),
        S::RequiresPaymentMethod => match &pi.last_payment_error {
            Some(err) => IntentState::Outcome(Outcome::Failed {
                fingerprint: None,
                reason: decline_reason(err),
            }),
            None => IntentState::Open,
        },
        S::RequiresAction => IntentState::Outcome(Outcome::RequiresAction {
            next_action: pi
                .next_action
                .as_ref()
                .map(|a| a.type_.clone())
                .unwrap_or_else(|| "use_stripe_sdk".into()),
        }),
        S::Processing => IntentState::Outcome(Outcome::Processing),
        S::Canceled => IntentState::Outcome(Outcome::Cancelled {
            reason: pi
                .cancellation_reason
                .as_ref()
                .map(|r| r.as_str().to_string())
                .unwrap_or_else(|| "canceled".into()),
        }),
        S::RequiresConfirmation | S::RequiresCapture => IntentState::Open,
        other => {
            return Err(ProcessorError::Permanent(format!(
                "unknown PaymentIntent status `{}`",
                other.as_str()
            )));
        }
    })
}

/// A succeeded intent's capture: its charge, the fee from the charge's balance transaction (in
/// the charge's currency) and how the learner paid.
fn captured(pi: &PaymentIntent) -> Result<Outcome, ProcessorError> {
    let later = |what: &str| {
        ProcessorError::Retryable(format!("PaymentIntent {}: {what} not available yet", pi.id))
    };
    let charge: &Charge = pi
        .latest_charge
        .as_ref()
        .and_then(Expandable::as_object)
        .ok_or_else(|| later("the expanded latest charge"))?;
    let bt: &BalanceTransaction = charge
        .balance_transaction
        .as_ref()
        .and_then(Expandable::as_object)
        .ok_or_else(|| later("the expanded balance transaction"))?;
    let amount = from_stripe(charge.amount, &charge.currency.to_string())?;
    Ok(Outcome::Succeeded {
        transaction_id: charge.id.as_str().to_string(),
        fee: fee_in(amount, bt)?,
        method: method_type(charge),
    })
}

/// A listed PaymentIntent as reconciliation compares it (its charge, with the fee, once captured).
pub fn intent_activity(pi: &PaymentIntent) -> Result<Activity, ProcessorError> {
    let amount = from_stripe(pi.amount, &pi.currency.to_string())?;
    let (status, id, fee) = match intent_state(pi)? {
        IntentState::Outcome(Outcome::Succeeded {
            transaction_id,
            fee,
            ..
        }) => (ActivityStatus::Succeeded, transaction_id, Some(fee)),
        IntentState::Open => (ActivityStatus::Pending, pi.id.as_str().to_string(), None),
        IntentState::Outcome(_) => (ActivityStatus::Failed, pi.id.as_str().to_string(), None),
    };
    Ok(Activity {
        kind: ActivityKind::Charge,
        id,
        intent_id: Some(pi.id.as_str().to_string()),
        charge_id: None,
        amount,
        fee,
        status,
        at: timestamp(pi.created)?,
    })
}

/// A listed refund as reconciliation compares it.
pub fn refund_activity(r: &Refund) -> Result<Activity, ProcessorError> {
    let ours = refund(r)?;
    Ok(Activity {
        kind: ActivityKind::Refund,
        id: ours.id,
        intent_id: Some(ours.intent_id),
        charge_id: None,
        amount: ours.amount,
        fee: None,
        status: match ours.status {
            RefundState::Succeeded => ActivityStatus::Succeeded,
            RefundState::Pending => ActivityStatus::Pending,
            RefundState::Failed(_) => ActivityStatus::Failed,
        },
        at: timestamp(r.created)?,
    })
}

fn timestamp(t: i64) -> Result<chrono::DateTime<chrono::Utc>, ProcessorError> {
    chrono::DateTime::from_timestamp(t, 0)
        .ok_or_else(|| ProcessorError::Permanent(format!("Stripe time {t} out of range")))
}

/// The balance transaction's fee in the charge's currency. Stripe states the fee in the
/// account's settlement currency; when that differs, the fee is carried over at the balance
/// transaction's own ratio (amount charged : amount settled), rounded half to even.
pub fn fee_in(charged: Money, bt: &BalanceTransaction) -> Result<Money, ProcessorError> {
    let settled = from_stripe(bt.amount, &bt.currency.to_string())?;
    let fee = from_stripe(bt.fee, &bt.currency.to_string())?;
    if settled.currency() == charged.currency() {
        return Ok(fee);
    }
    if settled.amount_minor() <= 0 {
        return Err(ProcessorError::Permanent(format!(
            "balance transaction {} settles nothing",
            bt.id
        )));
    }
    let q = kernel::mul_div_half_even(
        fee.amount_minor(),
        charged.amount_minor(),
        settled.amount_minor(),
    )
    .map_err(|_| ProcessorError::Permanent(format!("fee of {charged} overflows")))?;
    Ok(Money::new(q, charged.currency()))
}

fn method_type(charge: &Charge) -> MethodType {
    let wallet = charge
        .payment_method_details
        .as_ref()
        .and_then(|d| d.card.as_ref())
        .and_then(|c| c.wallet.as_ref())
        .map(|w| &w.type_);
    match wallet {
        Some(PaymentMethodDetailsCardWalletType::GooglePay) => MethodType::GooglePay,
        _ => MethodType::Card,
    }
}

/// A Stripe refund in our terms.
pub fn refund(r: &Refund) -> Result<ProcessorRefund, ProcessorError> {
    let intent_id = match &r.payment_intent {
        Some(pi) => pi.id().as_str().to_string(),
        None => {
            return Err(ProcessorError::Permanent(format!(
                "refund {} names no PaymentIntent",
                r.id
            )));
        }
    };
    let status = match r.status.as_deref() {
        Some("succeeded") => RefundState::Succeeded,
        Some("pending") | Some("requires_action") | None => RefundState::Pending,
        Some("failed") | Some("canceled") => RefundState::Failed(
            r.failure_reason
                .clone()
                .unwrap_or_else(|| r.status.clone().unwrap_or_default()),
        ),
        Some(other) => {
            return Err(ProcessorError::Permanent(format!(
                "refund {}: unknown status `{other}`",
                r.id
            )));
        }
    };
    Ok(ProcessorRefund {
        id: r.id.as_str().to_string(),
        intent_id,
        amount: from_stripe(r.amount, &r.currency.to_string())?,
        status,
        refund_id: r.metadata.as_ref().and_then(|m| m.get("refundId").cloned()),
    })
}

/// The events we act on. Every payment or refund change is reduced to "this intent changed":
/// Stripe sends events in any order and more than once, so the intent's current state, asked of
/// Stripe, is what gets applied.
pub const INTENT_EVENTS: &[&str] = &[
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "payment_intent.requires_action",
    "payment_intent.processing",
    // `charge.succeeded` comes with every `payment_intent.succeeded` and says nothing more: it
    // is ignored rather than read from Stripe a second time.
    "charge.refunded",
    "refund.created",
    "refund.updated",
    "refund.failed",
];
pub const DISPUTE_CREATED: &str = "charge.dispute.created";

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: EventObject,
}

/// The fields of the event's object we read: a PaymentIntent names itself, a Charge, Refund
/// or Dispute names its PaymentIntent.
#[derive(Debug, Deserialize)]
struct EventObject {
    id: String,
    object: String,
    #[serde(default)]
    payment_intent: Option<String>,
    #[serde(default)]
    amount: Option<i64>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// A webhook body in our terms; a body that breaks Stripe's event contract is an error.
pub fn parse_event(body: &[u8]) -> Result<WebhookEvent, ProcessorError> {
    let e: Event = serde_json::from_slice(body)
        .map_err(|err| ProcessorError::InvalidWebhook(format!("not a Stripe event: {err}")))?;
    let o = e.data.object;
    let bad =
        |what: &str| ProcessorError::InvalidWebhook(format!("{} {}: no {what}", e.kind, o.id));
    if e.kind == DISPUTE_CREATED {
        let amount = o.amount.ok_or_else(|| bad("amount"))?;
        let currency = o.currency.as_deref().ok_or_else(|| bad("currency"))?;
        return Ok(WebhookEvent::Disputed {
            intent_id: o
                .payment_intent
                .clone()
                .ok_or_else(|| bad("payment_intent"))?,
            dispute_id: o.id.clone(),
            amount: from_stripe(amount, currency)
                .map_err(|err| ProcessorError::InvalidWebhook(err.to_string()))?,
            reason: o.reason.clone().unwrap_or_default(),
            event_id: e.id,
        });
    }
    if !INTENT_EVENTS.contains(&e.kind.as_str()) {
        return Ok(WebhookEvent::Ignored {
            event_id: e.id,
            kind: e.kind,
        });
    }
    let intent_id = if o.object == "payment_intent" {
        o.id.clone()
    } else {
        o.payment_intent
            .clone()
            .ok_or_else(|| bad("payment_intent"))?
    };
    Ok(WebhookEvent::IntentChanged {
        event_id: e.id,
        intent_id,
        object_id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(v: i64, c: &str) -> Money {
        Money::new(v, Currency::parse(c).unwrap())
    }

    #[test]
    fn amounts_cross_the_edge_exactly_or_not_at_all() {
        assert_eq!(to_stripe(m(1999, "USD")).unwrap(), 1999);
        assert_eq!(to_stripe(m(500, "JPY")).unwrap(), 500, "zero-decimal as is");
        assert_eq!(
            to_stripe(m(500, "ISK")).unwrap(),
            50_000,
            "ISK is sent ×100"
        );
        assert_eq!(from_stripe(50_000, "isk").unwrap(), m(500, "ISK"));
        assert!(from_stripe(50_050, "isk").is_err(), "no fractional krona");
        assert_eq!(to_stripe(m(1230, "KWD")).unwrap(), 1230);
        assert!(
            to_stripe(m(1234, "KWD")).is_err(),
            "three decimals end in 0"
        );
        assert!(from_stripe(1, "xyz").is_err(), "unknown currency");
        assert_eq!(from_stripe(1999, "usd").unwrap(), m(1999, "USD"));
    }

    fn bt(amount: i64, fee: i64, currency: &str) -> BalanceTransaction {
        let json = serde_json::json!({
            "id": "txn_1", "object": "balance_transaction", "amount": amount,
            "available_on": 1, "balance_type": "payments", "created": 1, "currency": currency,
            "fee": fee, "fee_details": [], "net": amount - fee, "reporting_category": "charge",
            "status": "available", "type": "charge"
        });
        miniserde::json::from_str(&json.to_string()).unwrap()
    }

    #[test]
    fn the_fee_is_stated_in_the_charge_currency() {
        assert_eq!(
            fee_in(m(1999, "USD"), &bt(1999, 88, "usd")).unwrap(),
            m(88, "USD")
        );
        // A EUR 10.00 charge settled as USD 10.80 with a USD 0.61 fee: EUR 0.565 → 0.56 (even).
        assert_eq!(
            fee_in(m(1000, "EUR"), &bt(1080, 61, "usd")).unwrap(),
            m(56, "EUR")
        );
        assert!(fee_in(m(1000, "EUR"), &bt(0, 61, "usd")).is_err());
    }

    fn intent(status: &str, extra: serde_json::Value) -> PaymentIntent {
        let mut json = serde_json::json!({
            "id": "pi_1", "object": "payment_intent", "amount": 1999, "amount_capturable": 0,
            "amount_received": 0, "capture_method": "automatic_async",
            "confirmation_method": "automatic", "created": 1, "currency": "usd",
            "livemode": false, "metadata": {}, "payment_method_types": ["card"],
            "status": status
        });
        if let (Some(o), Some(e)) = (json.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        miniserde::json::from_str(&json.to_string()).unwrap()
    }

    fn charge(wallet: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "id": "ch_1", "object": "charge", "amount": 1999, "amount_captured": 1999,
            "amount_refunded": 0, "captured": true, "created": 1, "currency": "usd",
            "disputed": false, "livemode": false, "metadata": {}, "paid": true,
            "refunded": false, "status": "succeeded",
            "billing_details": {"address": null, "email": null, "name": null, "phone": null},
            "balance_transaction": {
                "id": "txn_1", "object": "balance_transaction", "amount": 1999,
                "available_on": 1, "balance_type": "payments", "created": 1, "currency": "usd",
                "fee": 88, "fee_details": [], "net": 1911, "reporting_category": "charge",
                "status": "available", "type": "charge"
            },
            "payment_method_details": {"type": "card", "card": {
                "exp_month": 12, "exp_year": 2034, "brand": "visa", "last4": "4242",
                "wallet": wallet
            }}
        })
    }

    #[test]
    fn every_intent_status_maps_once() {
        let ok = intent(
            "succeeded",
            serde_json::json!({"latest_charge": charge(serde_json::Value::Null)}),
        );
        assert_eq!(
            intent_state(&ok).unwrap(),
            IntentState::Outcome(Outcome::Succeeded {
                transaction_id: "ch_1".into(),
                fee: m(88, "USD"),
                method: MethodType::Card,
            })
        );
        let gpay = intent(
            "succeeded",
            serde_json::json!({"latest_charge": charge(serde_json::json!({
                "type": "google_pay", "google_pay": {}
            }))}),
        );
        assert!(matches!(
            intent_state(&gpay).unwrap(),
            IntentState::Outcome(Outcome::Succeeded {
                method: MethodType::GooglePay,
                ..
            })
        ));
        let unexpanded = intent("succeeded", serde_json::json!({"latest_charge": "ch_1"}));
        assert!(matches!(
            intent_state(&unexpanded),
            Err(ProcessorError::Retryable(_))
        ));
        let declined = intent(
            "requires_payment_method",
            serde_json::json!({"last_payment_error": {
                "type": "card_error", "code": "card_declined",
                "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."
            }}),
        );
        assert_eq!(
            intent_state(&declined).unwrap(),
            IntentState::Outcome(Outcome::Failed {
                fingerprint: None,
                reason: "insufficient_funds: Your card has insufficient funds.".into()
            })
        );
        let fresh = intent("requires_payment_method", serde_json::json!({}));
        assert_eq!(intent_state(&fresh).unwrap(), IntentState::Open);
        let action = intent(
            "requires_action",
            serde_json::json!({"next_action": {"type": "use_stripe_sdk"}}),
        );
        assert_eq!(
            intent_state(&action).unwrap(),
            IntentState::Outcome(Outcome::RequiresAction {
                next_action: "use_stripe_sdk".into()
            })
        );
        assert_eq!(
            intent_state(&intent("processing", serde_json::json!({}))).unwrap(),
            IntentState::Outcome(Outcome::Processing)
        );
        assert!(matches!(
            intent_state(&intent("canceled", serde_json::json!({}))).unwrap(),
            IntentState::Outcome(Outcome::Cancelled { .. })
        ));
    }

    #[test]
    fn events_reduce_to_the_intent_they_change() {
        let ev = |kind: &str, object: serde_json::Value| {
            serde_json::to_vec(&serde_json::json!({
                "id": "evt_1", "object": "event", "type": kind, "data": {"object": object}
            }))
            .unwrap()
        };
        let pi = serde_json::json!({"id": "pi_1", "object": "payment_intent"});
        let refund =
            serde_json::json!({"id": "re_1", "object": "refund", "payment_intent": "pi_1"});
        for (kind, object) in [
            ("payment_intent.succeeded", &pi),
            ("payment_intent.canceled", &pi),
            (
                "charge.refunded",
                &serde_json::json!({"id": "ch_1", "object": "charge", "payment_intent": "pi_1"}),
            ),
            ("refund.failed", &refund),
        ] {
            assert_eq!(
                parse_event(&ev(kind, object.clone())).unwrap(),
                WebhookEvent::IntentChanged {
                    event_id: "evt_1".into(),
                    intent_id: "pi_1".into(),
                    object_id: None,
                },
                "{kind}"
            );
        }
        let dispute = serde_json::json!({"id": "dp_1", "object": "dispute", "amount": 1999,
            "currency": "usd", "reason": "fraudulent", "payment_intent": "pi_1"});
        assert!(matches!(
            parse_event(&ev(DISPUTE_CREATED, dispute)).unwrap(),
            WebhookEvent::Disputed { ref dispute_id, .. } if dispute_id == "dp_1"
        ));
        assert!(matches!(
            parse_event(&ev(
                "customer.created",
                serde_json::json!({"id": "cus_1", "object": "customer"})
            ))
            .unwrap(),
            WebhookEvent::Ignored { .. }
        ));
        assert!(
            parse_event(&ev(
                "charge.refunded",
                serde_json::json!({"id": "ch_1", "object": "charge"})
            ))
            .is_err()
        );
        assert!(parse_event(b"not json").is_err());
    }
}
