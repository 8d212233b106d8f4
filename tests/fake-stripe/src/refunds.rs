//! Refunds (through the API, from the Dashboard, settling later) and disputes.

use crate::RefundMode;
use crate::form::Params;
use crate::objects::{ApiError, now, object_id};
use crate::store::{Ctx, Result, Store, at_least_one, integer, invalid_value, no_such_intent};
use serde_json::{Map, Value, json};

impl Store {
    /// `POST /v1/refunds`.
    pub fn create_refund(&mut self, ctx: &mut Ctx, p: &Params) -> Result<Value> {
        let by_intent = match p.get("payment_intent") {
            Some(pi) => Some(
                self.intent(pi)
                    .ok_or_else(|| no_such_intent(400, pi).with("param", "payment_intent"))?,
            ),
            None => None,
        };
        let charge_id = match (p.get("charge"), &by_intent) {
            (Some(ch), intent) => {
                let charge = self.get(ch, "charge");
                let charge = charge
                    .ok_or_else(|| ApiError::missing(400, "charge", ch).with("param", "charge"))?;
                if let Some(intent) = intent
                    .as_ref()
                    .filter(|i| i["id"] != charge["payment_intent"])
                {
                    let message = format!(
                        "Charge {ch} does not belong to {}.",
                        intent["id"].as_str().unwrap_or_default()
                    );
                    return Err(ApiError::invalid(None, &message).with("param", "charge"));
                }
                ch.to_string()
            }
            (None, Some(intent)) => match intent["latest_charge"].as_str() {
                Some(ch) if intent["status"] == "succeeded" => ch.to_string(),
                _ => {
                    let message = format!(
                        "This PaymentIntent ({}) does not have a successful charge to refund.",
                        intent["id"].as_str().unwrap_or_default()
                    );
                    return Err(ApiError::unexpected_state(&message, intent));
                }
            },
            (None, None) => {
                let message = "One of the following params should be provided for this \
                               request: payment_intent or charge.";
                return Err(ApiError::invalid(Some("parameter_missing"), message));
            }
        };
        let amount = integer(p, "amount")?;
        if amount.is_some_and(|a| a < 1) {
            return Err(at_least_one("amount"));
        }
        let reason = p.get("reason");
        let allowed = ["duplicate", "fraudulent", "requested_by_customer"];
        if let Some(r) = reason.filter(|r| !allowed.contains(r)) {
            return Err(invalid_value("reason", r, &allowed));
        }
        let mode = self.refund_mode;
        self.refund(ctx, &charge_id, amount, reason, p.map("metadata"), mode)
    }

    /// Refunds `amount` (default: what is left) of a charge, as `mode` says.
    pub fn refund(
        &mut self,
        ctx: &mut Ctx,
        charge_id: &str,
        amount: Option<i64>,
        reason: Option<&str>,
        metadata: Map<String, Value>,
        mode: RefundMode,
    ) -> Result<Value> {
        let charge = self.get(charge_id, "charge").cloned();
        let charge = charge.ok_or_else(|| ApiError::missing(400, "charge", charge_id))?;
        if charge["disputed"] == true {
            let message =
                format!("Charge {charge_id} has been charged back; cannot issue a refund.");
            return Err(ApiError::invalid(Some("charge_disputed"), &message));
        }
        let remaining = charge["amount"].as_i64().unwrap_or(0) - self.refunded(charge_id);
        if remaining <= 0 {
            let message = format!("Charge {charge_id} has already been refunded.");
            return Err(ApiError::invalid(Some("charge_already_refunded"), &message));
        }
        let amount = amount.unwrap_or(remaining);
        if amount > remaining {
            let message = format!(
                "Refund amount ({amount}) is greater than unrefunded amount on charge \
                 ({remaining})"
            );
            return Err(
                ApiError::invalid(Some("amount_too_large"), &message).with("param", "amount")
            );
        }
        let status = if mode == RefundMode::Succeed {
            "succeeded"
        } else {
            "pending"
        };
        let refund = json!({
            "id": object_id("re_"), "object": "refund", "amount": amount, "created": now(),
            "currency": charge["currency"], "status": status, "charge": charge_id,
            "payment_intent": charge["payment_intent"], "reason": reason,
            "failure_reason": null, "metadata": metadata, "balance_transaction": null,
            "receipt_number": null,
        });
        let id = refund["id"].as_str().unwrap_or_default().to_string();
        self.refund_order.push(id.clone());
        self.put(refund.clone());
        self.counts.refunds += 1;
        let charge = self.sync_charge(charge_id);
        self.emit(ctx, "refund.created", refund.clone());
        match mode {
            RefundMode::Succeed => self.emit(ctx, "charge.refunded", charge),
            RefundMode::Pending => {}
            RefundMode::Fail => self.fail_refund(ctx, &id),
        }
        Ok(refund)
    }

