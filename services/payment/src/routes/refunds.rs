//! Refunds (ADR-001: a billing-admin decides every refund). `POST /api/v2/admin/payments/{id}/refund`
//! creates and approves one in a step: recorded `processing` under the payment's row lock (so
//! refunds racing each other never give back more than was captured), sent to the processor with
//! no transaction open (its idempotency key is the refund id), then settled.

use crate::Payment;
use crate::domain::{PaymentError, PaymentStatus, refund};
use crate::processor::{ProcessorError, Refund};
use crate::storage::{self, refunds};
use ::web::idempotency::MaybeIdempotencyKey;
use ::web::{ApiError, Authorized, Json, roles};
use actix_web::{HttpResponse, web};
use sea_orm::TransactionTrait;
use serde::Deserialize;
use uuid::Uuid;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefundBody {
    /// In minor units of the payment's currency; absent = everything not yet refunded (of the
    /// chosen lines).
    pub amount: Option<i64>,
    /// The order lines to refund; absent = all of them. The amount is split over them in
    /// proportion to what remains of each (largest remainder).
    #[serde(default, rename = "orderItemIds")]
    pub order_item_ids: Option<Vec<Uuid>>,
    /// Why the money goes back (1 to 1000 characters).
    pub reason: String,
}

#[utoipa::path(post, path = "/api/v2/admin/payments/{id}/refund", tag = "payments", security(("bearer" = [])),
    request_body = RefundBody,
    params(("id" = uuid::Uuid, Path, description = "The payment"), ("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,255}$", description = "Makes a retry safe: the same key and request answer the first answer again (1 to 255 visible ASCII characters)")),
    responses(
        (status = 201, body = crate::views::RefundView, description = "The refund: `succeeded`, `failed` (it can be tried again), or `processing` (the processor settles it later: a webhook, or the sweeper asking again)"),
        (status = 200, body = crate::views::RefundView, description = "The refund this Idempotency-Key already made"),
        (status = 400), (status = 401), (status = 403), (status = 404),
        (status = 409, description = "payment_not_captured, idempotency_key_in_use"),
        (status = 422, description = "refund_exceeds_captured (with `remaining`), invalid_refund, idempotency_key_reused")))]
pub async fn refund(
    caller: Authorized<roles::BillingAdmin>,
    state: web::Data<Payment>,
    key: MaybeIdempotencyKey,
    id: web::Path<String>,
    body: Json<RefundBody>,
) -> Result<HttpResponse, ApiError> {
    let payment_id =
        Uuid::parse_str(&id).map_err(|_| PaymentError::NotFound(format!("no payment `{id}`")))?;
    let input = body.into_inner();
    let reason = input.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(ApiError::from(PaymentError::InvalidRefund(
            "a refund needs a reason of 1 to 1000 characters".into(),
        ))
        .with_field("reason"));
    }
    let scoped_key = key
        .0
        .as_ref()
        .map(|k| format!("{}:{}", caller.user_id, k.as_str()));
    if let Some(k) = &scoped_key
        && let Some(done) = refunds::by_key(&state.db, k).await?
    {
        let same = done.payment_id == payment_id
            && input.amount.is_none_or(|a| a == done.amount_minor)
            && done.reason == reason;
        if !same {
            return Err(ApiError::rule(
                "idempotency_key_reused",
                "this Idempotency-Key was used for another refund",
            ));
        }
        return Ok(HttpResponse::Ok()
            .insert_header(("Idempotent-Replayed", "true"))
            .json(done.view()));
    }

    let settled = issue(
        &state,
        IssueRefund {
            payment_id,
            amount: input.amount,
            reason: &reason,
            by: &caller.user_id,
            idempotency_key: scoped_key,
            lines: input.order_item_ids.as_deref().unwrap_or_default(),
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(settled.view()))
}

/// One refund to make: of `payment_id`, `amount` (or all that remains), decided by `by`.
pub struct IssueRefund<'a> {
    pub payment_id: Uuid,
    pub amount: Option<i64>,
    pub reason: &'a str,
    pub by: &'a str,
    pub idempotency_key: Option<String>,
    /// The order lines it is for; empty = all.
    pub lines: &'a [Uuid],
}

