//! Every object the fake holds and the operations on them, behind one Mutex: what one API
//! request or test action does happens in one call here, so processing is serialized. Each
//! operation returns the object to answer (or a Stripe error) and leaves the events it created
//! in the [`Ctx`]; the caller sends them once the lock is released.

use crate::RefundMode;
use crate::form::Params;
use crate::objects::{API_VERSION, now, object_id};
use crate::objects::{ApiError, Card, Outcome, card, card_details, fee, minimum_amount};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Side-effect counters.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    pub charges: usize,
    pub attempts: usize,
    pub refunds: usize,
    pub customers: usize,
}

/// Where an operation comes from (the event's `request`) and the events it created.
pub(crate) struct Ctx {
    request: Value,
    pub out: Vec<Value>,
}

impl Ctx {
    /// An API request.
    pub fn api(request_id: &str, idempotency_key: Option<&str>) -> Ctx {
        Ctx {
            request: json!({"id": request_id, "idempotency_key": idempotency_key}),
            out: Vec::new(),
        }
    }

    /// Something Stripe did on its own (a test action, the Dashboard).
    pub fn internal() -> Ctx {
        Ctx {
            request: json!({"id": null, "idempotency_key": null}),
            out: Vec::new(),
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, ApiError>;

pub(crate) struct Store {
    pub fee_bps: u32,
    pub fee_fixed: i64,
    pub base_url: String,
    pub refund_mode: RefundMode,
    pub counts: Counts,
    /// Every object by id; the id prefixes keep the kinds apart.
    pub(crate) objects: HashMap<String, Value>,
    pub(crate) refund_order: Vec<String>,
    event_order: Vec<String>,
}

/// `/v1/<collection>` → the `object` value of what it holds.
fn kind_of(collection: &str) -> Option<&'static str> {
    Some(match collection {
        "customers" => "customer",
        "payment_intents" => "payment_intent",
        "charges" => "charge",
        "balance_transactions" => "balance_transaction",
        "refunds" => "refund",
        "disputes" => "dispute",
        "events" => "event",
        _ => return None,
    })
}

impl Store {
    pub fn new(fee_bps: u32, fee_fixed: i64, base_url: String) -> Store {
        Store {
            fee_bps,
            fee_fixed,
            base_url,
            refund_mode: RefundMode::Succeed,
            counts: Counts::default(),
            objects: HashMap::new(),
            refund_order: Vec::new(),
            event_order: Vec::new(),
        }
    }

    pub fn events(&self) -> Vec<Value> {
        self.event_order
            .iter()
            .filter_map(|id| self.objects.get(id).cloned())
            .collect()
    }

    pub fn event(&self, id: &str) -> Option<Value> {
        self.get(id, "event").cloned()
    }

    pub fn intent(&self, id: &str) -> Option<Value> {
        self.get(id, "payment_intent").cloned()
    }

    pub(crate) fn get(&self, id: &str, kind: &str) -> Option<&Value> {
        self.objects.get(id).filter(|o| o["object"] == kind)
    }

    /// The object `id`, which the caller has checked exists.
    pub(crate) fn get_mut(&mut self, id: &str) -> &mut Value {
        self.objects.entry(id.to_string()).or_insert(Value::Null)
    }

    pub(crate) fn put(&mut self, object: Value) {
        if let Some(id) = object["id"].as_str() {
            self.objects.insert(id.to_string(), object);
        }
    }

    pub(crate) fn emit(&mut self, ctx: &mut Ctx, kind: &str, object: Value) {
        let event = json!({
            "id": object_id("evt_"), "object": "event", "api_version": API_VERSION,
            "created": now(), "livemode": false, "pending_webhooks": 1, "type": kind,
            "data": {"object": object}, "request": ctx.request.clone(),
        });
        self.event_order
            .push(event["id"].as_str().unwrap_or_default().to_string());
        self.put(event.clone());
        ctx.out.push(event);
    }

    /// `GET /v1/<collection>/<id>`.
    pub fn retrieve(&self, collection: &str, id: &str) -> Result<Value> {
        let kind = kind_of(collection)
            .ok_or_else(|| unrecognized("GET", &format!("/v1/{collection}/{id}")))?;
        self.get(id, kind)
            .cloned()
            .ok_or_else(|| ApiError::missing(404, kind, id).with("param", "id"))
    }

    /// Replaces ids by the objects they name along each `a.b.c` path (lists: `data.x`).
    pub fn expand(&self, mut value: Value, paths: &[String]) -> Result<Value> {
        for path in paths {
            let parts: Vec<&str> = path.split('.').collect();
            if parts.len() > 4 || self.expand_at(&mut value, &parts).is_none() {
                return Err(ApiError::invalid(
                    None,
                    &format!("This property cannot be expanded ({path})."),
                )
                .with("param", "expand"));
            }
        }
        Ok(value)
    }

    fn expand_at(&self, value: &mut Value, parts: &[&str]) -> Option<()> {
        let Some((first, rest)) = parts.split_first() else {
            return Some(());
        };
        let field = value.as_object_mut()?.get_mut(*first)?;
        if let Value::String(id) = field {
            *field = self.objects.get(id.as_str())?.clone();
        }
        match field {
            Value::Null => Some(()),
            Value::Array(items) if !rest.is_empty() => items
                .iter_mut()
                .try_for_each(|item| self.expand_at(item, rest)),
            Value::Object(_) => self.expand_at(field, rest),
            _ => None,
        }
    }

    /// `POST /v1/customers`.
    pub fn create_customer(&mut self, p: &Params) -> Result<Value> {
        let customer = json!({
            "id": object_id("cus_"), "object": "customer", "created": now(), "livemode": false,
            "email": p.get("email"), "name": p.get("name"), "phone": p.get("phone"),
            "description": p.get("description"), "metadata": p.map("metadata"),
            "address": null, "balance": 0, "currency": null, "delinquent": false,
            "default_source": null, "shipping": null, "preferred_locales": [],
        });
        self.counts.customers += 1;
        self.put(customer.clone());
        Ok(customer)
    }

    /// `POST /v1/payment_intents` (with `confirm=true`: created, then confirmed).
    pub fn create_intent(&mut self, ctx: &mut Ctx, p: &Params) -> Result<Value> {
        let amount = integer(p, "amount")?.ok_or_else(|| required("amount"))?;
        let currency = p.get("currency").ok_or_else(|| required("currency"))?;
        let currency = currency.to_ascii_lowercase();
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_lowercase()) {
            return Err(
                ApiError::invalid(None, &format!("Invalid currency: {currency}."))
                    .with("param", "currency"),
            );
        }
        if amount < 1 {
            return Err(at_least_one("amount"));
        }
        let minimum = minimum_amount(&currency);
        if amount < minimum {
            let message = format!("Amount must be at least {minimum} {currency}");
            return Err(
                ApiError::invalid(Some("amount_too_small"), &message).with("param", "amount")
            );
        }
        if let Some(customer) = p.get("customer")
            && self.get(customer, "customer").is_none()
        {
            return Err(ApiError::missing(400, "customer", customer).with("param", "customer"));
        }
        let capture_method = p.get("capture_method").unwrap_or("automatic_async");
        if !matches!(capture_method, "automatic" | "automatic_async") {
            let message = format!(
                "capture_method '{capture_method}' is not supported by the fake Stripe \
                 (only automatic and automatic_async)"
            );
            return Err(
                ApiError::invalid(Some("parameter_invalid_string"), &message)
                    .with("param", "capture_method"),
            );
        }
        let payment_method = p.get("payment_method");
        if let Some(pm) = payment_method {
            card(pm).ok_or_else(|| no_such_pm(pm))?;
        }
        let mut types = p.list("payment_method_types");
        if types.is_empty() {
            types.push("card".into());
        }
        let automatic = p
            .bool("automatic_payment_methods[enabled]")
            .map(|on| json!({"enabled": on, "allow_redirects": "always"}));
        let id = object_id("pi_");
        let status = if payment_method.is_some() {
            "requires_confirmation"
        } else {
            "requires_payment_method"
        };
        let intent = json!({
            "id": id, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
            "amount_received": 0, "application": null, "application_fee_amount": null,
            "automatic_payment_methods": automatic, "canceled_at": null,
            "cancellation_reason": null, "capture_method": capture_method,
            "client_secret": format!("{id}_secret_{}", crate::objects::new_id("", 25)),
            "confirmation_method": p.get("confirmation_method").unwrap_or("automatic"),
            "created": now(), "currency": currency, "customer": p.get("customer"),
            "description": p.get("description"), "last_payment_error": null,
            "latest_charge": null, "livemode": false, "metadata": p.map("metadata"),
            "next_action": null, "on_behalf_of": null, "payment_method": payment_method,
            "payment_method_types": types, "processing": null,
            "receipt_email": p.get("receipt_email"), "review": null, "setup_future_usage": null,
            "shipping": null, "source": null, "statement_descriptor": null,
            "statement_descriptor_suffix": null, "status": status, "transfer_data": null,
            "transfer_group": null,
        });
        self.put(intent.clone());
        if p.bool("confirm") == Some(true) {
            return self.confirm(ctx, &id, p);
        }
        Ok(intent)
    }

    /// `POST /v1/payment_intents/:id/confirm`.
    pub fn confirm(&mut self, ctx: &mut Ctx, id: &str, p: &Params) -> Result<Value> {
        let intent = self.intent(id).ok_or_else(|| no_such_intent(404, id))?;
        let status = intent["status"].as_str().unwrap_or_default();
        if !confirmable(status) {
            let message = format!(
                "You cannot confirm this PaymentIntent because it has a status of {status}."
            );
            return Err(ApiError::unexpected_state(&message, &intent));
        }
        let Some(pm) = p
            .get("payment_method")
            .or(intent["payment_method"].as_str())
            .map(str::to_string)
        else {
            let message = "You cannot confirm this PaymentIntent because it's missing a payment \
                           method. Update the PaymentIntent with a payment_method and confirm it.";
            return Err(
                ApiError::unexpected_state(message, &intent).with("param", "payment_method")
            );
        };
        let card = card(&pm).ok_or_else(|| no_such_pm(&pm))?;
        self.counts.attempts += 1;
        match card.outcome {
            Outcome::Succeed => self.capture(ctx, id, &pm, &card),
            Outcome::Decline(decline_code, message) => {
                let error = json!({
                    "type": "card_error", "code": "card_declined", "decline_code": decline_code,
                    "message": message,
                    "doc_url": "https://stripe.com/docs/error-codes/card-declined",
                });
                let intent = self.fail_intent(ctx, id, error);
                Err(
                    ApiError::new(402, "card_error", Some("card_declined"), message)
                        .with("decline_code", decline_code)
                        .with("payment_intent", intent),
                )
            }
            Outcome::Authenticate => {
                let stripe_js = format!("{}/3d_secure/{id}", self.base_url);
                let next_action = json!({
                    "type": "use_stripe_sdk",
                    "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": stripe_js},
                });
                let o = self.get_mut(id);
                o["status"] = "requires_action".into();
                o["payment_method"] = pm.into();
                o["last_payment_error"] = Value::Null;
                o["next_action"] = next_action;
                let intent = o.clone();
                self.emit(ctx, "payment_intent.requires_action", intent.clone());
                Ok(intent)
            }
        }
    }

