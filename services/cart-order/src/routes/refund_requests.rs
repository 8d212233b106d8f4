//! `POST /api/v2/orders/{id}/refund-requests`: a learner asks for the refund of their own
//! completed order (what has not been refunded yet). cart-order owns orders, so it checks the
//! request and publishes `refund.requested`; payment puts it in the billing-admins' queue
//! (ADR-001: every refund is approved).

use crate::domain::{CartOrderError, OrderStatus};
use crate::{CartOrder, NAME};
use ::web::idempotency::{self, MaybeIdempotencyKey};
use ::web::{ApiError, Caller, Json, Reply};
use actix_web::{HttpRequest, HttpResponse, web};
use events::commerce::v1 as ev;
use events::subjects;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequestBody {
    /// Why the learner asks (1 to 1000 characters).
    pub reason: String,
    /// The lines to refund (what remains of each); absent = the whole order.
    #[serde(default, rename = "orderItemIds")]
    pub order_item_ids: Option<Vec<Uuid>>,
}

/// A refund request as the learner made it (payment's queue decides it).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = RefundRequested)]
#[serde(rename_all = "camelCase")]
pub struct RefundRequestView {
    id: Uuid,
    order_id: Uuid,
    /// What remains to be refunded of the lines asked about, in minor units of `currency`.
    amount: i64,
    currency: String,
    reason: String,
    /// `requested`
    status: &'static str,
    /// The lines asked about; empty = the whole order.
    order_item_ids: Vec<Uuid>,
}

#[utoipa::path(post, path = "/api/v2/orders/{id}/refund-requests", tag = "orders", security(("bearer" = [])),
    request_body = RefundRequestBody,
    params(("id" = uuid::Uuid, Path), ("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,255}$", description = "Makes a retry safe: the same key and request answer the first answer again (1 to 255 visible ASCII characters)")),
    responses((status = 202, body = RefundRequestView, description = "Requested: a billing-admin decides"),
        (status = 400), (status = 401), (status = 404, description = "Unknown or another learner's order"),
        (status = 409, description = "order_not_refundable"),
        (status = 422, description = "invalid_reason, unknown_order_item")))]
pub async fn request(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<CartOrder>,
    key: MaybeIdempotencyKey,
    id: web::Path<String>,
    body: Json<RefundRequestBody>,
) -> Result<HttpResponse, ApiError> {
    let order_id =
        Uuid::parse_str(&id).map_err(|_| CartOrderError::NotFound(format!("no order `{id}`")))?;
    let reason = body.value.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(ApiError::rule(
            "invalid_reason",
            "a refund request needs a reason of 1 to 1000 characters",
        )
        .with_field("reason"));
    }
    // A line named twice is one line.
    let mut chosen = body.value.order_item_ids.clone().unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    chosen.retain(|id| seen.insert(*id));
    if body.value.order_item_ids.is_some() && chosen.is_empty() {
        return Err(ApiError::rule(
            "unknown_order_item",
            "name at least one line, or leave orderItemIds out for the whole order",
        )
        .with_field("orderItemIds"));
    }
    let fp = idempotency::fingerprint(&req, &body.raw);
    let user = caller.user_id.clone();
    let st = state.clone();
    let resp = idempotency::run(
        &state.db,
        &caller.user_id,
        key.0.as_ref(),
        &fp,
        |txn| async move {
            let order = crate::storage::lock_order(&txn, order_id)
                .await?
                .filter(|o| o.user_id == user)
                .ok_or_else(|| CartOrderError::NotFound(format!("no order `{order_id}`")))?;
            let remaining = if chosen.is_empty() {
                order
                    .total_minor
                    .checked_sub(order.refunded_minor)
                    .ok_or_else(|| {
                        CartOrderError::Corrupt(format!("order {order_id}: refunds overflow"))
                    })?
            } else {
                let items = crate::storage::order_items(&txn, &[order_id])
                    .await?
                    .remove(&order_id)
                    .unwrap_or_default();
                remaining_of(&items, &chosen)?
            };
            let refundable = order.state()? == OrderStatus::Completed && remaining > 0;
            let (Some(payment), true) = (order.payment_id, refundable) else {
                return Err(ApiError::conflict(
                    "order_not_refundable",
                    format!(
                        "the order is {} and has nothing paid to refund",
                        order.status
                    ),
                ));
            };
            let view = RefundRequestView {
                id: kernel::new_id(),
                order_id,
                amount: remaining,
                currency: order.currency.clone(),
                reason: reason.clone(),
                status: "requested",
                order_item_ids: chosen.clone(),
            };
            let e = ev::RefundRequested {
                refund_request_id: view.id.to_string(),
                payment_id: payment.to_string(),
                order_id: order_id.to_string(),
                user_id: user.clone(),
                amount_minor: remaining,
                currency: order.currency.clone(),
                reason,
                requested_by: user.clone(),
                requested_at: st.clock.now().to_rfc3339(),
                order_item_ids: chosen.iter().map(Uuid::to_string).collect(),
            };
            bus::enqueue(&txn, NAME, subjects::REFUND_REQUESTED, &e).await?;
            Ok((
                txn,
                Reply::with_status(actix_web::http::StatusCode::ACCEPTED, view)?,
            ))
        },
    )
    .await?;
    state.outbox.notify_one();
    Ok(resp)
}

/// What is left to refund of the `chosen` lines of an order.
fn remaining_of(items: &[crate::storage::OrderItemRow], chosen: &[Uuid]) -> Result<i64, ApiError> {
    let mut sum = 0i64;
    for id in chosen {
        let line = items.iter().find(|i| i.id == *id).ok_or_else(|| {
            ApiError::rule(
                "unknown_order_item",
                format!("the order has no line `{id}`"),
            )
            .with_field("orderItemIds")
        })?;
        sum = line
            .total_minor()?
            .checked_sub(line.refunded_minor)
            .and_then(|left| sum.checked_add(left))
            .ok_or_else(|| CartOrderError::Corrupt(format!("line {id}: refunds overflow")))?;
    }
    Ok(sum)
}