/// Record (under the payment's row lock, so the cap holds against concurrent refunds), call the
/// processor with nothing open, settle. Returns the refund as it settled.
pub async fn issue(state: &Payment, r: IssueRefund<'_>) -> Result<refunds::RefundRow, ApiError> {
    let IssueRefund {
        payment_id,
        amount: requested,
        reason,
        by,
        idempotency_key,
        lines,
    } = r;
    // 1. Record.
    let txn = state.db.begin().await?;
    let payment = storage::lock(&txn, payment_id)
        .await?
        .ok_or_else(|| PaymentError::NotFound(format!("no payment `{payment_id}`")))?;
    if payment.state()? != PaymentStatus::Succeeded {
        return Err(PaymentError::PaymentNotCaptured(payment.status.clone()).into());
    }
    let held = refunds::held(&txn, &payment).await?;
    let balances = storage::lines::balances(&txn, &payment).await?;
    let (amount, split) =
        refund::allocate_refund(payment.amount()?.currency(), &balances, lines, requested)?;
    // The lines' balances and the payment's own cap agree; both must hold.
    refund::refund_amount(payment.amount()?, held, Some(amount.amount_minor()))?;
    let new = refunds::NewRefund {
        id: kernel::new_id(),
        idempotency_key,
        payment_id,
        amount,
        reason,
        approved_by: by,
    };
    let recorded = refunds::insert(&txn, &new, state.clock.now())
        .await
        .map_err(|e| {
            if db::is_unique_violation(&e) {
                ApiError::conflict(
                    "idempotency_key_in_use",
                    "a refund with this Idempotency-Key is in progress",
                )
            } else {
                e.into()
            }
        })?;
    storage::lines::record_split(&txn, recorded.id, &split).await?;
    storage::audit(
        &txn,
        payment_id,
        "refund_started",
        by,
        Some(&payment.status),
        Some(&payment.status),
        serde_json::json!({"refundId": recorded.id, "amount": amount.amount_minor()}),
    )
    .await?;
    txn.commit().await?;

    // 2. Call the processor with nothing open.
    let processor = state
        .processors
        .by_name(&payment.processor)
        .ok_or_else(|| {
            PaymentError::Corrupt(format!("processor {} unavailable", payment.processor))
        })?;
    let answer = match processor
        .refund(Refund {
            intent_id: payment.processor_intent_id.clone(),
            transaction_id: payment.transaction_id.clone(),
            amount,
            idempotency_key: recorded.id.to_string(),
            reason: Some(reason.to_string()),
        })
        .await
    {
        Ok(r) => refunds::Answer::of(&r),
        // Unknown whether the processor refunded: the refund stays in flight (holding its
        // share) and the sweeper asks again under the same idempotency key. The caller gets
        // the refund `processing`, so a request it came from stays decided and is never
        // approved twice.
        Err(ProcessorError::Retryable(m)) => {
            tracing::warn!(refund = %recorded.id, error = %m, "processor unavailable; the refund stays in flight");
            state.outbox.notify_one();
            return Ok(recorded);
        }
        // Only a refusal made before any refund existed frees the amount.
        Err(e @ (ProcessorError::Declined(_) | ProcessorError::Permanent(_))) => {
            refunds::Answer::Refused(e.to_string())
        }
        Err(e) => {
            tracing::error!(refund = %recorded.id, error = %e, "unexpected processor answer; the refund stays in flight");
            return Ok(recorded);
        }
    };

    // 3. Settle. The processor has been asked: whatever goes wrong now leaves the refund in
    // flight (the webhook or the sweeper settles it), never an error that would let its
    // request be approved again.
    match settle_issued(state, payment_id, &recorded, &answer, by).await {
        Ok(settled) => Ok(settled),
        Err(e) => {
            tracing::error!(refund = %recorded.id, error = ?e, "refund not settled after the processor answered; it stays in flight");
            Ok(recorded)
        }
    }
}

/// Settles an issued refund with the processor's answer, locking in the order every writer
/// takes them (the payment, then its refund), so a webhook settling the same refund waits
/// instead of deadlocking.
async fn settle_issued(
    state: &Payment,
    payment_id: Uuid,
    recorded: &refunds::RefundRow,
    answer: &refunds::Answer,
    by: &str,
) -> Result<refunds::RefundRow, ApiError> {
    let txn = state.db.begin().await?;
    let payment = storage::lock(&txn, payment_id)
        .await?
        .ok_or_else(|| PaymentError::Corrupt(format!("payment {payment_id} vanished")))?;
    let current = refunds::lock(&txn, recorded.id)
        .await?
        .ok_or_else(|| PaymentError::Corrupt(format!("refund {} vanished", recorded.id)))?;
    let settled = refunds::settle(&txn, &current, &payment, answer, state.clock.now()).await?;
    storage::audit(
        &txn,
        payment_id,
        match settled.state()? {
            crate::domain::RefundStatus::Succeeded => "refunded",
            crate::domain::RefundStatus::Failed => "refund_failed",
            crate::domain::RefundStatus::Processing => "refund_pending",
        },
        by,
        Some(&payment.status),
        Some(&payment.status),
        serde_json::json!({"refundId": settled.id, "failureReason": settled.failure_reason}),
    )
    .await?;
    txn.commit().await?;
    state.outbox.notify_one();
    Ok(settled)
}
