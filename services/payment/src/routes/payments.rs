//! `/api/v2/payments/create-intent`, `/confirm`, `/history`. The amount always comes from the
//! order, never from the request; another learner's order or payment is 404.

use crate::Payment;
use crate::domain::{PaymentError, PaymentStatus};
use crate::processor::{
    Confirm, CreateIntent, IntentState, NewCustomer, Outcome, PaymentProcessor, ProcessorError,
};
use crate::storage::{self, NewPayment, PaymentRow};
use ::web::idempotency::{self, MaybeIdempotencyKey};
use ::web::internal::InternalError;
use ::web::page::PageQuery;
use ::web::{ApiError, Caller, Json, Page, Reply};
use actix_web::{HttpRequest, HttpResponse, web};
use kernel::Lifecycle;
use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

use contracts::orders::OrderForPayment;

/// Fields other than `orderId` (an amount, say) are ignored.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntentRequest {
    pub order_id: Uuid,
}

#[utoipa::path(post, path = "/api/v2/payments/create-intent", tag = "payments", security(("bearer" = [])),
    request_body = IntentRequest,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,255}$", description = "Makes a retry safe: the same key and request answer the first answer again (1 to 255 visible ASCII characters)")),
    responses(
        (status = 201, body = crate::views::PaymentView, description = "The payment with its processor intent and client secret"),
        (status = 200, body = crate::views::PaymentView, description = "The order's existing live payment"),
        (status = 400, description = "invalid_body, invalid_idempotency_key"), (status = 401),
        (status = 403, description = "payment_review_required: too many declined attempts; a billing-admin reviews them"),
        (status = 404, description = "Unknown or another learner's order"),
        (status = 409, description = "order_not_pending, nothing_to_pay, payment_in_progress, idempotency_key_in_use, quote_expired (with the re-quoted `total` and `currency`: create the payment again)"),
        (status = 422, description = "card_data_refused, idempotency_key_reused, currency_not_supported (with `supported`: the department's processor does not take the order's currency)"),
        (status = 429), (status = 502, description = "processor_refused"),
        (status = 503, description = "processor_unavailable, database_unavailable")))]