    /// Σ refunds of a charge that still count (not failed or canceled).
    fn refunded(&self, charge_id: &str) -> i64 {
        self.refund_order
            .iter()
            .filter_map(|id| self.objects.get(id))
            .filter(|r| r["charge"] == charge_id)
            .filter(|r| r["status"] == "succeeded" || r["status"] == "pending")
            .map(|r| r["amount"].as_i64().unwrap_or(0))
            .sum()
    }

    /// Recomputes `amount_refunded` and `refunded`; returns the charge.
    fn sync_charge(&mut self, charge_id: &str) -> Value {
        let refunded = self.refunded(charge_id);
        let charge = self.get_mut(charge_id);
        charge["amount_refunded"] = refunded.into();
        charge["refunded"] = (refunded >= charge["amount"].as_i64().unwrap_or(0)).into();
        charge.clone()
    }

    fn fail_refund(&mut self, ctx: &mut Ctx, id: &str) {
        let refund = self.get_mut(id);
        refund["status"] = "failed".into();
        refund["failure_reason"] = "expired_or_canceled_card".into();
        let refund = refund.clone();
        self.sync_charge(refund["charge"].as_str().unwrap_or_default());
        self.emit(ctx, "refund.failed", refund);
    }

    /// A pending refund succeeds (`refund.updated` + `charge.refunded`) or fails.
    pub fn settle_refund(&mut self, ctx: &mut Ctx, id: &str, succeed: bool) -> Result<()> {
        let refund = self.get(id, "refund").cloned();
        let refund = refund.ok_or_else(|| ApiError::missing(404, "refund", id))?;
        if refund["status"] != "pending" {
            let message = format!(
                "Refund {id} is {}, not pending",
                refund["status"].as_str().unwrap_or_default()
            );
            return Err(ApiError::invalid(None, &message));
        }
        if !succeed {
            self.fail_refund(ctx, id);
            return Ok(());
        }
        self.get_mut(id)["status"] = "succeeded".into();
        let refund = self.get_mut(id).clone();
        let charge = self.sync_charge(refund["charge"].as_str().unwrap_or_default());
        self.emit(ctx, "refund.updated", refund);
        self.emit(ctx, "charge.refunded", charge);
        Ok(())
    }

    /// The charge of a succeeded intent.
    pub fn charge_of(&self, intent_id: &str) -> Result<String> {
        let intent = self
            .intent(intent_id)
            .ok_or_else(|| no_such_intent(404, intent_id))?;
        match intent["latest_charge"].as_str() {
            Some(ch) if intent["status"] == "succeeded" => Ok(ch.to_string()),
            _ => Err(ApiError::unexpected_state(
                &format!("PaymentIntent {intent_id} has no successful charge"),
                &intent,
            )),
        }
    }

    /// `GET /v1/refunds` (`payment_intent`, `charge`, `created[gte|gt|lte|lt]`, `limit`,
    /// `starting_after`), newest first.
    pub fn list_refunds(&self, p: &Params) -> Result<Value> {
        let created = created_range(p)?;
        let all: Vec<&Value> = self
            .refund_order
            .iter()
            .rev()
            .filter_map(|id| self.objects.get(id))
            .filter(|r| {
                p.get("payment_intent")
                    .is_none_or(|pi| r["payment_intent"] == pi)
            })
            .filter(|r| p.get("charge").is_none_or(|ch| r["charge"] == ch))
            .filter(|r| created(r))
            .collect();
        page(all, p, "/v1/refunds")
    }

