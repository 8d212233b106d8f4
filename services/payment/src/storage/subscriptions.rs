//! Subscriptions, their per-period charges and the courses enrolled in through them. A change is
//! read under the row's lock, decided by [`crate::domain::subscription`], and written whole with
//! its event in the same transaction.

use crate::NAME;
use crate::domain::PaymentError;
use crate::domain::subscription::{self as rules, Facts, Interval, Status};
use ::events::subjects;
use chrono::{DateTime, Utc};
use db::stmt as pg;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

#[derive(Debug, Clone, FromQueryResult)]
pub struct SubscriptionRow {
    pub id: Uuid,
    pub user_id: String,
    pub department_id: String,
    pub plan_id: Uuid,
    pub plan_type: String,
    pub amount_minor: i64,
    pub currency: String,
    pub processor: String,
    pub payment_method: String,
    pub status: String,
    pub period: i32,
    pub anchor_at: DateTime<Utc>,
    /// The period that ends at `anchor_at` (moved by a resumption).
    pub anchor_period: i32,
    pub current_period_start: DateTime<Utc>,
    pub current_period_end: DateTime<Utc>,
    pub trial_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub paused_at: Option<DateTime<Utc>>,
    pub paused_from: Option<String>,
    pub grace_until: Option<DateTime<Utc>>,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub last_failure: Option<String>,
    pub charging_period: Option<i32>,
    pub charging_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The learner's address and name when they subscribed (the receipts of its periods).
    pub customer_email: Option<String>,
    pub customer_name: Option<String>,
    /// A plan change that takes effect at the next renewal: the plan, its interval, its price.
    pub pending_plan_id: Option<Uuid>,
    pub pending_plan_type: Option<String>,
    pub pending_amount_minor: Option<i64>,
}

const COLS: &str = "id, user_id, department_id, plan_id, plan_type, amount_minor, currency, processor, \
    payment_method, status, period, anchor_at, current_period_start, current_period_end, trial_end, \
    cancel_at_period_end, cancelled_at, cancel_reason, paused_at, paused_from, grace_until, next_retry_at, \
    last_failure, charging_period, charging_since, created_at, updated_at, anchor_period, customer_email, \
    customer_name, pending_plan_id, pending_plan_type, pending_amount_minor";

impl SubscriptionRow {
    pub fn state(&self) -> Result<Status, PaymentError> {
        Status::parse(&self.status).ok_or_else(|| {
            PaymentError::Corrupt(format!(
                "subscription {}: unknown status `{}`",
                self.id, self.status
            ))
        })
    }

    pub fn interval(&self) -> Result<Interval, PaymentError> {
        Interval::parse(&self.plan_type).ok_or_else(|| {
            PaymentError::Corrupt(format!(
                "subscription {}: unknown plan type `{}`",
                self.id, self.plan_type
            ))
        })
    }

    pub fn facts(&self) -> Result<Facts, PaymentError> {
        Ok(Facts {
            status: self.state()?,
            period: self.period,
            current_period_end: self.current_period_end,
            cancel_at_period_end: self.cancel_at_period_end,
            grace_until: self.grace_until,
            next_retry_at: self.next_retry_at,
            paused_at: self.paused_at,
        })
    }