pub async fn create_intent(
    req: HttpRequest,
    state: web::Data<Payment>,
    caller: Caller,
    key: MaybeIdempotencyKey,
    body: Json<IntentRequest>,
) -> Result<HttpResponse, ApiError> {
    let order_id = body.value.order_id;
    let fp = idempotency::fingerprint(&req, &body.raw);
    if let Some(k) = &key.0
        && let Some(stored) = idempotency::replay(&state.db, &caller.user_id, k, &fp).await?
    {
        return Ok(stored);
    }
    let order = payable_order(&state, &caller, order_id).await?;
    // A learner held by the velocity check starts no new payment either.
    velocity_check(&state, &caller.user_id, client_ip(&req).as_deref()).await?;
    // An order has one live payment: answer with it rather than ask the processor again, unless
    // it was begun on a quote that no longer holds: then it is cancelled and the order re-quoted.
    if let Some(existing) = storage::live_for_order(&state.db, order.id).await? {
        if !quote_expired(&order, state.clock.now()) {
            let mut view = owner_view(&state, &existing);
            if !existing.state()?.is_settled()
                && let Some(p) = state.processors.by_name(&existing.processor)
                && let Some(fresh) = p
                    .fresh_client_secret(&existing.processor_intent_id)
                    .await
                    .map_err(processor_error)?
            {
                view.client_secret = Some(fresh);
            }
            return Ok(HttpResponse::Ok().json(view));
        }
        retire(&state, &existing).await?;
        if let Some(still) = storage::live_for_order(&state.db, order.id).await? {
            // The processor had captured it meanwhile: the order completes at that amount.
            return Ok(HttpResponse::Ok().json(owner_view(&state, &still)));
        }
    }
    // An order in a display currency whose quote expired is re-quoted first: the learner sees
    // the new amount and starts the payment again, never charged at a rate that no longer holds.
    if quote_expired(&order, state.clock.now()) {
        let fresh: OrderForPayment = state
            .orders
            .post_json(
                "cart-order",
                &format!(
                    "{}{}",
                    state.orders_base,
                    contracts::orders::requote_path(order.id)
                ),
            )
            .await?;
        let requoted = !quote_expired(&fresh, state.clock.now());
        return Err(PaymentError::QuoteExpired {
            total: fresh.total,
            currency: fresh.currency,
            requoted,
        }
        .into());
    }
    let processor = state
        .processors
        .for_department(order.department_ids.first().map(String::as_str))
        .ok_or_else(|| PaymentError::Corrupt("no payment processor configured".into()))?;
    let amount = order
        .amount()
        .map_err(|e| PaymentError::Corrupt(format!("order {}: {e}", order.id)))?;
    takes_currency(processor.as_ref(), amount)?;
    if !order.lines_sum_to_total() {
        return Err(PaymentError::Corrupt(format!(
            "order {}: its lines do not sum to its total",
            order.id
        ))
        .into());
    }
    let customer = customer_of(&state, processor.as_ref(), &caller.user_id).await?;
    // The processor is called with no transaction open; its idempotency key is the payment id.
    let payment_id = kernel::new_id();
    let intent = processor
        .create_intent(CreateIntent {
            amount,
            order_id: order.id.to_string(),
            payment_id: payment_id.to_string(),
            idempotency_key: payment_id.to_string(),
            customer,
        })
        .await
        .map_err(processor_error)?;
    let st = state.clone();
    let user = caller.user_id.clone();
    idempotency::run(
        &state.db,
        &caller.user_id,
        key.0.as_ref(),
        &fp,
        |txn| async move {
            if let Some(existing) = storage::live_for_order(&txn, order.id).await? {
                return Ok((txn, Reply::ok(owner_view(&st, &existing))?));
            }
            // The quote expired while the processor was asked: no payment is recorded on it
            // (the order may be re-quoted only after a grace period longer than this takes).
            if quote_expired(&order, st.clock.now()) {
                return Err(PaymentError::QuoteExpired {
                    total: order.total,
                    currency: order.currency.clone(),
                    requoted: false,
                }
                .into());
            }
            let row = storage::insert(
                &txn,
                &NewPayment {
                    id: payment_id,
                    order_id: order.id,
                    user_id: &user,
                    processor: processor.name(),
                    intent_id: &intent.intent_id,
                    client_secret: intent.client_secret.as_deref(),
                    amount_minor: amount.amount_minor(),
                    currency: amount.currency().code(),
                },
                st.clock.now(),
            )
            .await
            .map_err(|e| {
                if db::is_unique_violation(&e) {
                    PaymentError::PaymentInProgress
                } else {
                    e.into()
                }
            })?;
            storage::lines::record(&txn, row.id, &order.lines).await?;
            storage::audit(
                &txn,
                row.id,
                "intent_created",
                &user,
                None,
                Some(PaymentStatus::Pending.as_str()),
                serde_json::json!({"intentId": intent.intent_id}),
            )
            .await?;
            Ok((txn, Reply::created(owner_view(&st, &row))?))
        },
    )
    .await
}

/// Refuses an amount in a currency the processor does not take (422 with what it takes).
pub(crate) fn takes_currency(
    processor: &dyn PaymentProcessor,
    amount: kernel::Money,
) -> Result<(), PaymentError> {
    match processor.currencies() {
        Some(taken) if !taken.contains(&amount.currency()) => {
            Err(PaymentError::CurrencyNotSupported {
                processor: processor.name().to_string(),
                currency: amount.currency().code().to_string(),
                supported: taken.iter().map(|c| c.code().to_string()).collect(),
            })
        }
        _ => Ok(()),
    }
}

