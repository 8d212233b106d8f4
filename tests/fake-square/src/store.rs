//! Square's objects and what the API does to them: payments, refunds, the events they emit, and
//! listing by time with cursors. Everything here runs under the store's lock; the events made
//! go into `out`, in the order they happened.

use crate::{Config, RefundMode};
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// An answer: HTTP status and JSON body.
pub(crate) type Answer = (u16, Value);

/// Now, as Square writes times: RFC 3339 UTC with milliseconds.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A 26-character uppercase id.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..26].to_ascii_uppercase()
}

pub(crate) fn error(status: u16, category: &str, code: &str, detail: &str) -> Answer {
    let e = json!({"category": category, "code": code, "detail": detail});
    (status, json!({ "errors": [e] }))
}

/// A 400 `INVALID_REQUEST_ERROR` naming the field at fault.
pub(crate) fn invalid(code: &str, field: &str, detail: &str) -> Answer {
    let e = json!({"category": "INVALID_REQUEST_ERROR", "code": code, "detail": detail,
        "field": field});
    (400, json!({ "errors": [e] }))
}

pub(crate) fn not_found(what: &str) -> Answer {
    let detail = format!("{what} not found");
    error(404, "INVALID_REQUEST_ERROR", "NOT_FOUND", &detail)
}

fn bad_request(detail: &str) -> Answer {
    error(400, "INVALID_REQUEST_ERROR", "BAD_REQUEST", detail)
}

fn missing(field: &str) -> Answer {
    let detail = format!("Field must be set: {field}");
    invalid("MISSING_REQUIRED_PARAMETER", field, &detail)
}

/// The `amount_money` of a request, or the error to answer.
fn money(b: &Value) -> Result<(i64, String), Answer> {
    let m = &b["amount_money"];
    if !m.is_object() {
        return Err(missing("amount_money"));
    }
    let amount = match &m["amount"] {
        Value::Null => return Err(missing("amount_money.amount")),
        a => a.as_i64(),
    };
    let Some(amount) = amount.filter(|a| *a >= 1) else {
        return Err(invalid(
            "INVALID_VALUE",
            "amount_money.amount",
            "amount must be at least 1",
        ));
    };
    let currency = match &m["currency"] {
        Value::Null => return Err(missing("amount_money.currency")),
        c => c.as_str().unwrap_or_default(),
    };
    if currency.len() != 3 || !currency.bytes().all(|c| c.is_ascii_uppercase()) {
        let detail = format!("unknown currency {}", m["currency"]);
        return Err(invalid("INVALID_VALUE", "amount_money.currency", &detail));
    }
    Ok((amount, currency.to_string()))
}

fn amount_of(o: &Value) -> i64 {
    o["amount_money"]["amount"].as_i64().unwrap_or(0)
}

/// One more version, updated now.
fn bump(o: &mut Value) {
    o["version"] = json!(o["version"].as_i64().unwrap_or(0) + 1);
    o["updated_at"] = json!(now());
}

/// Payments, refunds, events and counters.
pub(crate) struct Store {
    config: Config,
    pub payments: Vec<Value>,
    pub refunds: Vec<Value>,
    pub events: Vec<Value>,
    /// Payments completed through the API.
    pub completed: usize,
    /// Payment attempts that reached the card.
    pub attempts: usize,
    pub refund_count: usize,
    pub refund_mode: RefundMode,
}

impl Store {
    pub fn new(config: Config) -> Store {
        Store {
            config,
            payments: Vec::new(),
            refunds: Vec::new(),
            events: Vec::new(),
            completed: 0,
            attempts: 0,
            refund_count: 0,
            refund_mode: RefundMode::default(),
        }
    }

    pub fn payment(&self, id: &str) -> Option<&Value> {
        self.payments.iter().find(|p| p["id"] == id)
    }

    fn payment_mut(&mut self, id: &str) -> Option<&mut Value> {
        self.payments.iter_mut().find(|p| p["id"] == id)
    }

    pub fn refund(&self, id: &str) -> Option<&Value> {
        self.refunds.iter().find(|r| r["id"] == id)
    }

