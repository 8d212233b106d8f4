//! The pieces Stripe objects are made of: ids, the wall clock, Stripe's error bodies, the test
//! payment methods, currencies and the processing fee.

use serde_json::{Map, Value, json};

/// The API version the events claim to be rendered with.
pub(crate) const API_VERSION: &str = "2026-09-30.endive";

/// Unix seconds from the wall clock (an outside system keeps its own time).
pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `prefix` followed by `len` random alphanumerics (`pi_3Qx…`).
pub(crate) fn new_id(prefix: &str, len: usize) -> String {
    const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::from(prefix);
    while out.len() < prefix.len() + len {
        let random = uuid::Uuid::new_v4();
        // Bytes 6 and 8 carry the UUID version and variant bits: skip them.
        for (_, b) in random
            .as_bytes()
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 6 && *i != 8)
        {
            if out.len() < prefix.len() + len {
                out.push(ALNUM[usize::from(*b) % ALNUM.len()] as char);
            }
        }
    }
    out
}

/// An object id as Stripe shapes them.
pub(crate) fn object_id(prefix: &str) -> String {
    new_id(prefix, 24)
}

/// A Stripe error answer: HTTP status and `{"error": {...}}`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: u16,
    pub body: Value,
}

impl ApiError {
    pub fn new(status: u16, kind: &str, code: Option<&str>, message: &str) -> ApiError {
        let mut error = Map::new();
        error.insert("type".into(), kind.into());
        if let Some(code) = code {
            error.insert("code".into(), code.into());
            error.insert(
                "doc_url".into(),
                format!(
                    "https://stripe.com/docs/error-codes/{}",
                    code.replace('_', "-")
                )
                .into(),
            );
        }
        error.insert("message".into(), message.into());
        error.insert("request_log_url".into(), Value::Null);
        ApiError {
            status,
            body: json!({ "error": error }),
        }
    }

    /// 400 `invalid_request_error`.
    pub fn invalid(code: Option<&str>, message: &str) -> ApiError {
        ApiError::new(400, "invalid_request_error", code, message)
    }

    /// `resource_missing` for `id` (404 when it is the object addressed, 400 for a parameter).
    pub fn missing(status: u16, kind: &str, id: &str) -> ApiError {
        ApiError::new(
            status,
            "invalid_request_error",
            Some("resource_missing"),
            &format!("No such {kind}: '{id}'"),
        )
    }

    /// 400 `payment_intent_unexpected_state` carrying the intent.
    pub fn unexpected_state(message: &str, intent: &Value) -> ApiError {
        ApiError::invalid(Some("payment_intent_unexpected_state"), message)
            .with("payment_intent", intent.clone())
    }

    /// Adds a field to the error object (`param`, `decline_code`, `payment_intent`, …).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> ApiError {
        if let Some(error) = self.body["error"].as_object_mut() {
            error.insert(key.into(), value.into());
        }
        self
    }

    pub fn message(&self) -> String {
        self.body["error"]["message"]
            .as_str()
            .unwrap_or("error")
            .to_string()
    }
}

/// What confirming with a test payment method does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Succeed,
    /// Declined with this `decline_code` and message.
    Decline(&'static str, &'static str),
    /// Needs 3-D Secure (`requires_action`).
    Authenticate,
}

/// A test payment method.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Card {
    pub brand: &'static str,
    pub last4: &'static str,
    pub google_pay: bool,
    pub outcome: Outcome,
}

/// Stripe's test payment methods (`pm_card_googlePay` is the fake's own: a Google Pay card).
pub(crate) fn card(pm: &str) -> Option<Card> {
    const DECLINED: Outcome = Outcome::Decline("generic_decline", "Your card was declined.");
    const NO_FUNDS: Outcome =
        Outcome::Decline("insufficient_funds", "Your card has insufficient funds.");
    let (brand, last4, google_pay, outcome) = match pm {
        "pm_card_visa" => ("visa", "4242", false, Outcome::Succeed),
        "pm_card_mastercard" => ("mastercard", "4444", false, Outcome::Succeed),
        "pm_card_amex" => ("amex", "8431", false, Outcome::Succeed),
        "pm_card_googlePay" => ("visa", "4242", true, Outcome::Succeed),
        "pm_card_visa_chargeDeclined" | "pm_card_chargeDeclined" => {
            ("visa", "0002", false, DECLINED)
        }
        "pm_card_visa_chargeDeclinedInsufficientFunds"
        | "pm_card_chargeDeclinedInsufficientFunds" => ("visa", "9995", false, NO_FUNDS),
        "pm_card_authenticationRequired" => ("visa", "3184", false, Outcome::Authenticate),
        "pm_card_threeDSecure2Required" => ("visa", "3220", false, Outcome::Authenticate),
        _ => return None,
    };
    Some(Card {
        brand,
        last4,
        google_pay,
        outcome,
    })
}

/// `payment_method_details` of a charge made with `card`.
pub(crate) fn card_details(card: &Card) -> Value {
    let wallet = if card.google_pay {
        json!({"type": "google_pay", "google_pay": {}, "dynamic_last4": card.last4})
    } else {
        Value::Null
    };
    json!({
        "type": "card",
        "card": {
            "brand": card.brand, "last4": card.last4, "exp_month": 12, "exp_year": 2034,
            "funding": "credit", "country": "US", "network": card.brand, "wallet": wallet,
        }
    })
}

/// Currencies without minor units: no minimum beyond a positive amount.
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];
/// Currencies with three decimals: no two-decimal minimum either.
const THREE_DECIMAL: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];

/// The smallest amount Stripe accepts in `currency` (minor units).
pub(crate) fn minimum_amount(currency: &str) -> i64 {
    if ZERO_DECIMAL.contains(&currency) || THREE_DECIMAL.contains(&currency) {
        1
    } else {
        50
    }
}

/// round_half_even(amount × bps / 10000) + fixed, capped at the amount.
pub(crate) fn fee(amount: i64, bps: u32, fixed: i64) -> i64 {
    let percent = kernel::mul_div_half_even(amount, i64::from(bps), 10_000).unwrap_or(i64::MAX);
    percent.saturating_add(fixed).min(amount)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_rounds_half_even_and_caps() {
        assert_eq!(fee(1999, 290, 30), 88); // 57.971 → 58
        assert_eq!(fee(5000, 1, 0), 0); // 0.5 → 0
        assert_eq!(fee(15000, 1, 0), 2); // 1.5 → 2
        assert_eq!(fee(25000, 1, 0), 2); // 2.5 → 2
        assert_eq!(fee(20, 290, 30), 20);
    }

    #[test]
    fn ids_have_the_prefix_and_length() {
        let id = object_id("pi_");
        assert_eq!(id.len(), 27);
        assert!(id.starts_with("pi_") && id[3..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(id, object_id("pi_"));
    }
}