/// Twelve or more digits look like a card number, unless the processor's tokens are digits
/// (then the Luhn check `Json` made decides).
pub(crate) fn refuse_card_data(
    processor: Option<&dyn PaymentProcessor>,
    method: &str,
) -> Result<(), PaymentError> {
    let digit_tokens = processor.is_some_and(|p| p.takes_digit_tokens());
    if !digit_tokens && method.chars().filter(char::is_ascii_digit).count() >= 12 {
        return Err(PaymentError::CardDataRefused);
    }
    Ok(())
}

/// The payment as its owner sees it at create-intent: with the client secret and the public key
/// the processor's SDK confirms with.
fn owner_view(state: &Payment, p: &PaymentRow) -> crate::views::PaymentView {
    let mut v = p.view(true);
    v.publishable_key = state
        .processors
        .by_name(&p.processor)
        .and_then(|pr| pr.publishable_key());
    v
}

/// The learner's customer at a processor that keeps customers: created there once (the
/// processor's idempotency key is the learner's id, so concurrent first purchases make one),
/// then remembered.
pub(crate) async fn customer_of(
    state: &Payment,
    processor: &dyn PaymentProcessor,
    user_id: &str,
) -> Result<Option<String>, ApiError> {
    if !processor.keeps_customers() {
        return Ok(None);
    }
    if let Some(known) = storage::customer(&state.db, processor.account(), user_id).await? {
        return Ok(Some(known));
    }
    let created = processor
        .create_customer(NewCustomer {
            user_id: user_id.to_string(),
            email: None,
            name: None,
        })
        .await
        .map_err(processor_error)?;
    let kept = storage::remember_customer(
        &state.db,
        processor.account(),
        user_id,
        &created,
        state.clock.now(),
    )
    .await?;
    Ok(Some(kept))
}

/// The caller's order, as cart-order states it, if it can be paid now.
/// Cancels at its processor a payment begun on a quote that expired (asked before any
/// transaction), and records what the processor says: cancelled, or captured after all.
async fn retire(state: &Payment, p: &PaymentRow) -> Result<(), ApiError> {
    let Some(answer) = state
        .processors
        .cancel_open(p, p.state()?.is_settled())
        .await
        .map_err(processor_error)?
    else {
        return Ok(());
    };
    if !matches!(answer, IntentState::Outcome(_)) {
        return Err(PaymentError::PaymentInProgress.into());
    }
    let txn = state.db.begin().await?;
    storage::settle_state(&txn, p.id, &answer, "quote-expired", state.clock.now()).await?;
    txn.commit().await?;
    Ok(())
}

/// The velocity check (spec "Fraud Prevention"): a learner held by a review — as a learner, by
/// their client address, or by a card they were declined with — starts no attempt; too many
/// declines in the window for any of those opens the review that holds them.
async fn velocity_check(state: &Payment, user: &str, ip: Option<&str>) -> Result<(), ApiError> {
    use storage::reviews::Subject;
    let now = state.clock.now();
    let s = storage::reviews::standing(&state.db, user, ip, now - state.velocity_window).await?;
    if s.held {
        return Err(PaymentError::ReviewRequired.into());
    }
    let v = &state.velocity;
    let tripped = [
        (
            Subject::Learner,
            Some(user),
            s.learner_declines,
            v.max_declines,
        ),
        (Subject::Ip, ip, s.ip_declines, v.max_ip_declines),
        (
            Subject::Card,
            s.card.as_deref(),
            s.card_declines,
            v.max_card_declines,
        ),
    ];
    let mut held = false;
    for (kind, subject, declines, max) in tripped {
        if let Some(subject) = subject
            && declines >= max
        {
            let reason = format!(
                "{declines} declined attempts by this {} within {} minutes",
                kind.as_str(),
                state.velocity_window.num_minutes()
            );
            storage::reviews::open(&state.db, kind, subject, user, declines, &reason, now).await?;
            held = true;
        }
    }
    if held {
        return Err(PaymentError::ReviewRequired.into());
    }
    Ok(())
}

