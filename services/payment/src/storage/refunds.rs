//! Refunds: recorded `processing` under the payment's row lock (so concurrent refunds can never
//! hold more than was captured), settled by a guarded update derived from [`RefundStatus`].

use crate::NAME;
use crate::domain::{RefundEvent, RefundStatus};
use crate::events as published;
use crate::processor::{ProcessorRefund, RefundState};
use crate::storage::PaymentRow;
use ::events::subjects;
use chrono::{DateTime, Utc};
use kernel::{Lifecycle, Money};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

use db::stmt as pg;

#[derive(Debug, Clone, FromQueryResult)]
pub struct RefundRow {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub amount_minor: i64,
    pub currency: String,
    pub status: String,
    pub reason: String,
    pub approved_by: String,
    pub processor_refund_id: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLS: &str = "id, payment_id, amount_minor, currency, status, reason, approved_by, \
    processor_refund_id, failure_reason, created_at, updated_at";

impl RefundRow {
    pub fn state(&self) -> Result<RefundStatus, DbErr> {
        RefundStatus::parse(&self.status).map_err(|e| DbErr::Custom(e.to_string()))
    }

    pub fn amount(&self) -> Result<Money, DbErr> {
        let currency = kernel::Currency::parse(&self.currency)
            .map_err(|e| DbErr::Custom(format!("refund {}: {e}", self.id)))?;
        Ok(Money::new(self.amount_minor, currency))
    }
}

/// What the payment's refunds hold (in flight or done), read under the payment's row lock.
pub async fn held(c: &impl ConnectionTrait, payment: &PaymentRow) -> Result<Money, DbErr> {
    sum_in(c, payment, |s| s.holds_amount()).await
}

/// The amount of the payment's refunds in the states `which` selects.
async fn sum_in(
    c: &impl ConnectionTrait,
    payment: &PaymentRow,
    which: impl Fn(RefundStatus) -> bool,
) -> Result<Money, DbErr> {
    #[derive(FromQueryResult)]
    struct Sum {
        total: i64,
    }
    let states: Vec<String> = RefundStatus::ALL
        .iter()
        .filter(|s| which(**s))
        .map(|s| s.as_str().to_string())
        .collect();
    let sum = Sum::find_by_statement(pg(
        "SELECT COALESCE(sum(amount_minor), 0)::bigint AS total FROM refunds
         WHERE payment_id = $1 AND status = ANY($2)",
        vec![payment.id.into(), states.into()],
    ))
    .one(c)
    .await?
    .ok_or(DbErr::RecordNotFound("refund sum".into()))?;
    Ok(Money::new(sum.total, payment.amount()?.currency()))
}

pub struct NewRefund<'a> {
    pub id: Uuid,
    /// `<caller>:<Idempotency-Key>`, when the request carried one.
    pub idempotency_key: Option<String>,
    pub payment_id: Uuid,
    pub amount: Money,
    pub reason: &'a str,
    pub approved_by: &'a str,
}

pub async fn insert(
    c: &impl ConnectionTrait,
    r: &NewRefund<'_>,
    now: DateTime<Utc>,
) -> Result<RefundRow, DbErr> {
    RefundRow::find_by_statement(pg(
        &format!(
            "INSERT INTO refunds (id, payment_id, amount_minor, currency, status, reason, approved_by,
                 created_at, updated_at, idempotency_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) RETURNING {COLS}"
        ),
        vec![
            r.id.into(),
            r.payment_id.into(),
            r.amount.amount_minor().into(),
            r.amount.currency().code().into(),
            RefundStatus::Processing.as_str().into(),
            r.reason.into(),
            r.approved_by.into(),
            now.into(),
            r.idempotency_key.clone().into(),
        ],
    ))
    .one(c)
    .await?
    .ok_or(DbErr::RecordNotInserted)
}