    /// The processing fee of `amount`: basis points rounded half up, plus the fixed part.
    fn fee(&self, amount: i64) -> i64 {
        let bps = i64::from(self.config.fee_bps);
        (amount * bps + 5_000) / 10_000 + self.config.fee_fixed_minor
    }

    /// Records an event about `object` (a payment or a refund) and hands it to `out`.
    pub fn event(&mut self, kind: &str, object: &Value, out: &mut Vec<Value>) {
        let object_type = kind.split('.').next().unwrap_or_default();
        let e = json!({
            "merchant_id": "MLCADENCEFAKE", "type": kind,
            "event_id": uuid::Uuid::new_v4().to_string(), "created_at": now(),
            "data": {"type": object_type, "id": object["id"],
                "object": {object_type: object}},
        });
        self.events.push(e.clone());
        out.push(e);
    }

    /// A new payment of `source` (its card's fingerprint derived from it), not yet decided.
    pub fn new_payment(&self, amount: i64, currency: &str, source: &str) -> Value {
        let (id, t) = (new_id(), now());
        let money = json!({"amount": amount, "currency": currency});
        let fingerprint = hex::encode(Sha256::digest(source.as_bytes()));
        json!({
            "id": id, "created_at": t, "updated_at": t,
            "amount_money": money, "total_money": money, "status": "PENDING",
            "source_type": "CARD",
            "card_details": {"status": "AUTHORIZED", "entry_method": "KEYED",
                "card": {"card_brand": "VISA", "last_4": "1111",
                    "fingerprint": format!("sq-1-{}", &fingerprint[..40])}},
            "location_id": self.config.location_id, "refund_ids": [], "version": 1,
            "receipt_number": &id[..4],
            "receipt_url": format!("https://squareup.com/receipt/preview/{id}"),
        })
    }

    /// Captures an approved (or new) payment: `COMPLETED` with its processing fee.
    pub fn capture(&self, p: &mut Value) {
        let amount = amount_of(p);
        p["status"] = json!("COMPLETED");
        p["approved_money"] = p["amount_money"].clone();
        p["card_details"]["status"] = json!("CAPTURED");
        p["processing_fee"] = json!([{"effective_at": now(), "type": "INITIAL",
            "amount_money": {"amount": self.fee(amount),
                "currency": p["amount_money"]["currency"]}}]);
    }

    /// `POST /v2/payments` (the idempotency key already checked).
    pub fn create_payment(&mut self, b: &Value, out: &mut Vec<Value>) -> Answer {
        let Some(source) = b["source_id"].as_str() else {
            return missing("source_id");
        };
        let (amount, currency) = match money(b) {
            Ok(m) => m,
            Err(e) => return e,
        };
        if b["reference_id"]
            .as_str()
            .is_some_and(|r| r.chars().count() > 40)
        {
            let detail = "Field must not be greater than 40 length: reference_id";
            return invalid("VALUE_TOO_LONG", "reference_id", detail);
        }
        if let Some(loc) = b["location_id"].as_str()
            && loc != self.config.location_id
        {
            return not_found(&format!("location {loc}"));
        }
        if !(source.starts_with("cnon:") || source.starts_with("ccof:")) {
            return invalid(
                "INVALID_VALUE",
                "source_id",
                "not a card nonce or card on file",
            );
        }
        let decline = match source {
            "cnon:card-nonce-declined" => Some("CARD_DECLINED"),
            "cnon:card-nonce-rejected-cvv" => Some("CVV_FAILURE"),
            "cnon:card-nonce-rejected-postalcode" => Some("ADDRESS_VERIFICATION_FAILURE"),
            "cnon:card-nonce-rejected-expiration" => Some("INVALID_EXPIRATION"),
            "cnon:card-nonce-already-used" => {
                return invalid("CARD_TOKEN_USED", "source_id", "Card nonce already used");
            }
            _ => None,
        };
        self.attempts += 1;
        let mut p = self.new_payment(amount, &currency, source);
        for k in ["reference_id", "note", "customer_id", "buyer_email_address"] {
            if let Some(v) = b.get(k).filter(|v| !v.is_null()) {
                p[k] = v.clone();
            }
        }
        if let Some(code) = decline {
            p["status"] = json!("FAILED");
            p["card_details"]["status"] = json!("FAILED");
            p["card_details"]["errors"] =
                json!([{"category": "PAYMENT_METHOD_ERROR", "code": code}]);
        } else if b["autocomplete"].as_bool().unwrap_or(true) {
            self.capture(&mut p);
            self.completed += 1;
        } else {
            p["status"] = json!("APPROVED");
            p["approved_money"] = p["amount_money"].clone();
        }
        self.payments.push(p.clone());
        self.event("payment.created", &p, out);
        self.event("payment.updated", &p, out);
        match decline {
            Some(code) => {
                let detail = format!("Authorization error: '{code}'");
                let e = json!({"category": "PAYMENT_METHOD_ERROR", "code": code,
                    "detail": detail});
                (400, json!({"errors": [e], "payment": p}))
            }
            None => (200, json!({ "payment": p })),
        }
    }