/// The caller's address: the peer's, or — when the peer is one of our own hops (loopback or a
/// private address: the gateway, a load balancer in the cluster) — the last address it put in
/// `X-Forwarded-For`.
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    let peer = req.peer_addr().map(|a| a.ip());
    let trusted = peer.is_none_or(|ip| match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_private(),
        std::net::IpAddr::V6(v6) => v6.is_loopback() || v6.is_unique_local(),
    });
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .last();
    match (trusted, forwarded) {
        (true, Some(ip)) => Some(ip.to_string()),
        _ => peer.map(|ip| ip.to_string()),
    }
}

/// Whether the order's display-currency quote no longer holds at `now`.
fn quote_expired(order: &OrderForPayment, now: chrono::DateTime<chrono::Utc>) -> bool {
    order.quote_expires_at.is_some_and(|e| now > e)
}

async fn payable_order(
    state: &Payment,
    caller: &Caller,
    order_id: Uuid,
) -> Result<OrderForPayment, ApiError> {
    let order = fetch_order(state, order_id).await?;
    if order.user_id != caller.user_id {
        return Err(PaymentError::NotFound(format!("no order `{order_id}`")).into());
    }
    if order.status != "pending" {
        return Err(PaymentError::OrderNotPending(order.status).into());
    }
    if order.total <= 0 {
        return Err(PaymentError::NothingToPay.into());
    }
    Ok(order)
}

async fn fetch_order(state: &Payment, order_id: Uuid) -> Result<OrderForPayment, ApiError> {
    state
        .orders
        .get_json(
            "cart-order",
            &format!(
                "{}{}",
                state.orders_base,
                contracts::orders::order_path(order_id)
            ),
        )
        .await
        .map_err(|e| match e {
            InternalError::NotFound => {
                PaymentError::NotFound(format!("no order `{order_id}`")).into()
            }
            other => other.into(),
        })
}

pub(crate) fn processor_error(e: ProcessorError) -> PaymentError {
    match e {
        ProcessorError::Retryable(m) => PaymentError::ProcessorUnavailable(m),
        ProcessorError::Declined(m)
        | ProcessorError::Permanent(m)
        | ProcessorError::InvalidWebhook(m) => PaymentError::ProcessorRefused(m),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmRequest {
    pub payment_id: Uuid,
    /// A processor token such as `pm_card_visa` for a server-side confirmation; absent when the
    /// UI confirmed with Stripe.js (then the processor's own state settles the payment). Card
    /// numbers never reach this API.
    pub payment_method: Option<String>,
}

#[utoipa::path(post, path = "/api/v2/payments/confirm", tag = "payments", security(("bearer" = [])),
    request_body = ConfirmRequest,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,255}$", description = "Makes a retry safe: the same key and request answer the first answer again (1 to 255 visible ASCII characters)")),
    responses(
        (status = 200, body = crate::views::PaymentView, description = "succeeded; pending with `failureReason` after a decline; processing with `nextAction`"),
        (status = 400, description = "invalid_body, invalid_idempotency_key"), (status = 401),
        (status = 403, description = "payment_review_required: too many declined attempts; a billing-admin reviews them"),
        (status = 404, description = "Unknown or another learner's payment"),
        (status = 409, description = "order_not_pending, idempotency_key_in_use, payment_in_progress (a processor without idempotency keys is still answering this payment's attempt: ask again shortly)"),
        (status = 422, description = "card_data_refused, idempotency_key_reused"),
        (status = 429), (status = 502, description = "processor_refused"),
        (status = 503, description = "processor_unavailable, database_unavailable")))]
