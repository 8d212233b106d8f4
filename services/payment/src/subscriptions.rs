//! The renewal engine: what a subscription owes now, and charging it once per period.
//!
//! Each period's charge is an order (cart-order's, made once per subscription and period) and a
//! payment whose id — the processor's idempotency key — is derived from the subscription and
//! the period, so retries, restarts and concurrent jobs make one charge. A job first claims the
//! subscription for the period in one guarded statement (a learner's cancel or pause and another
//! job see the claim), calls the processor with no transaction open, then settles the payment and
//! moves the subscription in one transaction with its event. A processor's webhook that settles
//! the payment first is read as the answer; nothing is charged again.

use crate::Payment;
use crate::domain::PaymentError;
use crate::domain::subscription::{self as rules, Due, Status};
use crate::processor::{CreateIntent, MethodUse, Outcome};
use crate::storage::subscriptions::{self as store, ChargeRow, SubscriptionRow};
use crate::storage::{self, NewPayment};
use contracts::catalog::CatalogItem;
use contracts::orders::{OrderForPayment, SubscriptionOrder};
use kernel::Lifecycle;
use sea_orm::TransactionTrait;
use uuid::Uuid;
use web::ApiError;
use web::internal::InternalError;

/// The subscription settings a job and the routes read.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub rules: rules::Policy,
    /// How long a job's claim holds against other jobs.
    pub claim: chrono::Duration,
}

/// What one pass of the renewal job did.
#[derive(Debug, Default, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pass {
    /// Subscriptions that had work due.
    pub due: usize,
    /// Of them, those worked on: a charge answered (paid or declined) or the state moved.
    pub changed: usize,
    /// Those that could not be worked on (an unavailable processor, say); tried next pass.
    pub failed: usize,
}

/// One pass over every subscription with work due now (the scheduler, and on demand).
pub async fn renew_due(state: &Payment) -> Result<Pass, ApiError> {
    let now = state.clock.now();
    let paused_before = now - state.subscriptions.rules.max_pause;
    let stale = now - state.subscriptions.claim;
    let ids = store::due(&state.db, now, stale, paused_before, 500).await?;
    let mut pass = Pass {
        due: ids.len(),
        ..Pass::default()
    };
    for id in ids {
        match process(state, id).await {
            Ok((_, changed)) => pass.changed += usize::from(changed),
            Err(e) => {
                pass.failed += 1;
                tracing::warn!(subscription = %id, error = %e.detail, "subscription not renewed this pass");
                // Tried again later, behind the others.
                let later = now + state.subscriptions.rules.retry_every;
                store::defer(&state.db, id, later).await?;
            }
        }
    }
    state.outbox.notify_one();
    Ok(pass)
}

/// Does what the subscription owes now: charge a period, end it at its period's end, or end its
/// grace. Returns the subscription as it then stands and whether it changed.
pub async fn process(state: &Payment, id: Uuid) -> Result<(SubscriptionRow, bool), ApiError> {
    let sub = store::get(&state.db, id)
        .await?
        .ok_or_else(|| PaymentError::NotFound(format!("no subscription `{id}`")))?;
    let now = state.clock.now();
    let due = rules::due(&sub.facts()?, now, &state.subscriptions.rules);
    let changed = match due {
        Due::Nothing => {
            if let Some(period) = sub.charging_period
                && !sub.claimed(now, state.subscriptions.claim)
            {
                // A claim a dead job left where nothing is due any more.
                store::release(&state.db, id, period).await?;
            }
            false
        }
        Due::Charge(period) => charge_period(state, &sub, period).await?,
        Due::GraceOver(after) => grace_over(state, &sub, after).await?,
        Due::EndAtPeriodEnd | Due::PauseOver => end(state, id, due).await?,
    };
    let sub = store::get(&state.db, id)
        .await?
        .ok_or_else(|| PaymentError::Corrupt(format!("subscription {id} vanished")))?;
    Ok((sub, changed))
}

