//! Payments, their transitions, and the audit log.

use crate::NAME;
use crate::processor::Outcome;
use chrono::{DateTime, Utc};
use events::commerce::v1 as ev;
use events::subjects;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Value};
use serde::Serialize;
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
}

const COLS: &str = "id, order_id, user_id, processor, processor_intent_id, client_secret, amount_minor, currency, \
    status, failure_reason, transaction_id, created_at, updated_at, processed_at";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    pub id: Uuid,
    pub order_id: Uuid,
    pub processor: String,
    pub intent_id: String,
    /// Only for the owner, to confirm on the client with the processor's SDK.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub failure_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_action: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
}

impl PaymentRow {
    pub fn view(&self, with_secret: bool) -> PaymentView {
        PaymentView {
            id: self.id,
            order_id: self.order_id,
            processor: self.processor.clone(),
            intent_id: self.processor_intent_id.clone(),
            client_secret: if with_secret {
                self.client_secret.clone()
            } else {
                None
            },
            amount: self.amount_minor,
            currency: self.currency.trim().to_string(),
            status: self.status.clone(),
            failure_reason: self.failure_reason.clone(),
            next_action: None,
            created_at: self.created_at,
            updated_at: self.updated_at,
            processed_at: self.processed_at,
        }
    }
}

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
        &format!("SELECT {COLS} FROM payments WHERE order_id = $1 AND status NOT IN ('failed', 'cancelled')"),
        vec![order.into()],
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

/// pending → processing (a confirmation has started).
pub async fn start_processing(
    c: &impl ConnectionTrait,
    p: &PaymentRow,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let n = c
        .execute_raw(pg(
            "UPDATE payments SET status = 'processing', updated_at = $2 WHERE id = $1 AND status = 'pending'",
            vec![p.id.into(), now.into()],
        ))
        .await?
        .rows_affected();
    if n == 1 {
        audit(
            c,
            p.id,
            "confirm_started",
            actor,
            Some("pending"),
            Some("processing"),
            serde_json::json!({}),
        )
        .await?;
    }
    Ok(())
}

/// Applies a processor outcome exactly once: only a pending or processing payment moves, and
/// only that move writes `payment.succeeded` / `payment.failed`. Returns whether it moved.
pub async fn settle(
    c: &impl ConnectionTrait,
    p: &PaymentRow,
    outcome: &Outcome,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let (status, reason, txid) = match outcome {
        Outcome::Succeeded { transaction_id } => ("succeeded", None, Some(transaction_id.clone())),
        Outcome::Failed { reason } => ("failed", Some(reason.clone()), None),
        Outcome::RequiresAction { next_action } => {
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
            return Ok(false);
        }
    };
    let moved = c
        .execute_raw(pg(
            "UPDATE payments SET status = $2, failure_reason = $3, transaction_id = $4, processed_at = $5, updated_at = $5
             WHERE id = $1 AND status IN ('pending', 'processing')",
            vec![p.id.into(), status.into(), reason.clone().into(), txid.clone().into(), now.into()],
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
        status,
        actor,
        Some(&p.status),
        Some(status),
        serde_json::json!({"reason": reason, "transactionId": txid}),
    )
    .await?;
    match outcome {
        Outcome::Succeeded { transaction_id } => {
            let e = ev::PaymentSucceeded {
                payment_id: p.id.to_string(),
                order_id: p.order_id.to_string(),
                user_id: p.user_id.clone(),
                processor: p.processor.clone(),
                processor_transaction_id: transaction_id.clone(),
                amount_minor: p.amount_minor,
                currency: p.currency.trim().to_string(),
                processor_fee_minor: 0,
                succeeded_at: now.to_rfc3339(),
            };
            bus::enqueue(c, NAME, subjects::PAYMENT_SUCCEEDED, &e).await?;
        }
        Outcome::Failed { reason } => {
            let e = ev::PaymentFailed {
                payment_id: p.id.to_string(),
                order_id: p.order_id.to_string(),
                user_id: p.user_id.clone(),
                processor: p.processor.clone(),
                failure_reason: reason.clone(),
                failed_at: now.to_rfc3339(),
            };
            bus::enqueue(c, NAME, subjects::PAYMENT_FAILED, &e).await?;
        }
        Outcome::RequiresAction { .. } => {}
    }
    Ok(true)
}