pub async fn confirm(
    req: HttpRequest,
    state: web::Data<Payment>,
    caller: Caller,
    key: MaybeIdempotencyKey,
    body: Json<ConfirmRequest>,
) -> Result<HttpResponse, ApiError> {
    let input = body.value;
    // A card number anywhere in the body was refused by `Json` (PCI DSS SAQ A).
    let method = input.payment_method.as_deref().unwrap_or_default();
    let fp = idempotency::fingerprint(&req, &body.raw);
    if let Some(k) = &key.0
        && let Some(stored) = idempotency::replay(&state.db, &caller.user_id, k, &fp).await?
    {
        return Ok(stored);
    }
    let user = caller.user_id.clone();
    let p = storage::get(&state.db, input.payment_id)
        .await?
        .filter(|p| p.user_id == user)
        .ok_or_else(|| PaymentError::NotFound(format!("no payment `{}`", input.payment_id)))?;
    refuse_card_data(state.processors.by_name(&p.processor).as_deref(), method)?;
    // Record, call, settle: the processor works with no transaction and no row lock held, so a
    // webhook for this payment never waits on the processor's latency.
    let outcome = if p.state()?.is_settled() {
        None
    } else {
        // Never charge for an order that is no longer waiting for its payment.
        let order = fetch_order(&state, p.order_id).await?;
        if order.status != "pending" {
            // A webhook may have settled this very payment (and completed the order)
            // meanwhile: then the answer is the payment as it now stands.
            if let Some(now) = storage::get(&state.db, p.id).await?
                && now.state()?.is_settled()
            {
                return Ok(HttpResponse::Ok().json(now.view(false)));
            }
            return Err(PaymentError::OrderNotPending(order.status).into());
        }
        let ip = client_ip(&req);
        if input.payment_method.is_some() {
            velocity_check(&state, &user, ip.as_deref()).await?;
        }
        charge(
            &state,
            &p,
            &user,
            ip.as_deref(),
            input.payment_method.as_deref(),
            crate::processor::MethodUse::OnSession,
        )
        .await?
    };
    let st = state.clone();
    let resp = idempotency::run(
        &state.db,
        &caller.user_id,
        key.0.as_ref(),
        &fp,
        |txn| async move {
            let p = storage::lock(&txn, p.id)
                .await?
                .ok_or_else(|| PaymentError::Corrupt("payment vanished".into()))?;
            // The payment as it moved, or as locked when it did not.
            let moved = match &outcome {
                Some(outcome) => storage::settle(&txn, &p, outcome, &user, st.clock.now()).await?,
                None => None,
            };
            let mut view = moved.unwrap_or(p).view(false);
            if let Some(Outcome::RequiresAction { next_action }) = &outcome {
                view.next_action = Some(next_action.clone());
            }
            Ok((txn, Reply::ok(view)?))
        },
    )
    .await?;
    state.outbox.notify_one();
    Ok(resp)
}

/// Asks the processor for the payment's outcome. With a payment method, a confirmation attempt
/// starts (once, however many callers race: the winner counts a new attempt) and the processor
/// is asked to confirm under that attempt's idempotency key; a caller that finds an attempt
/// under way asks for the intent's state, and confirms under the same key only when the
/// processor has none (an attempt whose request never left), which the processor's idempotency
/// makes one charge. Without a payment method (the UI confirmed with Stripe.js) the processor's
/// state is read. `None`: nothing to apply yet. A processor that cannot answer is an error the
/// client can retry.
pub(crate) async fn charge(
    state: &Payment,
    p: &PaymentRow,
    user: &str,
    client_ip: Option<&str>,
    payment_method: Option<&str>,
    usage: crate::processor::MethodUse,
) -> Result<Option<Outcome>, PaymentError> {
    let processor: Arc<dyn PaymentProcessor> = state
        .processors
        .by_name(&p.processor)
        .ok_or_else(|| PaymentError::Corrupt(format!("processor {} unavailable", p.processor)))?;
    let Some(method) = payment_method else {
        return match processor
            .retrieve(&p.processor_intent_id)
            .await
            .map_err(processor_error)?
        {
            IntentState::Outcome(o) => Ok(Some(o)),
            IntentState::Open => Ok(None),
        };
    };
    let attempt =
        storage::start_processing(&state.db, p, user, client_ip, state.clock.now()).await?;
    if !attempt.started {
        if let IntentState::Outcome(o) = processor
            .retrieve(&p.processor_intent_id)
            .await
            .map_err(processor_error)?
        {
            return Ok(Some(o));
        }
        // Without idempotency keys, the attempt under way is sent again only once it has had
        // time to show up at the processor (it did not: it never reached it).
        if let Some(after) = processor.resend_after() {
            let after = chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX);
            if state.clock.now() - p.updated_at < after {
                return Err(PaymentError::PaymentInProgress);
            }
        }
    }
    processor
        .confirm(Confirm {
            intent_id: p.processor_intent_id.clone(),
            payment_method: method.to_string(),
            amount: p.amount()?,
            order_id: p.order_id.to_string(),
            payment_id: p.id.to_string(),
            idempotency_key: storage::confirm_key(p.id, attempt.number),
            usage,
        })
        .await
        .map(Some)
        .map_err(processor_error)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ConfigQuery {
    /// The department whose processor serves the checkout; absent = the default processor.
    #[param(nullable = false)]
    pub department_id: Option<String>,
}

