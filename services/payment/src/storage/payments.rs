//! Payments, their transitions (guarded updates derived from [`PaymentStatus`]), and the
//! append-only audit log.

use crate::NAME;
use crate::domain::{PaymentEvent, PaymentStatus};
use crate::events as published;
use crate::processor::Outcome;
use ::events::subjects;
use chrono::{DateTime, Utc};
use kernel::Lifecycle;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Value};
use uuid::Uuid;

use db::stmt as pg;

#[derive(Debug, Clone, FromQueryResult)]
pub struct PaymentRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub user_id: String,
    pub processor: String,
    pub processor_intent_id: String,
    pub client_secret: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub status: String,
    pub failure_reason: Option<String>,
    pub transaction_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    /// What the processor kept of the capture (set when it succeeds).
    pub processor_fee_minor: Option<i64>,
    /// A chargeback, when the cardholder disputed the payment.
    pub dispute_id: Option<String>,
    pub dispute_reason: Option<String>,
    pub disputed_at: Option<DateTime<Utc>>,
    /// `card` or `google_pay`, from the processor's charge.
    pub method_type: Option<String>,
    /// Confirmation attempts so far; the current one names the processor idempotency key.
    pub confirm_attempts: i32,
    /// The client address of the current confirmation attempt (the velocity check counts
    /// declines per address).
    pub attempt_ip: Option<String>,
}

const COLS: &str = "id, order_id, user_id, processor, processor_intent_id, client_secret, amount_minor, currency, \
    status, failure_reason, transaction_id, created_at, updated_at, processed_at, processor_fee_minor, \
    dispute_id, dispute_reason, disputed_at, method_type, confirm_attempts, attempt_ip";

pub struct NewPayment<'a> {
    pub id: Uuid,
    pub order_id: Uuid,
    pub user_id: &'a str,
    pub processor: &'a str,
    pub intent_id: &'a str,
    pub client_secret: Option<&'a str>,
    pub amount_minor: i64,
    pub currency: &'a str,
}

pub async fn insert(
    c: &impl ConnectionTrait,
    p: &NewPayment<'_>,
    now: DateTime<Utc>,
) -> Result<PaymentRow, DbErr> {
    PaymentRow::find_by_statement(pg(
        &format!(
            "INSERT INTO payments (id, order_id, user_id, processor, processor_intent_id, client_secret, amount_minor,
                 currency, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9) RETURNING {COLS}"
        ),
        vec![
            p.id.into(),
            p.order_id.into(),
            p.user_id.into(),
            p.processor.into(),
            p.intent_id.into(),
            p.client_secret.map(str::to_string).into(),
            p.amount_minor.into(),
            p.currency.into(),
            now.into(),
        ],
    ))
    .one(c)
    .await?
    .ok_or(DbErr::RecordNotInserted)
}

pub async fn live_for_order(
    c: &impl ConnectionTrait,
    order: Uuid,
) -> Result<Option<PaymentRow>, DbErr> {
    PaymentRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM payments WHERE order_id = $1 AND NOT (status = ANY($2))"),
        vec![
            order.into(),
            vec![
                PaymentStatus::Failed.as_str().to_string(),
                PaymentStatus::Cancelled.as_str().to_string(),
            ]
            .into(),
        ],
    ))
    .one(c)
    .await
}

/// The order's captured payment, if any.
pub async fn captured_for_order(
    c: &impl ConnectionTrait,
    order: Uuid,
) -> Result<Option<PaymentRow>, DbErr> {
    PaymentRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM payments WHERE order_id = $1 AND status = $2"),
        vec![order.into(), PaymentStatus::Succeeded.as_str().into()],
    ))
    .one(c)
    .await
}