/// A past-due subscription whose grace ran out, under a claim on its period (no job charges it
/// and no learner changes it meanwhile): paid after all (a webhook, the learner) → active; an
/// attempt still in flight → asked again next pass; otherwise cancelled for non-payment (its
/// unpaid order then fails, `subscription.ended`) or paused, per configuration.
async fn grace_over(
    state: &Payment,
    sub: &SubscriptionRow,
    after: rules::AfterGrace,
) -> Result<bool, ApiError> {
    let now = state.clock.now();
    let period = sub.period;
    let stale = now - state.subscriptions.claim;
    if !store::claim(&state.db, sub.id, sub.state()?, period, now, stale).await? {
        return Ok(false);
    }
    let ended = async {
        if let Some(charge) = store::charge(&state.db, sub.id, period).await? {
            let p = storage::get(&state.db, charge.payment_id)
                .await?
                .ok_or_else(|| PaymentError::Corrupt("subscription payment vanished".into()))?;
            match p.state()? {
                crate::domain::PaymentStatus::Succeeded => {
                    return apply(state, sub.id, period, &charge, None).await;
                }
                crate::domain::PaymentStatus::Processing => {
                    store::release(&state.db, sub.id, period).await?;
                    return Ok(false);
                }
                _ => {}
            }
        }
        let txn = state.db.begin().await?;
        let Some(mut s) = store::lock(&txn, sub.id).await? else {
            return Ok(false);
        };
        if s.charging_period != Some(period) {
            return Ok(false);
        }
        let event = match after {
            rules::AfterGrace::Pause => {
                s.status = Status::Paused.as_str().into();
                s.paused_at = Some(now);
                s.paused_from = Some(Status::PastDue.as_str().into());
                "paused"
            }
            rules::AfterGrace::Cancel => {
                s.status = Status::Cancelled.as_str().into();
                s.cancelled_at = Some(now);
                s.cancel_reason = Some("non_payment".into());
                "ended"
            }
        };
        s.next_retry_at = None;
        s.charging_period = None;
        s.charging_since = None;
        s.updated_at = now;
        store::save(&txn, &s).await?;
        let grace = state.subscriptions.rules.grace;
        store::publish(&txn, &s, event, Some("non_payment"), now, grace).await?;
        txn.commit().await?;
        Ok(true)
    }
    .await;
    if ended.is_err() {
        store::release(&state.db, sub.id, period).await?;
    }
    state.outbox.notify_one();
    ended
}

/// Ends a subscription whose period ended after a cancellation, or that stayed paused longer
/// than a pause may last, if that still holds under its lock.
async fn end(state: &Payment, id: Uuid, due: Due) -> Result<bool, ApiError> {
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    let Some(mut s) = store::lock(&txn, id).await? else {
        return Ok(false);
    };
    if rules::due(&s.facts()?, now, &state.subscriptions.rules) != due
        || s.charging_period.is_some()
    {
        return Ok(false);
    }
    s.status = Status::Cancelled.as_str().into();
    s.cancelled_at = Some(now);
    let (event, reason) = if due == Due::PauseOver {
        s.cancel_reason = Some("paused_too_long".into());
        ("ended", "paused longer than a pause may last")
    } else {
        ("ended", "cancelled at the end of the period")
    };
    s.next_retry_at = None;
    s.updated_at = now;
    store::save(&txn, &s).await?;
    let grace = state.subscriptions.rules.grace;
    store::publish(&txn, &s, event, Some(reason), now, grace).await?;
    txn.commit().await?;
    state.outbox.notify_one();
    Ok(true)
}