/// `GET /api/v2/payments/config`: which processor serves a department and what its payment form
/// needs. Public: it holds no secret.
/// Which processor a checkout uses and what its client SDK needs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentConfig {
    /// The department asked about; `null`: the default processor.
    pub department_id: Option<String>,
    /// `sandbox`, `stripe`, `gpay`, `square` or `converge`.
    pub processor: String,
    /// The processor's public client settings (publishable key, application id, ...).
    #[schema(value_type = Object)]
    pub client: serde_json::Value,
}

#[utoipa::path(get, path = "/api/v2/payments/config", tag = "payments", params(ConfigQuery),
    responses((status = 200, body = PaymentConfig, description = "The processor that serves the department and what its client SDK needs")))]
pub async fn config(
    state: web::Data<Payment>,
    q: web::Query<ConfigQuery>,
) -> Result<HttpResponse, ApiError> {
    let department = q.department_id.as_deref();
    let processor = state
        .processors
        .for_department(department)
        .ok_or_else(|| PaymentError::Corrupt("no payment processor configured".into()))?;
    Ok(HttpResponse::Ok().json(PaymentConfig {
        department_id: department.map(str::to_string),
        processor: processor.name().to_string(),
        client: processor.client_config(),
    }))
}

#[utoipa::path(get, path = "/api/v2/payments/history", tag = "payments", security(("bearer" = [])),
    params(("cursor" = Option<String>, Query, nullable = false, pattern = "^$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "The `nextCursor` of the previous page (empty: the first page)"), ("limit" = Option<u64>, Query, nullable = false, minimum = 1, maximum = 100, description = "Items per page, 1 to 100 (default 20)")),
    responses(
        (status = 200, body = ::web::Page<crate::views::PaymentView>, description = "The caller's payments, newest first, each with its refunds"),
        (status = 400, description = "invalid_query"), (status = 401)))]
pub async fn history(
    state: web::Data<Payment>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = q.into_inner();
    let limit = page.limit()?;
    let rows = storage::history(&state.db, &caller.user_id, page.cursor()?, limit).await?;
    let page = Page::from_rows(rows, limit, |p| p.id.to_string());
    let ids: Vec<Uuid> = page.items.iter().map(|p| p.id).collect();
    let refunds = crate::storage::refunds::of_payments(&state.db, &ids).await?;
    let items = page
        .items
        .iter()
        .map(|p| {
            let mut v = p.view(false);
            v.refunds = Some(
                refunds
                    .iter()
                    .filter(|r| r.payment_id == p.id)
                    .map(|r| r.view())
                    .collect(),
            );
            v
        })
        .collect::<Vec<_>>();
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: page.next_cursor,
    }))
}