pub async fn get(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<PaymentRow>, DbErr> {
    PaymentRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM payments WHERE id = $1"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

pub async fn lock(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<PaymentRow>, DbErr> {
    PaymentRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM payments WHERE id = $1 FOR UPDATE"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

/// The payment of a processor intent, unlocked (read before a transaction opens).
pub async fn by_intent(
    c: &impl ConnectionTrait,
    intent: &str,
) -> Result<Option<PaymentRow>, DbErr> {
    PaymentRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM payments WHERE processor_intent_id = $1"),
        vec![intent.into()],
    ))
    .one(c)
    .await
}

/// The processor idempotency key of the payment's current confirmation attempt.
pub fn confirm_key(payment: Uuid, attempt: i32) -> String {
    format!("{payment}-confirm-{attempt}")
}

pub async fn lock_by_intent(
    c: &impl ConnectionTrait,
    intent: &str,
) -> Result<Option<PaymentRow>, DbErr> {
    PaymentRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM payments WHERE processor_intent_id = $1 FOR UPDATE"),
        vec![intent.into()],
    ))
    .one(c)
    .await
}

pub async fn history(
    c: &impl ConnectionTrait,
    user: &str,
    cursor: Option<Uuid>,
    limit: u64,
) -> Result<Vec<PaymentRow>, DbErr> {
    let (clause, mut values): (&str, Vec<Value>) = match cursor {
        Some(cur) => ("AND id < $2", vec![user.into(), cur.into()]),
        None => ("", vec![user.into()]),
    };
    values.push(((limit + 1) as i64).into());
    PaymentRow::find_by_statement(pg(
        &format!(
            "SELECT {COLS} FROM payments WHERE user_id = $1 {clause} ORDER BY id DESC LIMIT ${}",
            values.len()
        ),
        values,
    ))
    .all(c)
    .await
}

pub async fn audit(
    c: &impl ConnectionTrait,
    payment: Uuid,
    action: &str,
    actor: &str,
    from: Option<&str>,
    to: Option<&str>,
    detail: serde_json::Value,
) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "INSERT INTO payment_audit (payment_id, action, actor, from_status, to_status, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        vec![
            payment.into(),
            action.into(),
            actor.into(),
            from.map(str::to_string).into(),
            to.map(str::to_string).into(),
            detail.into(),
        ],
    ))
    .await?;
    Ok(())
}

impl PaymentRow {
    /// The payment's amount; a currency the kernel does not know is corrupt data.
    pub fn amount(&self) -> Result<kernel::Money, DbErr> {
        let currency = kernel::Currency::parse(&self.currency)
            .map_err(|e| DbErr::Custom(format!("payment {}: {e}", self.id)))?;
        Ok(kernel::Money::new(self.amount_minor, currency))
    }

    /// The row's status as the domain knows it; an unknown value is corrupt data.
    pub fn state(&self) -> Result<PaymentStatus, DbErr> {
        PaymentStatus::parse(&self.status).map_err(|e| DbErr::Custom(e.to_string()))
    }
}

/// pending → processing (a confirmation has started); audited when it moved.
/// The confirmation attempt a caller goes on with: `started` when this call moved the payment
/// `pending → processing` (a new attempt), otherwise the attempt already under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub number: i32,
    pub started: bool,
}

