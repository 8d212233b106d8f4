//! `/api/v2/payments/create-intent`, `/confirm`, `/history`. The amount always comes from the
//! order, never from the request; another learner's order or payment is 404.

use crate::Payment;
use crate::processor::{Confirm, CreateIntent, Outcome};
use crate::storage::{self, NewPayment};
use ::web::idempotency::{self, MaybeIdempotencyKey};
use ::web::internal::InternalError;
use ::web::page::PageQuery;
use ::web::{ApiError, Caller, Json, Page, Reply};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use uuid::Uuid;

pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<Payment>) {
    cfg.app_data(state)
        .route(
            "/api/v2/payments/create-intent",
            web::post().to(create_intent),
        )
        .route("/api/v2/payments/confirm", web::post().to(confirm))
        .route("/api/v2/payments/history", web::get().to(history));
}

/// What cart-order tells us about an order.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderForPayment {
    pub id: Uuid,
    pub user_id: String,
    pub status: String,
    pub total: i64,
    pub currency: String,
    pub department_ids: Vec<String>,
}

/// Fields other than `orderId` (an amount, say) are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntentRequest {
    pub order_id: Uuid,
}

#[utoipa::path(post, path = "/api/v2/payments/create-intent", tag = "payments", request_body(content = Object, description = "`{orderId}`; the amount always comes from the order"), params(("Idempotency-Key" = Option<String>, Header)), responses((status = 201, description = "The payment with its processor intent and client secret"), (status = 200, description = "The order's existing payment"), (status = 404), (status = 409, description = "order_not_pending, nothing_to_pay, idempotency_key_in_use")))]
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
    let order: OrderForPayment = state
        .orders
        .get_json(
            "cart-order",
            &format!("{}/internal/v1/orders/{order_id}", state.orders_base),
        )
        .await
        .map_err(|e| match e {
            InternalError::NotFound => ApiError::not_found(format!("no order `{order_id}`")),
            other => other.into(),
        })?;
    if order.user_id != caller.user_id {
        return Err(ApiError::not_found(format!("no order `{order_id}`")));
    }
    if order.status != "pending" {
        return Err(ApiError::conflict(
            "order_not_pending",
            format!("the order is {}", order.status),
        ));
    }
    if order.total <= 0 {
        return Err(ApiError::conflict(
            "nothing_to_pay",
            "a free order completes without a payment",
        ));
    }
    let processor = state
        .processors
        .for_department(order.department_ids.first().map(String::as_str))
        .ok_or_else(|| ApiError::internal("no payment processor configured"))?;
    let st = state.clone();
    let user = caller.user_id.clone();
    idempotency::run(
        &state.db,
        &caller.user_id,
        key.0.as_ref(),
        &fp,
        |txn| async move {
            if let Some(existing) = storage::live_for_order(&txn, order.id).await? {
                return Ok((txn, Reply::ok(existing.view(true))?));
            }
            let payment_id = kernel::new_id();
            let intent = processor
                .create_intent(CreateIntent {
                    amount_minor: order.total,
                    currency: order.currency.clone(),
                    order_id: order.id.to_string(),
                    payment_id: payment_id.to_string(),
                    idempotency_key: payment_id.to_string(),
                })
                .await
                .map_err(|e| ApiError::unavailable("processor_unavailable", e.to_string()))?;
            let now = st.clock.now();
            let row = storage::insert(
                &txn,
                &NewPayment {
                    id: payment_id,
                    order_id: order.id,
                    user_id: &user,
                    processor: processor.name(),
                    intent_id: &intent.intent_id,
                    client_secret: intent.client_secret.as_deref(),
                    amount_minor: order.total,
                    currency: &order.currency,
                },
                now,
            )
            .await
            .map_err(|e| {
                if db::is_unique_violation(&e) {
                    ApiError::conflict(
                        "payment_in_progress",
                        "another payment for this order is being created; retry",
                    )
                } else {
                    e.into()
                }
            })?;
            storage::audit(
                &txn,
                row.id,
                "intent_created",
                &user,
                None,
                Some("pending"),
                serde_json::json!({"intentId": intent.intent_id}),
            )
            .await?;
            Ok((txn, Reply::created(row.view(true))?))
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmRequest {
    pub payment_id: Uuid,
    /// A processor token such as `pm_card_visa`; card numbers never reach this API.
    pub payment_method: String,
}

#[utoipa::path(post, path = "/api/v2/payments/confirm", tag = "payments", request_body(content = Object, description = "`{paymentId, paymentMethod}` with a processor token (sandbox: pm_card_visa, pm_card_visa_chargeDeclined, pm_card_authenticationRequired)"), params(("Idempotency-Key" = Option<String>, Header)), responses((status = 200, description = "succeeded, failed, or processing with `nextAction`"), (status = 400, description = "card_data_refused"), (status = 404)))]
pub async fn confirm(
    req: HttpRequest,
    state: web::Data<Payment>,
    caller: Caller,
    key: MaybeIdempotencyKey,
    body: Json<ConfirmRequest>,
) -> Result<HttpResponse, ApiError> {
    let input = body.value;
    // Twelve or more digits look like a card number: refuse it rather than let card data touch
    // our systems (PCI DSS SAQ A).
    if input
        .payment_method
        .chars()
        .filter(char::is_ascii_digit)
        .count()
        >= 12
    {
        return Err(ApiError::bad_request(
            "card_data_refused",
            "send a processor payment-method token, never card data",
        )
        .with_field("paymentMethod"));
    }
    let fp = idempotency::fingerprint(&req, &body.raw);
    if let Some(k) = &key.0
        && let Some(stored) = idempotency::replay(&state.db, &caller.user_id, k, &fp).await?
    {
        return Ok(stored);
    }
    // Never charge for an order that is no longer waiting for its payment.
    if let Some(p) = storage::get(&state.db, input.payment_id)
        .await?
        .filter(|p| p.user_id == caller.user_id)
        && matches!(p.status.as_str(), "pending" | "processing")
    {
        let order: OrderForPayment = state
            .orders
            .get_json(
                "cart-order",
                &format!("{}/internal/v1/orders/{}", state.orders_base, p.order_id),
            )
            .await
            .map_err(ApiError::from)?;
        if order.status != "pending" {
            // A webhook may have settled this very payment (and completed the order) meanwhile:
            // then the answer is the payment as it now stands.
            if let Some(now) = storage::get(&state.db, p.id).await?
                && matches!(now.status.as_str(), "succeeded" | "failed" | "cancelled")
            {
                return Ok(HttpResponse::Ok().json(now.view(false)));
            }
            return Err(ApiError::conflict(
                "order_not_pending",
                format!("the order is {}", order.status),
            ));
        }
    }
    let st = state.clone();
    let user = caller.user_id.clone();
    let resp = idempotency::run(
        &state.db,
        &caller.user_id,
        key.0.as_ref(),
        &fp,
        |txn| async move {
            // No row lock while the processor works: a webhook for this payment must not wait on
            // the processor's latency. The transitions themselves are guarded updates.
            let p = storage::get(&st.db, input.payment_id)
                .await?
                .filter(|p| p.user_id == user)
                .ok_or_else(|| ApiError::not_found(format!("no payment `{}`", input.payment_id)))?;
            if matches!(p.status.as_str(), "succeeded" | "failed" | "cancelled") {
                return Ok((txn, Reply::ok(p.view(false))?));
            }
            let now = st.clock.now();
            storage::start_processing(&st.db, &p, &user, now).await?;
            let processor = st.processors.by_name(&p.processor).ok_or_else(|| {
                ApiError::internal(format!("processor {} unavailable", p.processor))
            })?;
            let outcome = processor
                .confirm(Confirm {
                    intent_id: p.processor_intent_id.clone(),
                    payment_method: input.payment_method.clone(),
                    amount_minor: p.amount_minor,
                    currency: p.currency.trim().to_string(),
                    order_id: p.order_id.to_string(),
                    payment_id: p.id.to_string(),
                })
                .await
                .map_err(|e| ApiError::unavailable("processor_unavailable", e.to_string()))?;
            let p = storage::lock(&txn, p.id)
                .await?
                .ok_or_else(|| ApiError::internal("payment vanished"))?;
            storage::settle(&txn, &p, &outcome, &user, st.clock.now()).await?;
            let mut view = storage::get(&txn, p.id)
                .await?
                .ok_or_else(|| ApiError::internal("payment vanished"))?
                .view(false);
            if let Outcome::RequiresAction { next_action } = &outcome {
                view.next_action = Some(next_action.clone());
            }
            Ok((txn, Reply::ok(view)?))
        },
    )
    .await?;
    state.outbox.notify_one();
    Ok(resp)
}

#[utoipa::path(get, path = "/api/v2/payments/history", tag = "payments", responses((status = 200, description = "The caller's payments, newest first"), (status = 401)))]
pub async fn history(
    state: web::Data<Payment>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = q.into_inner();
    let limit = page.limit()?;
    let rows = storage::history(&state.db, &caller.user_id, page.cursor()?, limit).await?;
    let page = Page::from_rows(rows, limit, |p| p.id.to_string());
    Ok(HttpResponse::Ok().json(Page {
        items: page.items.iter().map(|p| p.view(false)).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Cadence Commerce — payments", version = "2"),
    paths(create_intent, confirm, history),
    tags((name = "payments", description = "Intents, confirmations, history"))
)]
struct PaymentApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    <PaymentApi as utoipa::OpenApi>::openapi()
}