pub async fn lock(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<RefundRow>, DbErr> {
    RefundRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM refunds WHERE id = $1 FOR UPDATE"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

/// The refund a caller's idempotency key already made, with the payment it is for.
pub async fn by_key(c: &impl ConnectionTrait, key: &str) -> Result<Option<RefundRow>, DbErr> {
    RefundRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM refunds WHERE idempotency_key = $1"),
        vec![key.into()],
    ))
    .one(c)
    .await
}

/// The refunds of payments, newest first.
pub async fn of_payments(
    c: &impl ConnectionTrait,
    payments: &[Uuid],
) -> Result<Vec<RefundRow>, DbErr> {
    RefundRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM refunds WHERE payment_id = ANY($1) ORDER BY id DESC"),
        vec![payments.to_vec().into()],
    ))
    .all(c)
    .await
}

/// What the processor answered to a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Refunded, under the processor's refund id.
    Refunded(String),
    /// Accepted under this id; it settles later (webhook or sweeper).
    Pending(String),
    /// Refused, with the reason.
    Refused(String),
}

impl Answer {
    pub fn of(r: &ProcessorRefund) -> Answer {
        match &r.status {
            RefundState::Succeeded => Answer::Refunded(r.id.clone()),
            RefundState::Pending => Answer::Pending(r.id.clone()),
            RefundState::Failed(reason) => Answer::Refused(reason.clone()),
        }
    }
}

/// Settles a refund with the processor's answer, once; a success publishes `refund.issued`
/// (`full` when the payment's refunds now hold all of it). A pending answer records the
/// processor's id and leaves the refund in flight. Returns the row as it now stands.
pub async fn settle(
    c: &impl ConnectionTrait,
    refund: &RefundRow,
    payment: &PaymentRow,
    answer: &Answer,
    now: DateTime<Utc>,
) -> Result<RefundRow, DbErr> {
    let event = match answer {
        Answer::Refunded(_) => RefundEvent::Refunded,
        Answer::Refused(_) => RefundEvent::Refused,
        Answer::Pending(id) => {
            return RefundRow::find_by_statement(pg(
                &format!(
                    "UPDATE refunds SET processor_refund_id = $2, updated_at = $3
                     WHERE id = $1 RETURNING {COLS}"
                ),
                vec![refund.id.into(), id.clone().into(), now.into()],
            ))
            .one(c)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("refund {}", refund.id)));
        }
    };
    let Ok(to) = refund.state()?.apply(&event) else {
        return Ok(refund.clone());
    };
    let (processor_id, failure) = match answer {
        Answer::Refunded(id) => (Some(id.clone()), None),
        Answer::Refused(reason) => (refund.processor_refund_id.clone(), Some(reason.clone())),
        Answer::Pending(_) => (None, None),
    };
    let row = RefundRow::find_by_statement(pg(
        &format!(
            "UPDATE refunds SET status = $3, processor_refund_id = COALESCE($4, processor_refund_id),
                 failure_reason = $5, updated_at = $6
             WHERE id = $1 AND status = ANY($2) RETURNING {COLS}"
        ),
        vec![
            refund.id.into(),
            RefundStatus::sources(&event).into(),
            to.as_str().into(),
            processor_id.into(),
            failure.into(),
            now.into(),
        ],
    ))
    .one(c)
    .await?
    .ok_or_else(|| DbErr::Custom(format!("refund {} moved under its lock", refund.id)))?;
    if to == RefundStatus::Succeeded {
        let captured = payment.amount()?;
        let refunded = sum_in(c, payment, |s| s == RefundStatus::Succeeded).await?;
        let full = refunded == captured;
        let lines = crate::storage::lines::issued(c, payment.id, row.id).await?;
        if lines.iter().map(|l| l.amount_minor).sum::<i64>() != row.amount_minor {
            return Err(DbErr::Custom(format!(
                "refund {}: its lines do not sum to it",
                row.id
            )));
        }
        for line in &lines {
            let e = published::refund_issued(&row, payment, line, full, now);
            bus::enqueue(c, NAME, subjects::REFUND_ISSUED, &e).await?;
        }
    }
    Ok(row)
}