    /// `POST /v2/payments/{id}/cancel` and `…/complete`: an `APPROVED` payment only.
    pub fn finish_payment(&mut self, id: &str, complete: bool, out: &mut Vec<Value>) -> Answer {
        let Some(i) = self.payments.iter().position(|p| p["id"] == id) else {
            return not_found(&format!("payment {id}"));
        };
        let mut p = self.payments[i].clone();
        if p["status"] != "APPROVED" {
            let status = p["status"].as_str().unwrap_or_default();
            return bad_request(&format!("Payment {id} is {status}, not APPROVED"));
        }
        if complete {
            self.capture(&mut p);
            self.completed += 1;
        } else {
            p["status"] = json!("CANCELED");
            p["card_details"]["status"] = json!("VOIDED");
        }
        bump(&mut p);
        self.payments[i] = p.clone();
        self.event("payment.updated", &p, out);
        (200, json!({ "payment": p }))
    }

    /// Completed and pending refunds of a payment.
    fn refunded(&self, payment_id: &str, pending_too: bool) -> i64 {
        self.refunds
            .iter()
            .filter(|r| r["payment_id"] == payment_id)
            .filter(|r| r["status"] == "COMPLETED" || (pending_too && r["status"] == "PENDING"))
            .map(amount_of)
            .sum()
    }

    /// `POST /v2/refunds` (the idempotency key already checked).
    pub fn create_refund(&mut self, b: &Value, out: &mut Vec<Value>) -> Answer {
        let Some(pid) = b["payment_id"].as_str() else {
            return missing("payment_id");
        };
        let (amount, currency) = match money(b) {
            Ok(m) => m,
            Err(e) => return e,
        };
        let Some(p) = self.payment(pid).cloned() else {
            return not_found(&format!("payment {pid}"));
        };
        if p["status"] != "COMPLETED" {
            let status = p["status"].as_str().unwrap_or_default();
            return bad_request(&format!("Payment {pid} is {status}, not COMPLETED"));
        }
        if p["amount_money"]["currency"] != currency.as_str() {
            let detail = "the refund's currency is not the payment's";
            return invalid("INVALID_VALUE", "amount_money.currency", detail);
        }
        if amount > amount_of(&p) - self.refunded(pid, true) {
            let detail = "The requested refund amount exceeds the amount available to refund.";
            return error(
                400,
                "INVALID_REQUEST_ERROR",
                "REFUND_AMOUNT_INVALID",
                detail,
            );
        }
        self.refund_count += 1;
        let t = now();
        let status = match self.refund_mode {
            RefundMode::Complete => "COMPLETED",
            RefundMode::Pending => "PENDING",
        };
        let mut r = json!({
            "id": format!("{pid}_{}", new_id()), "status": status,
            "amount_money": {"amount": amount, "currency": currency}, "payment_id": pid,
            "location_id": p["location_id"], "created_at": t, "updated_at": t,
        });
        if let Some(reason) = b.get("reason").filter(|v| !v.is_null()) {
            r["reason"] = reason.clone();
        }
        self.refunds.push(r.clone());
        self.event("refund.created", &r, out);
        self.event("refund.updated", &r, out);
        self.after_refund(pid, &r, out);
        (200, json!({ "refund": r }))
    }