    pub fn has_access(
        &self,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> Result<bool, PaymentError> {
        Ok(rules::has_access(&self.facts()?, now, grace))
    }

    pub fn amount(&self) -> Result<kernel::Money, PaymentError> {
        let c = kernel::Currency::parse(&self.currency)
            .map_err(|e| PaymentError::Corrupt(format!("subscription {}: {e}", self.id)))?;
        Ok(kernel::Money::new(self.amount_minor, c))
    }

    /// Moves the subscription into period `n` (its start and end from the anchor).
    pub fn enter_period(&mut self, n: i32) -> Result<(), PaymentError> {
        let interval = self.interval()?;
        let bad = || PaymentError::Corrupt(format!("subscription {}: period {n}", self.id));
        let (anchor, from) = (self.anchor_at, self.anchor_period);
        self.current_period_start =
            rules::period_start(anchor, from, interval, n).ok_or_else(bad)?;
        self.current_period_end = rules::period_end(anchor, from, interval, n).ok_or_else(bad)?;
        self.period = n;
        Ok(())
    }

    /// Takes the pending plan change, if any, at the end of the current period: the new plan's
    /// price and interval, its periods counted from there. Returns whether it changed.
    pub fn take_plan_change(&mut self) -> bool {
        let (Some(plan), Some(kind), Some(amount)) = (
            self.pending_plan_id,
            self.pending_plan_type.take(),
            self.pending_amount_minor,
        ) else {
            return false;
        };
        self.plan_id = plan;
        self.plan_type = kind;
        self.amount_minor = amount;
        self.anchor_at = self.current_period_end;
        self.anchor_period = self.period;
        self.pending_plan_id = None;
        self.pending_amount_minor = None;
        true
    }

    /// Whether a renewal job holds the subscription now (a claim older than `claim` is stale).
    pub fn claimed(&self, now: DateTime<Utc>, claim: chrono::Duration) -> bool {
        self.charging_period.is_some() && self.charging_since.is_some_and(|s| now - s < claim)
    }
}

pub async fn insert(c: &impl ConnectionTrait, s: &SubscriptionRow) -> Result<bool, DbErr> {
    let r = c
        .execute_raw(pg(
            &format!(
                "INSERT INTO subscriptions ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                 $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33)
                 ON CONFLICT (id) DO NOTHING"
            ),
            values(s),
        ))
        .await?;
    Ok(r.rows_affected() == 1)
}

fn values(s: &SubscriptionRow) -> Vec<sea_orm::Value> {
    vec![
        s.id.into(),
        s.user_id.clone().into(),
        s.department_id.clone().into(),
        s.plan_id.into(),
        s.plan_type.clone().into(),
        s.amount_minor.into(),
        s.currency.clone().into(),
        s.processor.clone().into(),
        s.payment_method.clone().into(),
        s.status.clone().into(),
        s.period.into(),
        s.anchor_at.into(),
        s.current_period_start.into(),
        s.current_period_end.into(),
        s.trial_end.into(),
        s.cancel_at_period_end.into(),
        s.cancelled_at.into(),
        s.cancel_reason.clone().into(),
        s.paused_at.into(),
        s.paused_from.clone().into(),
        s.grace_until.into(),
        s.next_retry_at.into(),
        s.last_failure.clone().into(),
        s.charging_period.into(),
        s.charging_since.into(),
        s.created_at.into(),
        s.updated_at.into(),
        s.anchor_period.into(),
        s.customer_email.clone().into(),
        s.customer_name.clone().into(),
        s.pending_plan_id.into(),
        s.pending_plan_type.clone().into(),
        s.pending_amount_minor.into(),
    ]
}

/// Writes every changeable column of a row read under [`lock`].
pub async fn save(c: &impl ConnectionTrait, s: &SubscriptionRow) -> Result<(), DbErr> {
    let n = c
        .execute_raw(pg(
        "UPDATE subscriptions SET plan_id = $4, plan_type = $5, amount_minor = $6,
             payment_method = $9, status = $10, period = $11, anchor_at = $12,
             current_period_start = $13, current_period_end = $14, trial_end = $15,
             cancel_at_period_end = $16, cancelled_at = $17, cancel_reason = $18, paused_at = $19,
             paused_from = $20, grace_until = $21, next_retry_at = $22, last_failure = $23,
             charging_period = $24, charging_since = $25, updated_at = $27, anchor_period = $28,
             customer_email = $29, customer_name = $30, pending_plan_id = $31, pending_plan_type = $32,
             pending_amount_minor = $33
         WHERE id = $1 AND user_id = $2 AND department_id = $3 AND currency = $7 AND processor = $8
             AND created_at = $26",
        values(s),
    ))
    .await?
    .rows_affected();
    if n != 1 {
        return Err(DbErr::Custom(format!(
            "subscription {}: {n} rows saved",
            s.id
        )));
    }
    Ok(())
}

pub async fn get(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<SubscriptionRow>, DbErr> {
    SubscriptionRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM subscriptions WHERE id = $1"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

pub async fn lock(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<SubscriptionRow>, DbErr> {
    SubscriptionRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM subscriptions WHERE id = $1 FOR UPDATE"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

/// The learner's live (not cancelled) subscription to a department.
pub async fn live_of(
    c: &impl ConnectionTrait,
    user: &str,
    department: &str,
) -> Result<Option<SubscriptionRow>, DbErr> {
    SubscriptionRow::find_by_statement(pg(
        &format!(
            "SELECT {COLS} FROM subscriptions
             WHERE user_id = $1 AND department_id = $2 AND status <> 'cancelled'"
        ),
        vec![user.into(), department.into()],
    ))
    .one(c)
    .await
}

/// The learner's subscriptions that give access now.
pub async fn with_access(
    c: &impl ConnectionTrait,
    user: &str,
    now: DateTime<Utc>,
    grace: chrono::Duration,
) -> Result<Vec<SubscriptionRow>, DbErr> {
    SubscriptionRow::find_by_statement(pg(
        &format!(
            "SELECT {COLS} FROM subscriptions
             WHERE user_id = $1 AND ((status IN ('trialing', 'active') AND current_period_end > $3)
                 OR (status = 'past_due' AND grace_until > $2))
             ORDER BY id"
        ),
        vec![user.into(), now.into(), (now - grace).into()],
    ))
    .all(c)
    .await
}

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub user_id: Option<String>,
    pub status: Option<String>,
    pub department_id: Option<String>,
}

/// Newest first, `limit + 1` rows after `cursor` (an id).
pub async fn list(
    c: &impl ConnectionTrait,
    f: &Filter,
    cursor: Option<Uuid>,
    limit: u64,
) -> Result<Vec<SubscriptionRow>, DbErr> {
    SubscriptionRow::find_by_statement(pg(
        &format!(
            "SELECT {COLS} FROM subscriptions
             WHERE ($1::text IS NULL OR user_id = $1) AND ($2::text IS NULL OR status = $2)
                 AND ($3::text IS NULL OR department_id = $3) AND ($4::uuid IS NULL OR id < $4)
             ORDER BY id DESC LIMIT $5"
        ),
        vec![
            f.user_id.clone().into(),
            f.status.clone().into(),
            f.department_id.clone().into(),
            cursor.into(),
            i64::try_from(limit.saturating_add(1))
                .unwrap_or(i64::MAX)
                .into(),
        ],
    ))
    .all(c)
    .await
}

/// Subscriptions a renewal job has work on now: a period ended, a past-due retry or grace end
/// came, and no live claim by another job.
pub async fn due(
    c: &impl ConnectionTrait,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
    paused_before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Uuid>, DbErr> {
    #[derive(FromQueryResult)]
    struct Id {
        id: Uuid,
    }
    // A claim left by a job that died is taken over whatever the subscription's state.
    Ok(Id::find_by_statement(pg(
        "SELECT id FROM subscriptions
         WHERE (((status IN ('trialing', 'active') AND current_period_end <= $1
                     AND (next_retry_at IS NULL OR next_retry_at <= $1))
                 OR (status = 'past_due' AND (next_retry_at <= $1 OR grace_until <= $1))
                 OR (status = 'incomplete' AND next_retry_at <= $1)
                 OR (status = 'paused' AND paused_at <= $4))
                 AND (charging_since IS NULL OR charging_since < $2))
             OR (charging_period IS NOT NULL AND charging_since < $2)
         ORDER BY coalesce(next_retry_at, current_period_end) LIMIT $3",
        vec![
            now.into(),
            stale_before.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
            paused_before.into(),
        ],
    ))
    .all(c)
    .await?
    .into_iter()
    .map(|r| r.id)
    .collect())
}

/// Takes the subscription for charging `period`, if it is still as read (`status`) and nobody
/// holds it (a claim from before `stale_before` is a job that died). One statement: of
/// concurrent jobs, and of a job and a learner cancelling or pausing, one wins.
pub async fn claim(
    c: &impl ConnectionTrait,
    id: Uuid,
    status: Status,
    period: i32,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let r = c
        .execute_raw(pg(
            "UPDATE subscriptions SET charging_period = $3, charging_since = $4
             WHERE id = $1 AND status = $2 AND NOT cancel_at_period_end
                 AND (charging_since IS NULL OR charging_since < $5)",
            vec![
                id.into(),
                status.as_str().into(),
                period.into(),
                now.into(),
                stale_before.into(),
            ],
        ))
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Puts off the renewal of a subscription that could not be worked on (not a decline: an
/// unavailable processor, a plan withdrawn), so it neither loops nor holds up the others.
pub async fn defer(c: &impl ConnectionTrait, id: Uuid, until: DateTime<Utc>) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "UPDATE subscriptions SET next_retry_at = $2
         WHERE id = $1 AND status IN ('trialing', 'active', 'past_due')",
        vec![id.into(), until.into()],
    ))
    .await?;
    Ok(())
}

/// Lets go of a claim (the charge was settled, or it could not be made this time).
pub async fn release(c: &impl ConnectionTrait, id: Uuid, period: i32) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "UPDATE subscriptions SET charging_period = NULL, charging_since = NULL
         WHERE id = $1 AND charging_period = $2",
        vec![id.into(), period.into()],
    ))
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct ChargeRow {
    pub subscription_id: Uuid,
    pub period: i32,
    pub order_id: Uuid,
    pub payment_id: Uuid,
    pub created_at: DateTime<Utc>,
}

pub async fn charge(
    c: &impl ConnectionTrait,
    subscription: Uuid,
    period: i32,
) -> Result<Option<ChargeRow>, DbErr> {
    ChargeRow::find_by_statement(pg(
        "SELECT subscription_id, period, order_id, payment_id, created_at FROM subscription_charges
         WHERE subscription_id = $1 AND period = $2",
        vec![subscription.into(), period.into()],
    ))
    .one(c)
    .await
}

/// Records the period's charge once; a second maker finds the first one's.
pub async fn record_charge(c: &impl ConnectionTrait, r: &ChargeRow) -> Result<ChargeRow, DbErr> {
    c.execute_raw(pg(
        "INSERT INTO subscription_charges (subscription_id, period, order_id, payment_id, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (subscription_id, period) DO NOTHING",
        vec![
            r.subscription_id.into(),
            r.period.into(),
            r.order_id.into(),
            r.payment_id.into(),
            r.created_at.into(),
        ],
    ))
    .await?;
    charge(c, r.subscription_id, r.period)
        .await?
        .ok_or(DbErr::RecordNotInserted)
}

/// Remembers a course enrolled in through the subscription (once); whether it is new.
pub async fn record_enrollment(
    c: &impl ConnectionTrait,
    subscription: Uuid,
    course: Uuid,
    order: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let r = c.execute_raw(pg(
        "INSERT INTO subscription_enrollments (subscription_id, course_id, order_id, enrolled_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        vec![subscription.into(), course.into(), order.into(), now.into()],
    ))
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The courses enrolled in through the subscription.
pub async fn enrolled_courses(
    c: &impl ConnectionTrait,
    subscription: Uuid,
) -> Result<Vec<Uuid>, DbErr> {
    #[derive(FromQueryResult)]
    struct Course {
        course_id: Uuid,
    }
    Ok(Course::find_by_statement(pg(
        "SELECT course_id FROM subscription_enrollments WHERE subscription_id = $1 ORDER BY course_id",
        vec![subscription.into()],
    ))
    .all(c)
    .await?
    .into_iter()
    .map(|r| r.course_id)
    .collect())
}

/// Writes `subscription.<event>` for the row as it now stands.
pub async fn publish(
    c: &impl ConnectionTrait,
    s: &SubscriptionRow,
    event: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
    grace: chrono::Duration,
) -> Result<(), DbErr> {
    let access = s
        .has_access(now, grace)
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    let e = crate::events::subscription_changed(s, event, reason, access, now);
    bus::enqueue(c, NAME, &subjects::subscription(event), &e).await?;
    Ok(())
}