    /// `GET /v1/payment_intents` (`created[gte|gt|lte|lt]`, `limit`, `starting_after`), newest
    /// first (`expand[]=data.latest_charge.balance_transaction` reads the fees).
    pub fn list_intents(&self, p: &Params) -> Result<Value> {
        let created = created_range(p)?;
        let mut all: Vec<&Value> = self
            .objects
            .values()
            .filter(|o| o["object"] == "payment_intent")
            .filter(|o| created(o))
            .collect();
        all.sort_by(|a, b| {
            (b["created"].as_i64(), b["id"].as_str())
                .cmp(&(a["created"].as_i64(), a["id"].as_str()))
        });
        page(all, p, "/v1/payment_intents")
    }

    /// Opens a dispute on the intent's charge (`charge.dispute.created`).
    pub fn dispute(&mut self, ctx: &mut Ctx, intent_id: &str, reason: &str) -> Result<String> {
        const REASONS: &[&str] = &[
            "bank_cannot_process",
            "check_returned",
            "credit_not_processed",
            "customer_initiated",
            "debit_not_authorized",
            "duplicate",
            "fraudulent",
            "general",
            "incorrect_account_details",
            "insufficient_funds",
            "noncompliant",
            "product_not_received",
            "product_unacceptable",
            "subscription_canceled",
            "unrecognized",
        ];
        if !REASONS.contains(&reason) {
            return Err(invalid_value("reason", reason, REASONS));
        }
        let charge_id = self.charge_of(intent_id)?;
        let charge = self.get_mut(&charge_id);
        if charge["disputed"] == true {
            return Err(ApiError::invalid(
                None,
                &format!("Charge {charge_id} is already disputed"),
            ));
        }
        charge["disputed"] = true.into();
        let created = now();
        let dispute = json!({
            "id": object_id("dp_"), "object": "dispute", "amount": charge["amount"],
            "balance_transactions": [], "charge": charge_id, "created": created,
            "currency": charge["currency"], "enhanced_eligibility_types": [],
            "evidence": {"enhanced_evidence": {}},
            "evidence_details": {"due_by": created + 7 * 86_400, "enhanced_eligibility": {},
                                 "has_evidence": false, "past_due": false, "submission_count": 0},
            "is_charge_refundable": false, "livemode": false, "metadata": {},
            "payment_intent": intent_id, "reason": reason, "status": "needs_response",
        });
        let id = dispute["id"].as_str().unwrap_or_default().to_string();
        self.put(dispute.clone());
        self.emit(ctx, "charge.dispute.created", dispute);
        Ok(id)
    }
}

/// The `created[…]` bounds of a list request, as a filter on objects.
fn created_range(p: &Params) -> Result<impl Fn(&Value) -> bool> {
    let gte = integer(p, "created[gte]")?;
    let gt = integer(p, "created[gt]")?;
    let lte = integer(p, "created[lte]")?;
    let lt = integer(p, "created[lt]")?;
    Ok(move |o: &Value| {
        let c = o["created"].as_i64().unwrap_or(0);
        gte.is_none_or(|b| c >= b)
            && gt.is_none_or(|b| c > b)
            && lte.is_none_or(|b| c <= b)
            && lt.is_none_or(|b| c < b)
    })
}

/// One page of a list, as Stripe answers it (`limit` 1 to 100, default 10; `starting_after`).
fn page(all: Vec<&Value>, p: &Params, url: &str) -> Result<Value> {
    let limit = integer(p, "limit")?.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        let message = "This value must be between 1 and 100 (it currently is out of range).";
        return Err(ApiError::invalid(None, message).with("param", "limit"));
    }
    let start = match p.get("starting_after") {
        Some(after) => all
            .iter()
            .position(|r| r["id"] == after)
            .map_or(all.len(), |i| i + 1),
        None => 0,
    };
    let take = usize::try_from(limit).unwrap_or(10);
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(take)
        .map(|r| (*r).clone())
        .collect();
    let has_more = all.len() > start + page.len();
    Ok(json!({"object": "list", "data": page, "has_more": has_more, "url": url}))
}