/// Charges `period` once: claim, make the period's order and payment (once), ask the processor
/// with the saved payment method, then settle and move the subscription.
pub async fn charge_period(
    state: &Payment,
    sub: &SubscriptionRow,
    period: i32,
) -> Result<bool, ApiError> {
    let now = state.clock.now();
    let stale = now - state.subscriptions.claim;
    if !store::claim(&state.db, sub.id, sub.state()?, period, now, stale).await? {
        // Another job holds it, or it changed (cancelled, paused) since it was read.
        return Ok(false);
    }
    let charged = async {
        let sub = &take_plan_change(state, sub, period).await?;
        let charge = ensure_charge(state, sub, period).await?;
        let p = storage::get(&state.db, charge.payment_id)
            .await?
            .ok_or_else(|| PaymentError::Corrupt("subscription payment vanished".into()))?;
        let outcome = if p.state()?.is_settled() {
            None
        } else {
            crate::routes::payments::charge(
                state,
                &p,
                &sub.user_id,
                None,
                Some(&sub.payment_method),
                // The first charge is the learner's, who subscribes now; renewals are ours.
                if period == 1 && sub.state()? == Status::Incomplete {
                    MethodUse::SaveForRenewals
                } else {
                    MethodUse::Renewal
                },
            )
            .await?
        };
        apply(state, sub.id, period, &charge, outcome.as_ref()).await
    }
    .await;
    if charged.is_err() {
        // Nothing settled: let the next pass (or another job) try again at once.
        store::release(&state.db, sub.id, period).await?;
    }
    state.outbox.notify_one();
    charged
}

/// At a renewal (under the job's claim, before the period's charge is made), a plan change the
/// learner asked for takes effect: the new period is the new plan's, at its price.
async fn take_plan_change(
    state: &Payment,
    sub: &SubscriptionRow,
    period: i32,
) -> Result<SubscriptionRow, ApiError> {
    if sub.pending_plan_id.is_none() || period <= sub.period {
        return Ok(sub.clone());
    }
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    let mut s = store::lock(&txn, sub.id)
        .await?
        .ok_or_else(|| PaymentError::Corrupt(format!("subscription {} vanished", sub.id)))?;
    let ours = s.charging_period == Some(period);
    if ours && store::charge(&txn, s.id, period).await?.is_none() && s.take_plan_change() {
        s.updated_at = now;
        store::save(&txn, &s).await?;
        let grace = state.subscriptions.rules.grace;
        store::publish(&txn, &s, "plan_changed", None, now, grace).await?;
    }
    txn.commit().await?;
    Ok(s)
}