    /// A pending refund completes or fails.
    pub fn settle_refund(
        &mut self,
        id: &str,
        succeed: bool,
        out: &mut Vec<Value>,
    ) -> Result<(), String> {
        let Some(r) = self.refunds.iter_mut().find(|r| r["id"] == id) else {
            return Err(format!("no refund {id}"));
        };
        if r["status"] != "PENDING" {
            return Err(format!("refund {id} is {}, not PENDING", r["status"]));
        }
        r["status"] = json!(if succeed { "COMPLETED" } else { "FAILED" });
        r["updated_at"] = json!(now());
        let r = r.clone();
        self.event("refund.updated", &r, out);
        let pid = r["payment_id"].as_str().unwrap_or_default().to_string();
        self.after_refund(&pid, &r, out);
        Ok(())
    }

    /// Brings the payment's refund ids and refunded money up to date (`payment.updated`).
    fn after_refund(&mut self, pid: &str, refund: &Value, out: &mut Vec<Value>) {
        let done = self.refunded(pid, false);
        let Some(p) = self.payment_mut(pid) else {
            return;
        };
        if let Some(ids) = p["refund_ids"].as_array_mut()
            && !ids.contains(&refund["id"])
        {
            ids.push(refund["id"].clone());
        }
        if done > 0 {
            p["refunded_money"] =
                json!({"amount": done, "currency": p["amount_money"]["currency"]});
        }
        bump(p);
        let p = p.clone();
        self.event("payment.updated", &p, out);
    }

    /// `GET /v2/payments` or `GET /v2/refunds`: by `created_at` (`begin_time` inclusive,
    /// `end_time` exclusive), newest first unless `sort_order=ASC`. The cursor names the
    /// position in the store of the next item, so items made meanwhile do not shift pages.
    pub fn list(&self, refunds: bool, q: &HashMap<String, String>) -> Answer {
        let time = |name: &str| match q.get(name) {
            None => Ok(None),
            Some(t) => chrono::DateTime::parse_from_rfc3339(t)
                .map(Some)
                .map_err(|_| invalid("INVALID_TIME", name, "not an RFC 3339 time")),
        };
        let (begin, end) = match (time("begin_time"), time("end_time")) {
            (Ok(b), Ok(e)) => (b, e),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let asc = match q.get("sort_order").map(String::as_str) {
            None | Some("DESC") => false,
            Some("ASC") => true,
            Some(_) => return invalid("INVALID_SORT_ORDER", "sort_order", "ASC or DESC"),
        };
        let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
            None => 100,
            Some(Ok(l)) => l.clamp(1, 100),
            Some(Err(_)) => return invalid("INVALID_VALUE", "limit", "not a number"),
        };
        let cursor = match q.get("cursor") {
            None => None,
            Some(c) => match decode_cursor(c) {
                Some(at) => Some(at),
                None => return invalid("INVALID_CURSOR", "cursor", "unknown cursor"),
            },
        };
        let all = if refunds {
            &self.refunds
        } else {
            &self.payments
        };
        let within = |o: &Value| {
            let Ok(t) =
                chrono::DateTime::parse_from_rfc3339(o["created_at"].as_str().unwrap_or(""))
            else {
                return false;
            };
            begin.is_none_or(|b| t >= b)
                && end.is_none_or(|e| t < e)
                && q.get("location_id")
                    .is_none_or(|l| o["location_id"] == l.as_str())
        };
        let mut items: Vec<usize> = (0..all.len()).filter(|i| within(&all[*i])).collect();
        if !asc {
            items.reverse();
        }
        let rest: Vec<usize> = items
            .into_iter()
            .filter(|i| cursor.is_none_or(|c| if asc { *i >= c } else { *i <= c }))
            .collect();
        let mut body = json!({});
        if !rest.is_empty() {
            let page: Vec<&Value> = rest.iter().take(limit).map(|i| &all[*i]).collect();
            body[if refunds { "refunds" } else { "payments" }] = json!(page);
        }
        if let Some(next) = rest.get(limit) {
            body["cursor"] = json!(encode_cursor(*next));
        }
        (200, body)
    }
}

fn encode_cursor(at: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("fake-square:{at}"))
}

fn decode_cursor(c: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("fake-square:")?
        .parse()
        .ok()
}