    /// Charges the intent's full amount: Charge, BalanceTransaction, `succeeded`.
    fn capture(&mut self, ctx: &mut Ctx, id: &str, pm: &str, card: &Card) -> Result<Value> {
        let intent = self.intent(id).ok_or_else(|| no_such_intent(404, id))?;
        let (amount, currency) = (intent["amount"].as_i64().unwrap_or(0), &intent["currency"]);
        let (charge_id, txn_id, created) = (object_id("ch_"), object_id("txn_"), now());
        let fee = fee(amount, self.fee_bps, self.fee_fixed);
        self.put(json!({
            "id": txn_id, "object": "balance_transaction", "amount": amount,
            "available_on": created + 2 * 86_400, "balance_type": "payments", "created": created,
            "currency": currency, "description": intent["description"], "exchange_rate": null,
            "fee": fee, "net": amount - fee, "reporting_category": "charge", "source": charge_id,
            "status": "available", "type": "charge",
            "fee_details": [{"amount": fee, "currency": currency, "type": "stripe_fee",
                             "description": "Stripe processing fees", "application": null}],
        }));
        let charge = json!({
            "id": charge_id, "object": "charge", "amount": amount, "amount_captured": amount,
            "amount_refunded": 0, "balance_transaction": txn_id, "captured": true,
            "billing_details": {"address": null, "email": null, "name": null, "phone": null,
                                "tax_id": null},
            "created": created, "currency": currency, "customer": intent["customer"],
            "description": intent["description"], "disputed": false, "failure_code": null,
            "failure_message": null, "livemode": false, "metadata": intent["metadata"],
            "paid": true, "payment_intent": id, "payment_method": pm,
            "payment_method_details": card_details(card),
            "receipt_email": intent["receipt_email"], "refunded": false, "status": "succeeded",
        });
        self.put(charge.clone());
        let o = self.get_mut(id);
        o["status"] = "succeeded".into();
        o["amount_received"] = amount.into();
        o["latest_charge"] = charge_id.into();
        o["payment_method"] = pm.into();
        o["last_payment_error"] = Value::Null;
        o["next_action"] = Value::Null;
        let intent = o.clone();
        self.counts.charges += 1;
        self.emit(ctx, "payment_intent.succeeded", intent.clone());
        self.emit(ctx, "charge.succeeded", charge);
        Ok(intent)
    }