/// The period's order and payment, made once: a second maker (a job that took over a stale
/// claim) finds the first one's, and the processor sees one idempotency key for the intent.
async fn ensure_charge(
    state: &Payment,
    sub: &SubscriptionRow,
    period: i32,
) -> Result<ChargeRow, ApiError> {
    if let Some(c) = store::charge(&state.db, sub.id, period).await? {
        return Ok(c);
    }
    let plan = plan(state, sub.plan_id).await?;
    let enrolled = store::enrolled_courses(&state.db, sub.id).await?;
    let order = period_order(state, sub, period, attributed(plan, &enrolled)?).await?;
    let processor = state
        .processors
        .by_name(&sub.processor)
        .ok_or_else(|| PaymentError::Corrupt(format!("processor {} unavailable", sub.processor)))?;
    let amount = sub.amount()?;
    if order.total != amount.amount_minor() || order.currency != amount.currency().code() {
        return Err(PaymentError::Corrupt(format!(
            "subscription {} period {period}: its order is {} {}",
            sub.id, order.total, order.currency
        ))
        .into());
    }
    let payment_id = period_payment_id(sub, period);
    let customer =
        crate::routes::payments::customer_of(state, processor.as_ref(), &sub.user_id).await?;
    let intent = processor
        .create_intent(CreateIntent {
            amount,
            order_id: order.id.to_string(),
            payment_id: payment_id.to_string(),
            idempotency_key: payment_id.to_string(),
            customer,
        })
        .await
        .map_err(crate::routes::payments::processor_error)?;
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    if storage::get(&txn, payment_id).await?.is_none() {
        let row = storage::insert(
            &txn,
            &NewPayment {
                id: payment_id,
                order_id: order.id,
                user_id: &sub.user_id,
                processor: processor.name(),
                intent_id: &intent.intent_id,
                client_secret: intent.client_secret.as_deref(),
                amount_minor: amount.amount_minor(),
                currency: amount.currency().code(),
            },
            now,
        )
        .await?;
        storage::lines::record(&txn, row.id, &order.lines).await?;
        storage::audit(
            &txn,
            row.id,
            "intent_created",
            "subscriptions",
            None,
            Some(crate::domain::PaymentStatus::Pending.as_str()),
            serde_json::json!({"intentId": intent.intent_id, "subscriptionId": sub.id, "period": period}),
        )
        .await?;
    }
    let c = store::record_charge(
        &txn,
        &ChargeRow {
            subscription_id: sub.id,
            period,
            order_id: order.id,
            payment_id,
            created_at: now,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(c)
}

/// The payment of a subscription's period: its id is the processor's idempotency key, the same
/// for every job that ever charges that period. Time-ordered like every id (a v7 whose time is
/// the period's start), so the learner's history lists it in its place.
pub fn period_payment_id(sub: &SubscriptionRow, period: i32) -> Uuid {
    let starts = if period > sub.period {
        sub.current_period_end
    } else {
        sub.current_period_start
    };
    let hash = Uuid::new_v5(&sub.id, format!("period-{period}").as_bytes());
    let mut rest = [0u8; 10];
    rest.copy_from_slice(&hash.as_bytes()[6..]);
    let millis = u64::try_from(starts.timestamp_millis()).unwrap_or_default();
    uuid::Builder::from_unix_timestamp_millis(millis, &rest).into_uuid()
}

/// The plan as the catalog states it now, with the courses it gives access to.
pub async fn plan(state: &Payment, plan_id: Uuid) -> Result<CatalogItem, ApiError> {
    state
        .orders
        .get_json(
            "catalog",
            &format!(
                "{}{}",
                state.catalog_base,
                contracts::catalog::item_path("subscription", plan_id)
            ),
        )
        .await
        .map_err(|e| match e {
            InternalError::NotFound => {
                PaymentError::NotFound(format!("no plan `{plan_id}`")).into()
            }
            other => other.into(),
        })
}

/// The revenue attribution rule: a period's charge is shared equally (largest remainder, by
/// the order's allocation) among the department's courses the learner enrolled in through the
/// subscription; while there are none, among every course the plan gives access to. Each share
/// is then split between platform, creator and instructor by the course's own split.
pub fn attributed(mut plan: CatalogItem, enrolled: &[Uuid]) -> Result<CatalogItem, ApiError> {
    let theirs: Vec<_> = plan
        .courses
        .iter()
        .filter(|c| enrolled.contains(&c.course_id))
        .cloned()
        .collect();
    if !theirs.is_empty() {
        plan.courses = theirs;
    }
    has_courses(&plan)?;
    for c in &mut plan.courses {
        c.own_price = None;
    }
    Ok(plan)
}

/// A plan's revenue needs a course to be attributed to.
pub fn has_courses(plan: &CatalogItem) -> Result<(), ApiError> {
    if plan.courses.is_empty() {
        return Err(ApiError::rule(
            "plan_has_no_courses",
            "the plan's department has no course its revenue can be attributed to",
        ));
    }
    Ok(())
}

async fn period_order(
    state: &Payment,
    sub: &SubscriptionRow,
    period: i32,
    item: CatalogItem,
) -> Result<OrderForPayment, ApiError> {
    let order = SubscriptionOrder {
        source_key: format!("sub:{}:period:{period}", sub.id),
        subscription_id: sub.id,
        user_id: sub.user_id.clone(),
        item,
        amount: sub.amount_minor,
        currency: sub.currency.clone(),
        customer_email: sub.customer_email.clone(),
        customer_name: sub.customer_name.clone(),
    };
    subscription_order(state, &order).await
}

/// Asks cart-order for a subscription's order (made once per source key).
pub async fn subscription_order(
    state: &Payment,
    order: &SubscriptionOrder,
) -> Result<OrderForPayment, ApiError> {
    Ok(state
        .orders
        .post_body_json(
            "cart-order",
            &format!(
                "{}{}",
                state.orders_base,
                contracts::orders::SUBSCRIPTION_ORDERS_PATH
            ),
            order,
        )
        .await?)
}

/// Settles the period's payment with the processor's answer (when there is one) and moves the
/// subscription as the payment now stands, releasing the claim, in one transaction.
async fn apply(
    state: &Payment,
    id: Uuid,
    period: i32,
    charge: &ChargeRow,
    outcome: Option<&Outcome>,
) -> Result<bool, ApiError> {
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    let p = storage::lock(&txn, charge.payment_id)
        .await?
        .ok_or_else(|| PaymentError::Corrupt("subscription payment vanished".into()))?;
    if let Some(o) = outcome {
        storage::settle(&txn, &p, o, "subscriptions", now).await?;
    }
    let p = storage::get(&txn, charge.payment_id)
        .await?
        .ok_or_else(|| PaymentError::Corrupt("subscription payment vanished".into()))?;
    let mut s = store::lock(&txn, id)
        .await?
        .ok_or_else(|| PaymentError::Corrupt(format!("subscription {id} vanished")))?;
    if s.charging_period != Some(period) {
        // Another job took the claim over; it applies the answer.
        txn.commit().await?;
        return Ok(false);
    }
    let from = s.state()?;
    s.charging_period = None;
    s.charging_since = None;
    s.updated_at = now;
    if !matches!(
        from,
        Status::Incomplete | Status::Trialing | Status::Active | Status::PastDue
    ) {
        // Cannot happen while changes wait for the claim; never revive an ended subscription.
        tracing::error!(subscription = %id, status = from.as_str(), "a charge was answered for a subscription that is no longer billed");
        store::save(&txn, &s).await?;
        txn.commit().await?;
        return Ok(false);
    }
    let declined = match outcome {
        Some(Outcome::Failed { reason, .. }) => Some(reason.clone()),
        Some(Outcome::Cancelled { reason }) => Some(reason.clone()),
        _ => None,
    };
    let mut event = None;
    let mut reason = None;
    match p.state()? {
        crate::domain::PaymentStatus::Succeeded => {
            let change = rules::paid(from, s.period, period);
            if from == Status::Incomplete {
                // The first period starts when it is paid, however long after subscribing.
                s.anchor_at = now;
                s.anchor_period = 0;
            }
            if period != s.period || matches!(from, Status::Incomplete | Status::Trialing) {
                s.enter_period(period)?;
            }
            s.status = change.status.as_str().into();
            s.grace_until = None;
            s.next_retry_at = None;
            s.last_failure = None;
            event = change.event;
        }
        _ if declined.is_some() => {
            let change = rules::declined(from);
            if change.status == Status::PastDue && from != Status::PastDue {
                s.enter_period(period)?;
                s.grace_until = Some(s.current_period_start + state.subscriptions.rules.grace);
            }
            if change.status == Status::PastDue {
                s.next_retry_at = Some(now + state.subscriptions.rules.retry_every);
            }
            s.status = change.status.as_str().into();
            s.last_failure = declined.clone();
            event = change.event;
            reason = declined;
        }
        // In flight (a processor still deciding, or an action the learner must take): the
        // next pass asks again. A first charge waiting for the learner (3-D Secure) is asked
        // about every minute for a day; its webhook settles the payment meanwhile.
        _ => {
            if from == Status::Incomplete {
                s.next_retry_at = (now - s.created_at < chrono::Duration::days(1))
                    .then(|| now + chrono::Duration::minutes(1));
            }
        }
    }
    // An answer was applied (paid or declined), or the state moved.
    let changed = s.status != from.as_str() || event.is_some() || s.last_failure.is_some();
    store::save(&txn, &s).await?;
    if let Some(e) = event {
        let grace = state.subscriptions.rules.grace;
        store::publish(&txn, &s, e, reason.as_deref(), now, grace).await?;
    }
    txn.commit().await?;
    Ok(changed)
}