/// Starts a confirmation attempt once: of concurrent callers only one moves the payment and
/// counts a new attempt; the others learn the attempt under way.
pub async fn start_processing(
    c: &impl ConnectionTrait,
    p: &PaymentRow,
    actor: &str,
    client_ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Attempt, DbErr> {
    let event = PaymentEvent::ConfirmStarted;
    if let Ok(to) = p.state()?.apply(&event) {
        let row = c
            .query_one_raw(pg(
                "UPDATE payments SET status = $3, updated_at = $4, confirm_attempts = confirm_attempts + 1,
                     attempt_ip = $5
                 WHERE id = $1 AND status = ANY($2) RETURNING confirm_attempts",
                vec![
                    p.id.into(),
                    PaymentStatus::sources(&event).into(),
                    to.as_str().into(),
                    now.into(),
                    client_ip.map(str::to_string).into(),
                ],
            ))
            .await?;
        if let Some(row) = row {
            let number: i32 = row.try_get("", "confirm_attempts")?;
            audit(
                c,
                p.id,
                "confirm_started",
                actor,
                Some(&p.status),
                Some(to.as_str()),
                serde_json::json!({"attempt": number}),
            )
            .await?;
            return Ok(Attempt {
                number,
                started: true,
            });
        }
    }
    let number = match get(c, p.id).await? {
        Some(now) => now.confirm_attempts,
        None => return Err(DbErr::RecordNotFound(format!("payment {}", p.id))),
    };
    Ok(Attempt {
        number,
        started: false,
    })
}

/// `payment_outcomes_total{processor, outcome}`: each settled outcome when its move is made (a
/// move that did not happen is not counted; a transaction rolled back and retried counts again),
/// and each report of a request for customer action.
fn outcome_counted(p: &PaymentRow, outcome: &'static str) {
    metrics::counter!("payment_outcomes_total", "processor" => p.processor.clone(), "outcome" => outcome)
        .increment(1);
}

/// Records what a processor said of payment `id` after a cancellation
/// ([`crate::processor::Processors::cancel_open`]), under the payment's lock; an intent still
/// under way changes nothing (false).
pub async fn settle_state(
    c: &impl ConnectionTrait,
    id: Uuid,
    state: &crate::processor::IntentState,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let crate::processor::IntentState::Outcome(outcome) = state else {
        return Ok(false);
    };
    match lock(c, id).await? {
        Some(p) => Ok(settle(c, &p, outcome, actor, now).await?.is_some()),
        None => Ok(false),
    }
}

/// Applies a processor outcome exactly once: only the domain's legal move happens, as a guarded
/// update, and only that move writes `payment.succeeded` / `payment.failed`. Returns the payment
/// as it moved (the update's own answer), `None` when it did not move.
pub async fn settle(
    c: &impl ConnectionTrait,
    p: &PaymentRow,
    outcome: &Outcome,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Option<PaymentRow>, DbErr> {
    let (event, reason, txid, fee) = match outcome {
        Outcome::Succeeded {
            transaction_id,
            fee,
            ..
        } => {
            if fee.currency().code() != p.currency {
                return Err(DbErr::Custom(format!(
                    "payment {}: fee {fee} is not in {}",
                    p.id, p.currency
                )));
            }
            let fee = Some(fee.amount_minor());
            (
                PaymentEvent::Captured,
                None,
                Some(transaction_id.clone()),
                fee,
            )
        }
        Outcome::Failed { reason, .. } => {
            (PaymentEvent::Declined, Some(reason.clone()), None, None)
        }
        Outcome::Cancelled { reason } => (PaymentEvent::Cancel, Some(reason.clone()), None, None),
        Outcome::Processing => return Ok(None),
        Outcome::RequiresAction { next_action } => {
            outcome_counted(p, "requires_action");
            audit(
                c,
                p.id,
                "requires_action",
                actor,
                Some(&p.status),
                Some(&p.status),
                serde_json::json!({"nextAction": next_action}),
            )
            .await?;
            return Ok(None);
        }
    };
    let method = match outcome {
        Outcome::Succeeded { method, .. } => Some(*method),
        _ => None,
    };
    let Ok(to) = p.state()?.apply(&event) else {
        return Ok(None);
    };
    let moved = PaymentRow::find_by_statement(pg(
            &format!("UPDATE payments SET status = $3, failure_reason = $4, transaction_id = $5, updated_at = $6,
                 processed_at = CASE WHEN $7 THEN $6 ELSE processed_at END,
                 processor_fee_minor = COALESCE($8, processor_fee_minor),
                 method_type = COALESCE($9, method_type)
             WHERE id = $1 AND status = ANY($2)
             RETURNING {COLS}"),
            vec![
                p.id.into(),
                PaymentStatus::sources(&event).into(),
                to.as_str().into(),
                reason.clone().into(),
                txid.clone().into(),
                now.into(),
                to.is_settled().into(),
                fee.into(),
                method.map(|m| m.as_str()).into(),
            ],
        ))
        .one(c)
        .await?;
    let Some(moved) = moved else {
        return Ok(None);
    };
    let action = match event {
        PaymentEvent::Declined => "declined",
        _ => to.as_str(),
    };
    outcome_counted(
        p,
        match event {
            PaymentEvent::Captured => "succeeded",
            PaymentEvent::Declined => "declined",
            _ => "cancelled",
        },
    );
    let method = method.map(|m| m.as_str());
    audit(
        c,
        p.id,
        action,
        actor,
        Some(&p.status),
        Some(to.as_str()),
        serde_json::json!({"reason": reason, "transactionId": txid, "processorFee": fee, "method": method}),
    )
    .await?;
    match outcome {
        Outcome::Succeeded {
            transaction_id,
            fee,
            method,
        } => {
            let e = published::payment_succeeded(p, transaction_id, *fee, *method, now);
            bus::enqueue(c, NAME, subjects::PAYMENT_SUCCEEDED, &e).await?;
        }
        Outcome::Failed {
            reason,
            fingerprint,
        } => {
            // Counted by the velocity check: per learner, per card, per client address.
            c.execute_raw(pg(
                "INSERT INTO payment_declines (payment_id, attempt, user_id, card_fingerprint, client_ip, at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                vec![
                    p.id.into(),
                    p.confirm_attempts.into(),
                    p.user_id.clone().into(),
                    fingerprint.clone().into(),
                    p.attempt_ip.clone().into(),
                    now.into(),
                ],
            ))
            .await?;
            let e = published::payment_failed(p, reason, now);
            bus::enqueue(c, NAME, subjects::PAYMENT_FAILED, &e).await?;
        }
        Outcome::Cancelled { reason } => {
            let e = published::payment_cancelled(p, reason, now);
            bus::enqueue(c, NAME, subjects::PAYMENT_CANCELLED, &e).await?;
        }
        Outcome::RequiresAction { .. } | Outcome::Processing => {}
    }
    Ok(Some(moved))
}

/// Records a dispute on the payment, once (the first dispute id wins; a repeated webhook changes
/// nothing), audits it and publishes `payment.disputed`. No automatic action follows.
pub async fn record_dispute(
    c: &impl ConnectionTrait,
    p: &PaymentRow,
    dispute_id: &str,
    amount: kernel::Money,
    reason: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let moved = c
        .execute_raw(pg(
            "UPDATE payments SET dispute_id = $2, dispute_reason = $3, disputed_at = $4, updated_at = $4
             WHERE id = $1 AND dispute_id IS NULL",
            vec![p.id.into(), dispute_id.into(), reason.into(), now.into()],
        ))
        .await?
        .rows_affected()
        == 1;
    if !moved {
        return Ok(false);
    }
    audit(
        c,
        p.id,
        "disputed",
        actor,
        Some(&p.status),
        Some(&p.status),
        serde_json::json!({"disputeId": dispute_id, "reason": reason, "amount": amount.amount_minor()}),
    )
    .await?;
    let e = published::payment_disputed(p, dispute_id, amount, reason, now);
    bus::enqueue(c, NAME, subjects::PAYMENT_DISPUTED, &e).await?;
    Ok(true)
}

/// The learner's customer at a processor account, if created.
pub async fn customer(
    c: &impl ConnectionTrait,
    account: &str,
    user_id: &str,
) -> Result<Option<String>, DbErr> {
    let row = c
        .query_one_raw(pg(
            "SELECT customer_id FROM processor_customers WHERE account = $1 AND user_id = $2",
            vec![account.into(), user_id.into()],
        ))
        .await?;
    row.map(|r| r.try_get("", "customer_id")).transpose()
}

/// Records the learner's customer; the first recorded wins and is returned.
pub async fn remember_customer(
    c: &impl ConnectionTrait,
    account: &str,
    user_id: &str,
    customer_id: &str,
    now: DateTime<Utc>,
) -> Result<String, DbErr> {
    c.execute_raw(pg(
        "INSERT INTO processor_customers (account, user_id, customer_id, created_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        vec![
            account.into(),
            user_id.into(),
            customer_id.into(),
            now.into(),
        ],
    ))
    .await?;
    customer(c, account, user_id)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("customer of {user_id}")))
}

/// Records a processor event as applied; false when it already was (a repeated delivery).
pub async fn first_delivery(
    c: &impl ConnectionTrait,
    processor: &str,
    event_id: &str,
    event_type: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    Ok(c.execute_raw(pg(
        "INSERT INTO processor_events (processor, event_id, event_type, received_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        vec![
            processor.into(),
            event_id.into(),
            event_type.into(),
            now.into(),
        ],
    ))
    .await?
    .rows_affected()
        == 1)
}
