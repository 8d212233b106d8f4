//! Square's wire types (the fields of the Payments and Refunds APIs we read) and the one mapping
//! of Square's statuses, errors and amounts to ours. Square counts `amount_money.amount` in the
//! currency's smallest unit as ISO 4217 defines it, which is our minor unit; a currency we do not
//! know is an error, never a guess. Every field is optional on the way in: an answer missing
//! what we need is a typed error, never a panic.

use crate::processor::{
    Activity, ActivityKind, ActivityStatus, IntentState, MethodType, Outcome, ProcessorError,
    ProcessorRefund, RefundState, WebhookEvent,
};
use kernel::{Currency, Money};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Square refuses idempotency keys longer than this.
pub const MAX_KEY: usize = 45;
/// Our refund id travels in the refund's `reason` behind this mark (Square refunds keep no
/// metadata), so a refund whose answer was lost is found again.
pub const REFUND_MARK: &str = "cadence-refund:";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SqMoney {
    pub amount: i64,
    pub currency: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct SqError {
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct SqCard {
    pub fingerprint: Option<String>,
    pub card_brand: Option<String>,
    pub last_4: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct SqCardDetails {
    pub status: Option<String>,
    pub card: Option<SqCard>,
    #[serde(default)]
    pub errors: Vec<SqError>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SqFee {
    pub amount_money: Option<SqMoney>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SqPayment {
    pub id: String,
    pub status: Option<String>,
    pub amount_money: Option<SqMoney>,
    pub reference_id: Option<String>,
    pub note: Option<String>,
    pub created_at: Option<String>,
    pub card_details: Option<SqCardDetails>,
    #[serde(default)]
    pub processing_fee: Vec<SqFee>,
    #[serde(default)]
    pub refund_ids: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SqRefund {
    pub id: String,
    pub status: Option<String>,
    pub amount_money: Option<SqMoney>,
    pub payment_id: Option<String>,
    pub reason: Option<String>,
    pub created_at: Option<String>,
}

/// Any answer of the Payments and Refunds APIs: what it holds, and its errors.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct Answer {
    #[serde(default)]
    pub errors: Vec<SqError>,
    pub payment: Option<SqPayment>,
    pub refund: Option<SqRefund>,
    pub payments: Option<Vec<SqPayment>>,
    pub refunds: Option<Vec<SqRefund>>,
    pub cursor: Option<String>,
}

/// An answer body in our terms; a body that is not Square's JSON is an error (the caller decides
/// whether work may hide behind it).
pub fn answer(body: &[u8]) -> Result<Answer, ProcessorError> {
    serde_json::from_slice(body)
        .map_err(|e| ProcessorError::Permanent(format!("unreadable Square answer: {e}")))
}

/// Square's key for ours: ours when it fits, otherwise a digest of it (the same every time, so
/// a retry of one attempt is the same request to Square).
pub fn key(ours: &str) -> String {
    if ours.len() <= MAX_KEY && ours.is_ascii() {
        return ours.to_string();
    }
    hex::encode(Sha256::digest(ours.as_bytes()))[..40].to_string()
}

pub fn to_square(m: Money) -> SqMoney {
    SqMoney {
        amount: m.amount_minor(),
        currency: m.currency().code().to_string(),
    }
}

pub fn money(m: Option<&SqMoney>, what: &str) -> Result<Money, ProcessorError> {
    let m = m.ok_or_else(|| ProcessorError::Permanent(format!("Square {what} has no amount")))?;
    let c = Currency::parse(&m.currency)
        .map_err(|e| ProcessorError::Permanent(format!("Square {what}: {e}")))?;
    Ok(Money::new(m.amount, c))
}

/// What Square kept of a payment: the sum of its processing fees (Square adds them shortly
/// after the capture; until then the fee is zero and reconciliation reports the difference).
pub fn fee(p: &SqPayment, currency: Currency) -> Result<Money, ProcessorError> {
    let mut total = Money::zero(currency);
    for f in &p.processing_fee {
        let part = money(f.amount_money.as_ref(), "processing fee")?;
        total = total
            .checked_add(&part)
            .map_err(|e| ProcessorError::Permanent(format!("Square processing fee: {e}")))?;
    }
    Ok(total)
}

/// An answer's errors as a refusal: the card's (`PAYMENT_METHOD_ERROR`) are declines; the rest,
/// by HTTP status, may pass later or never will.
pub fn error(status: u16, errors: &[SqError]) -> ProcessorError {
    let what = errors
        .iter()
        .map(|e| format!("{} {}", e.code, e.detail.as_deref().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join("; ");
    if errors.iter().any(|e| e.category == "PAYMENT_METHOD_ERROR") {
        return ProcessorError::Declined(decline_reason(errors));
    }
    match status {
        429 | 500..=599 => ProcessorError::Retryable(format!("Square {status}: {what}")),
        _ => ProcessorError::Permanent(format!("Square {status}: {what}")),
    }
}

fn decline_reason(errors: &[SqError]) -> String {
    errors
        .iter()
        .find(|e| e.category == "PAYMENT_METHOD_ERROR")
        .map(|e| e.code.to_ascii_lowercase())
        .unwrap_or_else(|| "card_declined".into())
}

/// The card's fingerprint, when Square gives it.
pub fn fingerprint(p: &SqPayment) -> Option<String> {
    p.card_details
        .as_ref()
        .and_then(|c| c.card.as_ref())
        .and_then(|c| c.fingerprint.clone())
}

/// The one mapping of a Square payment's status to our state of the intent.
pub fn payment_state(p: &SqPayment) -> Result<IntentState, ProcessorError> {
    let status = p.status.as_deref().unwrap_or_default();
    Ok(match status {
        "COMPLETED" => {
            let amount = money(p.amount_money.as_ref(), "payment")?;
            IntentState::Outcome(Outcome::Succeeded {
                transaction_id: p.id.clone(),
                fee: fee(p, amount.currency())?,
                method: MethodType::Card,
            })
        }
        "FAILED" => IntentState::Outcome(Outcome::Failed {
            fingerprint: fingerprint(p),
            reason: p
                .card_details
                .as_ref()
                .map(|c| decline_reason(&c.errors))
                .unwrap_or_else(|| "card_declined".into()),
        }),
        "CANCELED" => IntentState::Outcome(Outcome::Cancelled {
            reason: "canceled at Square".into(),
        }),
        // Authorised, not yet captured: we always autocomplete, so it is on its way.
        "APPROVED" | "PENDING" => IntentState::Open,
        other => {
            return Err(ProcessorError::Permanent(format!(
                "Square payment {} has an unknown status `{other}`",
                p.id
            )));
        }
    })
}

/// The state of an intent from every Square payment made for it (found by `reference_id`): a
/// capture wins whatever else was tried; anything else is still open. A decline found by asking
/// may be an earlier attempt's while the current one is not listed yet: only the attempt's own
/// answer (or its own payment, [`attempt_of`]) says a decline.
pub fn state_of_attempts(payments: &[SqPayment]) -> Result<IntentState, ProcessorError> {
    for p in payments {
        let s = payment_state(p)?;
        if matches!(s, IntentState::Outcome(Outcome::Succeeded { .. })) {
            return Ok(s);
        }
    }
    Ok(IntentState::Open)
}

/// Every payment carries its confirmation attempt in `note`, after this mark.
pub const ATTEMPT_MARK: &str = " attempt ";

/// The `note` of a payment of `order` made by attempt `key` (our idempotency key).
pub fn note(order: &str, key: &str) -> String {
    format!("Cadence order {order}{ATTEMPT_MARK}{key}")
}

/// The confirmation attempt (our key) a payment was made by, from its `note`.
pub fn attempt_of(p: &SqPayment) -> Option<&str> {
    let note = p.note.as_deref()?;
    let at = note.rfind(ATTEMPT_MARK)?;
    Some(&note[at + ATTEMPT_MARK.len()..]).filter(|k| !k.is_empty())
}

pub fn refund(r: &SqRefund, intent_id: &str) -> Result<ProcessorRefund, ProcessorError> {
    let status = match r.status.as_deref().unwrap_or_default() {
        "COMPLETED" => RefundState::Succeeded,
        "PENDING" => RefundState::Pending,
        "REJECTED" | "FAILED" => RefundState::Failed(format!(
            "Square refund {}",
            r.status.as_deref().unwrap_or("")
        )),
        other => {
            return Err(ProcessorError::Permanent(format!(
                "Square refund {} has an unknown status `{other}`",
                r.id
            )));
        }
    };
    Ok(ProcessorRefund {
        id: r.id.clone(),
        intent_id: intent_id.to_string(),
        amount: money(r.amount_money.as_ref(), "refund")?,
        status,
        refund_id: r.reason.as_deref().and_then(refund_id_of),
    })
}

fn time(t: Option<&str>, what: &str) -> Result<chrono::DateTime<chrono::Utc>, ProcessorError> {
    let t = t.ok_or_else(|| ProcessorError::Permanent(format!("Square {what} has no time")))?;
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.to_utc())
        .map_err(|e| ProcessorError::Permanent(format!("Square {what} time `{t}`: {e}")))
}

/// A listed payment as reconciliation compares it.
pub fn payment_activity(p: &SqPayment) -> Result<Activity, ProcessorError> {
    let amount = money(p.amount_money.as_ref(), "payment")?;
    let status = match p.status.as_deref().unwrap_or_default() {
        "COMPLETED" => ActivityStatus::Succeeded,
        "APPROVED" | "PENDING" => ActivityStatus::Pending,
        _ => ActivityStatus::Failed,
    };
    Ok(Activity {
        kind: ActivityKind::Charge,
        id: p.id.clone(),
        intent_id: p.reference_id.clone(),
        charge_id: None,
        fee: (status == ActivityStatus::Succeeded)
            .then(|| fee(p, amount.currency()))
            .transpose()?,
        amount,
        status,
        at: time(p.created_at.as_deref(), "payment")?,
    })
}

/// A listed refund as reconciliation compares it.
pub fn refund_activity(r: &SqRefund) -> Result<Activity, ProcessorError> {
    let status = match r.status.as_deref().unwrap_or_default() {
        "COMPLETED" => ActivityStatus::Succeeded,
        "PENDING" => ActivityStatus::Pending,
        _ => ActivityStatus::Failed,
    };
    Ok(Activity {
        kind: ActivityKind::Refund,
        id: r.id.clone(),
        intent_id: None,
        charge_id: r.payment_id.clone(),
        amount: money(r.amount_money.as_ref(), "refund")?,
        fee: None,
        status,
        at: time(r.created_at.as_deref(), "refund")?,
    })
}

/// `reason` for a refund: our id behind [`REFUND_MARK`], then the learner's words (Square keeps
/// 192 characters).
pub fn refund_reason(refund_id: &str, reason: Option<&str>) -> String {
    let mut r = format!("{REFUND_MARK}{refund_id}");
    if let Some(words) = reason {
        r.push(' ');
        r.push_str(words);
    }
    r.chars().take(192).collect()
}

pub fn refund_id_of(reason: &str) -> Option<String> {
    let rest = reason.strip_prefix(REFUND_MARK)?;
    Some(rest.split(' ').next().unwrap_or_default().to_string()).filter(|s| !s.is_empty())
}

#[derive(Debug, Deserialize)]
struct Event {
    event_id: String,
    #[serde(rename = "type")]
    kind: String,
    data: Option<EventData>,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: Option<EventObject>,
}

#[derive(Debug, Deserialize)]
struct EventObject {
    payment: Option<SqPayment>,
    refund: Option<SqRefund>,
}

/// A Square notification in our terms. Its object is only a pointer: events arrive in any
/// order and more than once, so the payment is asked for as it stands
/// ([`crate::processor::PaymentProcessor::resolve_webhook`]).
pub fn parse_event(body: &[u8]) -> Result<WebhookEvent, ProcessorError> {
    let e: Event = serde_json::from_slice(body)
        .map_err(|e| ProcessorError::InvalidWebhook(format!("not a Square event: {e}")))?;
    let bad = |what: &str| ProcessorError::InvalidWebhook(format!("Square event without {what}"));
    let object = e.data.as_ref().and_then(|d| d.object.as_ref());
    match e.kind.as_str() {
        "payment.created" | "payment.updated" => {
            let p = object
                .and_then(|o| o.payment.as_ref())
                .ok_or_else(|| bad("data.object.payment"))?;
            let Some(reference) = p.reference_id.clone() else {
                // Made at Square outside the platform: reconciliation reports it.
                return Ok(WebhookEvent::Ignored {
                    event_id: e.event_id,
                    kind: e.kind,
                });
            };
            Ok(WebhookEvent::IntentChanged {
                event_id: e.event_id,
                intent_id: reference,
                object_id: Some(p.id.clone()),
            })
        }
        "refund.created" | "refund.updated" => {
            let r = object
                .and_then(|o| o.refund.as_ref())
                .ok_or_else(|| bad("data.object.refund"))?;
            let payment = r
                .payment_id
                .clone()
                .ok_or_else(|| bad("refund.payment_id"))?;
            Ok(WebhookEvent::IntentChanged {
                event_id: e.event_id,
                // Known once the payment is read.
                intent_id: String::new(),
                object_id: Some(payment),
            })
        }
        _ => Ok(WebhookEvent::Ignored {
            event_id: e.event_id,
            kind: e.kind,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn payment(status: &str) -> SqPayment {
        serde_json::from_value(serde_json::json!({
            "id": "SQ1", "status": status, "reference_id": "ref",
            "amount_money": {"amount": 4900, "currency": "USD"},
            "processing_fee": [{"amount_money": {"amount": 172, "currency": "USD"}}],
            "card_details": {"status": "FAILED", "errors": [
                {"category": "PAYMENT_METHOD_ERROR", "code": "CVV_FAILURE"}]}
        }))
        .unwrap()
    }

    #[test]
    fn statuses_map_once() {
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(
            payment_state(&payment("COMPLETED")).unwrap(),
            IntentState::Outcome(Outcome::Succeeded {
                transaction_id: "SQ1".into(),
                fee: Money::new(172, usd),
                method: MethodType::Card,
            })
        );
        assert_eq!(
            payment_state(&payment("FAILED")).unwrap(),
            IntentState::Outcome(Outcome::Failed {
                fingerprint: None,
                reason: "cvv_failure".into()
            })
        );
        assert_eq!(
            payment_state(&payment("APPROVED")).unwrap(),
            IntentState::Open
        );
        assert!(payment_state(&payment("WEIRD")).is_err());
        // A capture wins over an earlier decline, whatever the order; a decline found by
        // asking is no answer (it may be an earlier attempt's).
        let both = [payment("FAILED"), payment("COMPLETED")];
        assert!(matches!(
            state_of_attempts(&both).unwrap(),
            IntentState::Outcome(Outcome::Succeeded { .. })
        ));
        assert_eq!(
            state_of_attempts(&[payment("FAILED")]).unwrap(),
            IntentState::Open
        );
        assert_eq!(state_of_attempts(&[]).unwrap(), IntentState::Open);
        let mut p = payment("FAILED");
        p.note = Some(note("o-1", "pay-confirm-2"));
        assert_eq!(attempt_of(&p), Some("pay-confirm-2"));
        p.note = Some("made at Square".into());
        assert_eq!(attempt_of(&p), None);
    }

    #[test]
    fn errors_keys_and_reasons() {
        let declined = [SqError {
            category: "PAYMENT_METHOD_ERROR".into(),
            code: "CARD_DECLINED".into(),
            detail: None,
        }];
        assert_eq!(
            error(400, &declined),
            ProcessorError::Declined("card_declined".into())
        );
        assert!(matches!(error(503, &[]), ProcessorError::Retryable(_)));
        assert!(matches!(error(400, &[]), ProcessorError::Permanent(_)));
        let long = "0194f1a2-7c3b-7d4e-8f90-123456789abc-confirm-12";
        assert!(key(long).len() <= MAX_KEY);
        assert_eq!(key(long), key(long));
        assert_ne!(key(long), key(&long.replace("-12", "-13")));
        assert_eq!(key("short"), "short");
        let reason = refund_reason("0194-refund", Some("changed my mind"));
        assert_eq!(refund_id_of(&reason).as_deref(), Some("0194-refund"));
        assert_eq!(refund_id_of("made at Square"), None);
    }

    #[test]
    fn events_point_at_the_payment() {
        let ev = serde_json::json!({"merchant_id": "M", "type": "payment.updated",
            "event_id": "e1", "data": {"type": "payment", "id": "SQ1",
            "object": {"payment": {"id": "SQ1", "status": "COMPLETED", "reference_id": "pay-1"}}}});
        assert_eq!(
            parse_event(ev.to_string().as_bytes()).unwrap(),
            WebhookEvent::IntentChanged {
                event_id: "e1".into(),
                intent_id: "pay-1".into(),
                object_id: Some("SQ1".into()),
            }
        );
        let refund = serde_json::json!({"type": "refund.updated", "event_id": "e2",
            "data": {"object": {"refund": {"id": "R1", "payment_id": "SQ1"}}}});
        assert!(matches!(
            parse_event(refund.to_string().as_bytes()).unwrap(),
            WebhookEvent::IntentChanged { object_id: Some(ref id), .. } if id == "SQ1"
        ));
        let other = serde_json::json!({"type": "customer.created", "event_id": "e3"});
        assert!(matches!(
            parse_event(other.to_string().as_bytes()).unwrap(),
            WebhookEvent::Ignored { .. }
        ));
        assert!(parse_event(b"{\"type\":\"payment.updated\"}").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Whatever Square (or something in front of it) answers, reading it never panics.
        #[test]
        fn reading_any_body_never_panics(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = answer(&body);
            let _ = parse_event(&body);
        }

        #[test]
        fn reading_json_shaped_bodies_never_panics(
            status in "[A-Z_]{0,12}",
            amount in any::<i64>(),
            currency in "[A-Za-z]{0,4}",
        ) {
            let body = serde_json::json!({"payment": {"id": "P", "status": status,
                "amount_money": {"amount": amount, "currency": currency},
                "processing_fee": [{"amount_money": {"amount": amount, "currency": currency}},
                                   {"amount_money": {"amount": amount, "currency": currency}}]},
                "refund": {"id": "R", "status": status,
                "amount_money": {"amount": amount, "currency": currency}}});
            let a = answer(body.to_string().as_bytes()).unwrap();
            if let Some(p) = &a.payment {
                let _ = payment_state(p);
            }
            if let Some(r) = &a.refund {
                let _ = refund(r, "i");
            }
        }
    }
}