    /// Back to `requires_payment_method` with `last_payment_error`; emits `payment_failed`.
    fn fail_intent(&mut self, ctx: &mut Ctx, id: &str, error: Value) -> Value {
        let o = self.get_mut(id);
        o["status"] = "requires_payment_method".into();
        o["payment_method"] = Value::Null;
        o["next_action"] = Value::Null;
        o["last_payment_error"] = error;
        let intent = o.clone();
        self.emit(ctx, "payment_intent.payment_failed", intent.clone());
        intent
    }

    /// Finishes 3-D Secure for an intent in `requires_action`.
    pub fn complete_action(&mut self, ctx: &mut Ctx, id: &str, succeed: bool) -> Result<()> {
        let intent = self.intent(id).ok_or_else(|| no_such_intent(404, id))?;
        if intent["status"] != "requires_action" {
            let message = format!(
                "PaymentIntent {id} has status {}",
                intent["status"].as_str().unwrap_or_default()
            );
            return Err(ApiError::unexpected_state(&message, &intent));
        }
        let pm = intent["payment_method"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let card = card(&pm).ok_or_else(|| no_such_pm(&pm))?;
        if succeed {
            self.capture(ctx, id, &pm, &card)?;
        } else {
            let error = json!({
                "type": "invalid_request_error", "code": "payment_intent_authentication_failure",
                "message": "The provided PaymentMethod has failed authentication. You can \
                            provide payment_method_data or a new PaymentMethod to attempt to \
                            fulfill this PaymentIntent again.",
            });
            self.fail_intent(ctx, id, error);
        }
        Ok(())
    }

    /// `POST /v1/payment_intents/:id/cancel`.
    pub fn cancel(&mut self, ctx: &mut Ctx, id: &str, p: &Params) -> Result<Value> {
        let intent = self.intent(id).ok_or_else(|| no_such_intent(404, id))?;
        let status = intent["status"].as_str().unwrap_or_default();
        if !confirmable(status) {
            let message = format!(
                "You cannot cancel this PaymentIntent because it has a status of {status}. \
                 Only a PaymentIntent with one of the following statuses may be canceled: \
                 requires_payment_method, requires_capture, requires_confirmation, \
                 requires_action, processing."
            );
            return Err(ApiError::unexpected_state(&message, &intent));
        }
        let reason = p.get("cancellation_reason");
        let allowed = [
            "duplicate",
            "fraudulent",
            "requested_by_customer",
            "abandoned",
        ];
        if let Some(r) = reason.filter(|r| !allowed.contains(r)) {
            return Err(invalid_value("cancellation_reason", r, &allowed));
        }
        let o = self.get_mut(id);
        o["status"] = "canceled".into();
        o["canceled_at"] = now().into();
        o["cancellation_reason"] = reason.into();
        o["next_action"] = Value::Null;
        let intent = o.clone();
        self.emit(ctx, "payment_intent.canceled", intent.clone());
        Ok(intent)
    }
}

fn confirmable(status: &str) -> bool {
    matches!(
        status,
        "requires_payment_method" | "requires_confirmation" | "requires_action"
    )
}

/// An optional integer parameter.
pub(crate) fn integer(p: &Params, key: &str) -> Result<Option<i64>> {
    p.get(key)
        .map(|v| {
            v.parse().map_err(|_| {
                ApiError::invalid(
                    Some("parameter_invalid_integer"),
                    &format!("Invalid integer: {v}"),
                )
                .with("param", key)
            })
        })
        .transpose()
}

pub(crate) fn at_least_one(key: &str) -> ApiError {
    ApiError::invalid(
        Some("parameter_invalid_integer"),
        "This value must be greater than or equal to 1.",
    )
    .with("param", key)
}

pub(crate) fn required(key: &str) -> ApiError {
    ApiError::invalid(
        Some("parameter_missing"),
        &format!("Missing required param: {key}."),
    )
    .with("param", key)
}

pub(crate) fn invalid_value(key: &str, value: &str, allowed: &[&str]) -> ApiError {
    let message = format!(
        "Invalid {key}: must be one of {} (got {value})",
        allowed.join(", ")
    );
    ApiError::invalid(Some("parameter_invalid_string"), &message).with("param", key)
}

pub(crate) fn no_such_intent(status: u16, id: &str) -> ApiError {
    ApiError::missing(status, "payment_intent", id)
}

pub(crate) fn no_such_pm(pm: &str) -> ApiError {
    ApiError::missing(400, "PaymentMethod", pm).with("param", "payment_method")
}

pub(crate) fn unrecognized(method: &str, path: &str) -> ApiError {
    let message = format!(
        "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we \
         can help at https://support.stripe.com/."
    );
    ApiError::new(404, "invalid_request_error", None, &message)
}