/// The refund the processor knows by `processor_refund_id`, or that we made as `refund_id`.
async fn lock_matching(
    c: &impl ConnectionTrait,
    payment: &PaymentRow,
    r: &ProcessorRefund,
) -> Result<Option<RefundRow>, DbErr> {
    let ours = r
        .refund_id
        .as_deref()
        .and_then(|id| Uuid::parse_str(id).ok());
    RefundRow::find_by_statement(pg(
        &format!(
            "SELECT {COLS} FROM refunds WHERE payment_id = $1
                 AND (processor_refund_id = $2 OR id = $3) ORDER BY id LIMIT 1 FOR UPDATE"
        ),
        vec![payment.id.into(), r.id.clone().into(), ours.into()],
    ))
    .one(c)
    .await
}

/// Brings the payment's refunds in line with the processor's (a webhook told us something
/// changed): ours in flight settle as the processor says, and a refund made at the processor
/// itself (its dashboard) is recorded once, as succeeded or in flight, and issued like ours.
/// Returns how many refunds moved or were recorded.
pub async fn sync(
    c: &impl ConnectionTrait,
    payment: &PaymentRow,
    from_processor: &[ProcessorRefund],
    actor: &str,
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    let mut moved = 0;
    for r in from_processor {
        if r.intent_id != payment.processor_intent_id {
            continue;
        }
        let answer = Answer::of(r);
        let row = match lock_matching(c, payment, r).await? {
            Some(row) => row,
            None => {
                if matches!(answer, Answer::Refused(_)) {
                    continue;
                }
                if r.amount.currency().code() != payment.currency {
                    return Err(DbErr::Custom(format!(
                        "refund {} is in {}, payment {} in {}",
                        r.id,
                        r.amount.currency(),
                        payment.id,
                        payment.currency
                    )));
                }
                let balances = crate::storage::lines::balances(c, payment).await?;
                let (_, split) = crate::domain::refund::allocate_refund(
                    r.amount.currency(),
                    &balances,
                    &[],
                    Some(r.amount.amount_minor()),
                )
                .map_err(|e| {
                    DbErr::Custom(format!(
                        "refund {} made at the processor does not fit payment {}: {e}",
                        r.id, payment.id
                    ))
                })?;
                let row = insert(
                    c,
                    &NewRefund {
                        id: kernel::new_id(),
                        idempotency_key: None,
                        payment_id: payment.id,
                        amount: r.amount,
                        reason: "refunded at the processor",
                        approved_by: actor,
                    },
                    now,
                )
                .await?;
                crate::storage::lines::record_split(c, row.id, &split).await?;
                crate::storage::audit(
                    c,
                    payment.id,
                    "refund_recorded",
                    actor,
                    Some(&payment.status),
                    Some(&payment.status),
                    serde_json::json!({"refundId": row.id, "processorRefundId": r.id, "amount": r.amount.amount_minor()}),
                )
                .await?;
                moved += 1;
                row
            }
        };
        if row.state()? != RefundStatus::Processing {
            continue;
        }
        let before = row.processor_refund_id.clone();
        let after = settle(c, &row, payment, &answer, now).await?;
        if after.status != row.status || before != after.processor_refund_id {
            moved += 1;
        }
    }
    Ok(moved)
}

/// Refunds in flight since before `before`, oldest first (for the sweeper).
pub async fn stuck(
    c: &impl ConnectionTrait,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<RefundRow>, DbErr> {
    RefundRow::find_by_statement(pg(
        &format!(
            "SELECT {COLS} FROM refunds WHERE status = 'processing' AND updated_at < $1
             ORDER BY updated_at LIMIT $2"
        ),
        vec![before.into(), (limit as i64).into()],
    ))
    .all(c)
    .await
}
