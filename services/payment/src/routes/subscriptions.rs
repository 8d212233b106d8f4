//! `/api/v2/subscriptions*`: a learner subscribes to a department plan, lists and changes their
//! subscriptions and enrolls in the department's courses through one; billing-admins list every
//! subscription and run the renewal job on demand. Another learner's subscription is 404.

use crate::Payment;
use crate::domain::PaymentError;
use crate::domain::subscription::{self as rules, Interval, Refusal, Status};
use crate::routes::payments;
use crate::storage::subscriptions::{self as store, Filter, SubscriptionRow};
use crate::subscriptions as engine;
use ::web::idempotency::{self, MaybeIdempotencyKey};
use ::web::internal::Internal;
use ::web::page::{Page, PageQuery};
use ::web::{ApiError, Authorized, Caller, Json, Reply, roles};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use contracts::catalog::CatalogItem;
use contracts::orders::SubscriptionOrder;
use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A subscription as its learner and billing-admins see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionView {
    #[schema(format = Uuid)]
    pub id: String,
    pub user_id: String,
    pub department_id: String,
    #[schema(format = Uuid)]
    pub plan_id: String,
    /// `monthly`, `quarterly` or `annual`.
    pub plan_type: String,
    /// Per period, in minor units of `currency`.
    pub amount: i64,
    pub currency: String,
    pub processor: String,
    /// `incomplete`, `trialing`, `active`, `past_due`, `paused` or `cancelled`.
    pub status: String,
    /// Whether the learner may use (and enroll in) the department's courses now.
    pub access: bool,
    /// 0 while in the trial; the number of the period being paid for after.
    pub period: i32,
    pub current_period_start: DateTime<Utc>,
    pub current_period_end: DateTime<Utc>,
    pub trial_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub paused_at: Option<DateTime<Utc>>,
    /// Past due: access holds until then while the renewal is retried.
    pub grace_until: Option<DateTime<Utc>>,
    pub next_retry_at: Option<DateTime<Utc>>,
    /// Why the last charge was declined.
    pub last_failure: Option<String>,
    /// A plan change that takes effect at the next renewal.
    #[schema(format = Uuid)]
    pub next_plan_id: Option<String>,
    /// Answering a subscription whose first charge waits for the learner (3-D Secure): the
    /// payment to finish with the processor's SDK (its client secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_payment: Option<FirstPayment>,
    pub created_at: DateTime<Utc>,
}

fn view(state: &Payment, s: &SubscriptionRow) -> Result<SubscriptionView, ApiError> {
    let now = state.clock.now();
    Ok(SubscriptionView {
        id: s.id.to_string(),
        user_id: s.user_id.clone(),
        department_id: s.department_id.clone(),
        plan_id: s.plan_id.to_string(),
        plan_type: s.plan_type.clone(),
        amount: s.amount_minor,
        currency: s.currency.clone(),
        processor: s.processor.clone(),
        status: s.status.clone(),
        access: s.has_access(now, state.subscriptions.rules.grace)?,
        period: s.period,
        current_period_start: s.current_period_start,
        current_period_end: s.current_period_end,
        trial_end: s.trial_end,
        cancel_at_period_end: s.cancel_at_period_end,
        cancelled_at: s.cancelled_at,
        cancel_reason: s.cancel_reason.clone(),
        paused_at: s.paused_at,
        grace_until: s.grace_until,
        next_retry_at: s.next_retry_at,
        last_failure: s.last_failure.clone(),
        next_plan_id: s.pending_plan_id.map(|p| p.to_string()),
        first_payment: None,
        created_at: s.created_at,
    })
}

/// The first charge's payment, when the learner must finish it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FirstPayment {
    #[schema(format = Uuid)]
    pub payment_id: String,
    pub client_secret: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionPage {
    pub items: Vec<SubscriptionView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscribeBody {
    /// The department plan (a catalog price of type `subscription`).
    #[schema(format = Uuid)]
    pub plan_id: Uuid,
    /// A processor payment-method token (`pm_card_visa` in the sandbox), saved for the renewals.
    /// Card numbers never reach this API.
    pub payment_method: String,
}

/// Subscribes the caller to a department plan: with a trial, the method is saved and nothing is
/// charged until the trial ends; without, the first period is charged now.
#[utoipa::path(post, path = "/api/v2/subscriptions", tag = "subscriptions", security(("bearer" = [])), request_body = SubscribeBody,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,255}$", description = "Makes a retry safe: the same key and request answer the first answer again (1 to 255 visible ASCII characters)")),
    responses(
        (status = 201, body = SubscriptionView, description = "trialing, or active after the first charge"),
        (status = 202, body = SubscriptionView, description = "incomplete: the first charge waits for the learner (3-D Secure); finish `firstPayment` with the processor's SDK and the subscription becomes active"),
        (status = 400, description = "invalid_body, invalid_idempotency_key"), (status = 401),
        (status = 402, description = "payment_declined: the first charge was declined; the subscription stays incomplete (subscribe again with another method)"),
        (status = 404, description = "Unknown plan"),
        (status = 409, description = "already_subscribed (with `subscriptionId`), idempotency_key_in_use, renewal_in_progress"),
        (status = 422, description = "plan_unavailable, plan_has_no_courses, subscriptions_not_supported, currency_not_supported, card_data_refused, idempotency_key_reused"),
        (status = 502, description = "processor_refused"), (status = 503, description = "processor_unavailable")))]
pub async fn subscribe(
    req: HttpRequest,
    state: web::Data<Payment>,
    caller: Caller,
    key: MaybeIdempotencyKey,
    body: Json<SubscribeBody>,
) -> Result<HttpResponse, ApiError> {
    let fp = idempotency::fingerprint(&req, &body.raw);
    if let Some(k) = &key.0
        && let Some(stored) = idempotency::replay(&state.db, &caller.user_id, k, &fp).await?
    {
        return Ok(stored);
    }
    let input = body.value;
    let user = caller.user_id.clone();
    let plan = engine::plan(&state, input.plan_id).await?;
    let (price, interval) = sellable(&plan)?;
    engine::has_courses(&plan)?;
    let processor = state
        .processors
        .for_department(Some(&plan.department_id))
        .ok_or_else(|| PaymentError::Corrupt("no payment processor configured".into()))?;
    if !processor.saves_payment_methods() {
        return Err(ApiError::rule(
            "subscriptions_not_supported",
            format!(
                "{} does not keep payment methods for renewals here",
                processor.name()
            ),
        )
        .with_field("planId"));
    }
    let amount = kernel::Money::new(
        price.amount,
        kernel::Currency::parse(&price.currency)
            .map_err(|e| PaymentError::Corrupt(format!("plan {}: {e}", plan.item_id)))?,
    );
    payments::takes_currency(processor.as_ref(), amount)?;
    let method = input.payment_method.trim().to_string();
    if method.is_empty() {
        return Err(
            ApiError::rule("validation_failed", "a payment-method token is required")
                .with_field("paymentMethod"),
        );
    }
    payments::refuse_card_data(Some(processor.as_ref()), &method)?;
    // A retry with the same key names the same subscription, however it races.
    let id = key.0.as_ref().map_or_else(kernel::new_id, |k| {
        Uuid::new_v5(
            &Uuid::NAMESPACE_OID,
            format!("subscription:{user}:{}", k.as_str()).as_bytes(),
        )
    });
    let now = state.clock.now();
    let trial = price.trial_days.filter(|d| *d > 0);
    let anchor = now + chrono::Duration::days(i64::from(trial.unwrap_or(0)));
    let new = SubscriptionRow {
        id,
        user_id: user.clone(),
        department_id: plan.department_id.clone(),
        plan_id: plan.item_id,
        plan_type: interval.as_str().into(),
        amount_minor: amount.amount_minor(),
        currency: amount.currency().code().into(),
        processor: processor.name().into(),
        payment_method: method.clone(),
        status: if trial.is_some() {
            Status::Trialing
        } else {
            Status::Incomplete
        }
        .as_str()
        .into(),
        period: 0,
        anchor_at: anchor,
        anchor_period: 0,
        current_period_start: now,
        current_period_end: anchor,
        trial_end: trial.map(|_| anchor),
        cancel_at_period_end: false,
        cancelled_at: None,
        cancel_reason: None,
        paused_at: None,
        paused_from: None,
        grace_until: None,
        next_retry_at: None,
        last_failure: None,
        charging_period: None,
        charging_since: None,
        created_at: now,
        updated_at: now,
        customer_email: caller.email.clone(),
        customer_name: caller.name.clone(),
        pending_plan_id: None,
        pending_plan_type: None,
        pending_amount_minor: None,
    };
    let sub = start(&state, new).await?;
    let charged = if sub.state()? == Status::Incomplete {
        engine::charge_period(&state, &sub, 1).await?
    } else {
        false
    };
    state.outbox.notify_one();
    // As stored (times at the database's precision).
    let sub = store::get(&state.db, sub.id)
        .await?
        .ok_or_else(|| PaymentError::Corrupt("subscription vanished".into()))?;
    if sub.state()? == Status::Incomplete && sub.last_failure.is_none() {
        // Waiting for the learner (3-D Secure): 202 with the payment to finish; the renewal job
        // activates the subscription once the processor settles it.
        if let Some(c) = store::charge(&state.db, sub.id, 1).await?
            && sub.charging_period.is_none()
            && let Some(p) = crate::storage::get(&state.db, c.payment_id).await?
            && !p.state()?.is_settled()
        {
            let mut v = view(&state, &sub)?;
            v.first_payment = Some(FirstPayment {
                payment_id: p.id.to_string(),
                client_secret: p.client_secret.clone(),
            });
            return Ok(HttpResponse::Accepted().json(v));
        }
    }
    if sub.state()? == Status::Incomplete && !charged {
        // A concurrent request (the same key, or another) is charging it now.
        return Err(PaymentError::PaymentInProgress.into());
    }
    if sub.state()? == Status::Incomplete {
        // Declined: nothing is stored under the key, so a retry tries the card again.
        return Err(ApiError::new(
            actix_web::http::StatusCode::PAYMENT_REQUIRED,
            "payment_declined",
            format!(
                "the first charge was declined: {}",
                sub.last_failure.clone().unwrap_or_default()
            ),
        )
        .with("subscriptionId", serde_json::json!(sub.id)));
    }
    let v = view(&state, &sub)?;
    idempotency::run(&state.db, &user, key.0.as_ref(), &fp, |txn| async move {
        Ok((txn, Reply::created(&v)?))
    })
    .await
}

/// The plan's price and interval, if it is sold now.
fn sellable(plan: &CatalogItem) -> Result<(&contracts::catalog::CatalogPrice, Interval), ApiError> {
    let price = plan
        .price
        .as_ref()
        .filter(|_| plan.published && plan.available)
        .ok_or_else(|| {
            ApiError::rule("plan_unavailable", "the plan is not sold now").with_field("planId")
        })?;
    let interval = price
        .interval
        .as_deref()
        .and_then(Interval::parse)
        .ok_or_else(|| PaymentError::Corrupt(format!("plan {} has no interval", plan.item_id)))?;
    Ok((price, interval))
}

/// Records a new subscription, or finds the one this request (or a concurrent one with the same
/// key) made; an incomplete subscription to the same plan is taken up with the new method. Any
/// other live subscription to the department refuses.
async fn start(state: &Payment, new: SubscriptionRow) -> Result<SubscriptionRow, ApiError> {
    for _ in 0..2 {
        let txn = state.db.begin().await?;
        if let Some(mut live) = store::live_of(&txn, &new.user_id, &new.department_id).await? {
            let retry = live.id == new.id
                || (live.status == Status::Incomplete.as_str() && live.plan_id == new.plan_id);
            if !retry {
                return Err(ApiError::conflict(
                    "already_subscribed",
                    "you already have a subscription to this department",
                )
                .with("subscriptionId", serde_json::json!(live.id)));
            }
            if live.status == Status::Incomplete.as_str()
                && live.payment_method != new.payment_method
            {
                let mut locked = store::lock(&txn, live.id)
                    .await?
                    .ok_or_else(|| PaymentError::Corrupt("subscription vanished".into()))?;
                locked.payment_method = new.payment_method.clone();
                locked.updated_at = new.updated_at;
                store::save(&txn, &locked).await?;
                live = locked;
            }
            txn.commit().await?;
            return Ok(live);
        }
        match store::insert(&txn, &new).await {
            Ok(true) => {
                let grace = state.subscriptions.rules.grace;
                store::publish(&txn, &new, "created", None, new.created_at, grace).await?;
                txn.commit().await?;
                return Ok(new);
            }
            // The same id was made by a concurrent retry: read it as live above.
            Ok(false) => continue,
            // Another subscription to the department was made meanwhile: read it above.
            Err(e) if db::is_unique_violation(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(PaymentError::PaymentInProgress.into())
}

#[utoipa::path(get, path = "/api/v2/subscriptions", tag = "subscriptions", security(("bearer" = [])),
    params(("cursor" = Option<String>, Query, nullable = false, pattern = "^$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "The `nextCursor` of the previous page (empty: the first page)"), ("limit" = Option<u64>, Query, nullable = false, minimum = 1, maximum = 100, description = "Items per page, 1 to 100 (default 20)")),
    responses((status = 200, body = SubscriptionPage, description = "The caller's subscriptions, newest first"),
        (status = 400, description = "invalid_query"), (status = 401)))]
pub async fn list_own(
    state: web::Data<Payment>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let f = Filter {
        user_id: Some(caller.user_id.clone()),
        ..Filter::default()
    };
    page(&state, &f, &q).await
}

/// `?status=&departmentId=&userId=&cursor=&limit=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct AdminQuery {
    /// Only subscriptions in this status.
    #[param(nullable = false, schema_with = status_schema)]
    pub status: Option<String>,
    #[param(nullable = false)]
    pub department_id: Option<String>,
    #[param(nullable = false)]
    pub user_id: Option<String>,
    /// The `nextCursor` of the previous page (empty: the first page).
    #[param(
        nullable = false,
        pattern = "^$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    pub cursor: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(nullable = false, minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

fn status_schema() -> utoipa::openapi::Object {
    ::web::openapi::words(Status::NAMES)
}

#[utoipa::path(get, path = "/api/v2/admin/subscriptions", tag = "subscriptions", security(("bearer" = [])), params(AdminQuery),
    responses((status = 200, body = SubscriptionPage, description = "Every subscription that matches, newest first"),
        (status = 400, description = "invalid_query"), (status = 401), (status = 403)))]
pub async fn admin_list(
    state: web::Data<Payment>,
    _: Authorized<roles::BillingAdmin>,
    q: web::Query<AdminQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    if let Some(s) = &q.status
        && Status::parse(s).is_none()
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            "status: incomplete, trialing, active, past_due, paused or cancelled",
        )
        .with_field("status"));
    }
    let f = Filter {
        user_id: q.user_id,
        status: q.status,
        department_id: q.department_id,
    };
    let page_q = PageQuery {
        cursor: q.cursor,
        limit: q.limit,
    };
    page(&state, &f, &page_q).await
}

async fn page(state: &Payment, f: &Filter, q: &PageQuery) -> Result<HttpResponse, ApiError> {
    let limit = q.limit()?;
    let rows = store::list(&state.db, f, q.cursor()?, limit).await?;
    let p = Page::from_rows(rows, limit, |s| s.id.to_string());
    Ok(HttpResponse::Ok().json(SubscriptionPage {
        items: p
            .items
            .iter()
            .map(|s| view(state, s))
            .collect::<Result<_, _>>()?,
        next_cursor: p.next_cursor,
    }))
}

/// The caller's own subscription, or 404.
async fn own(state: &Payment, caller: &Caller, id: &str) -> Result<SubscriptionRow, ApiError> {
    let missing = || PaymentError::NotFound(format!("no subscription `{id}`"));
    let sid = Uuid::parse_str(id).map_err(|_| missing())?;
    store::get(&state.db, sid)
        .await?
        .filter(|s| s.user_id == caller.user_id)
        .ok_or_else(|| missing().into())
}

#[utoipa::path(get, path = "/api/v2/subscriptions/{id}", tag = "subscriptions", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = SubscriptionView), (status = 401), (status = 404)))]
pub async fn get_own(
    state: web::Data<Payment>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = own(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(view(&state, &s)?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelBody {
    /// `true` (the default): access continues until the period ends and nothing more is
    /// charged; `false`: access ends now (nothing is refunded).
    pub at_period_end: Option<bool>,
    pub reason: Option<String>,
}

fn refused(r: Refusal) -> ApiError {
    ApiError::conflict("subscription_state", r.to_string())
}

/// Changes the caller's subscription under its lock, unless a renewal job is charging it (then
/// 409 renewal_in_progress: ask again once the charge is settled).
async fn change<F>(
    state: &Payment,
    caller: &Caller,
    id: &str,
    f: F,
) -> Result<SubscriptionRow, ApiError>
where
    F: FnOnce(
        &mut SubscriptionRow,
        DateTime<Utc>,
    ) -> Result<(&'static str, Option<String>), ApiError>,
{
    let sid = own(state, caller, id).await?.id;
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    let mut s = store::lock(&txn, sid)
        .await?
        .ok_or_else(|| PaymentError::Corrupt("subscription vanished".into()))?;
    // Even a claim a dead job left: the next renewal pass settles what it was charging first.
    if s.charging_period.is_some() {
        return Err(ApiError::conflict(
            "renewal_in_progress",
            "the subscription's renewal is being charged; ask again in a moment",
        ));
    }
    let (event, reason) = f(&mut s, now)?;
    s.updated_at = now;
    store::save(&txn, &s).await?;
    let grace = state.subscriptions.rules.grace;
    store::publish(&txn, &s, event, reason.as_deref(), now, grace).await?;
    txn.commit().await?;
    state.outbox.notify_one();
    Ok(s)
}

#[utoipa::path(post, path = "/api/v2/subscriptions/{id}/cancel", tag = "subscriptions", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)), request_body = CancelBody,
    responses((status = 200, body = SubscriptionView), (status = 400, description = "invalid_body"), (status = 401), (status = 404),
        (status = 409, description = "subscription_state (already cancelled; only trialing or active ones end at the period's end), renewal_in_progress")))]
pub async fn cancel(
    state: web::Data<Payment>,
    caller: Caller,
    id: web::Path<String>,
    body: Json<CancelBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.value;
    let at_end = body.at_period_end.unwrap_or(true);
    let reason = body
        .reason
        .map(|r| r.trim().chars().take(500).collect::<String>());
    let s = change(&state, &caller, &id, |s, now| {
        let c = rules::cancel(s.state()?, at_end).map_err(refused)?;
        s.cancel_reason = reason.clone().or(Some("requested".into()));
        if at_end {
            s.cancel_at_period_end = true;
            Ok(("cancel_scheduled", reason))
        } else {
            s.status = c.status.as_str().into();
            s.cancelled_at = Some(now);
            s.next_retry_at = None;
            Ok(("ended", reason))
        }
    })
    .await?;
    Ok(HttpResponse::Ok().json(view(&state, &s)?))
}

#[utoipa::path(post, path = "/api/v2/subscriptions/{id}/pause", tag = "subscriptions", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = SubscriptionView, description = "Paused: nothing is charged and no new enrollment is made through it; what was left of the period is kept for the resumption"),
        (status = 401), (status = 404), (status = 409, description = "subscription_state, renewal_in_progress")))]
pub async fn pause(
    state: web::Data<Payment>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = change(&state, &caller, &id, |s, now| {
        let from = s.state()?;
        let c = rules::pause(from).map_err(refused)?;
        s.status = c.status.as_str().into();
        s.paused_at = Some(now);
        s.paused_from = Some(from.as_str().into());
        Ok(("paused", None))
    })
    .await?;
    Ok(HttpResponse::Ok().json(view(&state, &s)?))
}

#[utoipa::path(post, path = "/api/v2/subscriptions/{id}/resume", tag = "subscriptions", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = SubscriptionView, description = "Resumed with what was left of its period; a period already due is charged now"),
        (status = 401), (status = 404), (status = 409, description = "subscription_state, renewal_in_progress"),
        (status = 503, description = "processor_unavailable: resumed; the charge due is tried again by the renewal job")))]
pub async fn resume(
    state: web::Data<Payment>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let claim = state.subscriptions.claim;
    let s = change(&state, &caller, &id, |s, now| {
        let to = s.paused_from.as_deref().and_then(Status::parse);
        let c = rules::resume(s.state()?, to).map_err(refused)?;
        let paused_at = s.paused_at.unwrap_or(now);
        s.current_period_end = rules::resumed_end(s.current_period_end, paused_at, now);
        s.anchor_at = s.current_period_end;
        s.anchor_period = s.period;
        if s.period == 0 {
            s.trial_end = s.trial_end.map(|_| s.anchor_at);
        }
        if c.status == Status::PastDue {
            // Paused for non-payment: the unpaid period is charged at once (access only for as
            // long as that takes); declined, it is paused again.
            s.grace_until = Some(now + claim);
            s.next_retry_at = Some(now);
        }
        s.status = c.status.as_str().into();
        s.paused_at = None;
        s.paused_from = None;
        Ok(("resumed", None))
    })
    .await?;
    let (s, _) = engine::process(&state, s.id).await?;
    Ok(HttpResponse::Ok().json(view(&state, &s)?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentMethodBody {
    /// A processor payment-method token; card numbers never reach this API.
    pub payment_method: String,
}

/// Replaces the saved payment method; a past-due subscription's period is charged again with it
/// at once.
#[utoipa::path(put, path = "/api/v2/subscriptions/{id}/payment-method", tag = "subscriptions", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)), request_body = PaymentMethodBody,
    responses((status = 200, body = SubscriptionView, description = "Saved (and, when past due, charged: active again, or still past due with `lastFailure`)"),
        (status = 400, description = "invalid_body"), (status = 401), (status = 404),
        (status = 409, description = "subscription_state (cancelled), renewal_in_progress"),
        (status = 422, description = "card_data_refused, validation_failed"),
        (status = 503, description = "processor_unavailable")))]
pub async fn set_payment_method(
    state: web::Data<Payment>,
    caller: Caller,
    id: web::Path<String>,
    body: Json<PaymentMethodBody>,
) -> Result<HttpResponse, ApiError> {
    let method = body.value.payment_method.trim().to_string();
    if method.is_empty() {
        return Err(
            ApiError::rule("validation_failed", "a payment-method token is required")
                .with_field("paymentMethod"),
        );
    }
    let current = own(&state, &caller, &id).await?;
    payments::refuse_card_data(
        state.processors.by_name(&current.processor).as_deref(),
        &method,
    )?;
    let s = change(&state, &caller, &id, |s, now| {
        if s.state()? == Status::Cancelled {
            return Err(refused(Refusal::Cancelled));
        }
        s.payment_method = method.clone();
        if s.state()? == Status::PastDue {
            s.next_retry_at = Some(now);
        }
        Ok(("payment_method_changed", None))
    })
    .await?;
    let (s, _) = engine::process(&state, s.id).await?;
    Ok(HttpResponse::Ok().json(view(&state, &s)?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangePlanBody {
    /// Another plan of the subscription's department (its own plan: the pending change is
    /// withdrawn).
    #[schema(format = Uuid)]
    pub plan_id: Uuid,
}

/// Changes the plan (upgrade or downgrade between the department's plans) at the next renewal:
/// the period paid for is kept as bought, and the next one is the new plan's, at its price and
/// interval. Nothing is prorated because nothing is cut short.
#[utoipa::path(post, path = "/api/v2/subscriptions/{id}/change-plan", tag = "subscriptions", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)), request_body = ChangePlanBody,
    responses((status = 200, body = SubscriptionView, description = "`nextPlanId` set (or cleared)"),
        (status = 400, description = "invalid_body"), (status = 401), (status = 404, description = "Unknown subscription or plan"),
        (status = 409, description = "subscription_state (cancelled, or ending at the period's end), renewal_in_progress"),
        (status = 422, description = "plan_unavailable, plan_not_in_department (another department's, or another currency)")))]
pub async fn change_plan(
    state: web::Data<Payment>,
    caller: Caller,
    id: web::Path<String>,
    body: Json<ChangePlanBody>,
) -> Result<HttpResponse, ApiError> {
    let current = own(&state, &caller, &id).await?;
    let plan_id = body.value.plan_id;
    let plan = engine::plan(&state, plan_id).await?;
    let (price, interval) = sellable(&plan)?;
    if plan.department_id != current.department_id || price.currency != current.currency {
        return Err(ApiError::rule(
            "plan_not_in_department",
            "a subscription changes only to another plan of its department, in its currency",
        )
        .with_field("planId"));
    }
    let amount = price.amount;
    let s = change(&state, &caller, &id, |s, _| {
        if s.state()? == Status::Cancelled || s.cancel_at_period_end {
            return Err(ApiError::conflict(
                "subscription_state",
                "a cancelled or ending subscription does not change plans",
            ));
        }
        if s.plan_id == plan_id {
            s.pending_plan_id = None;
            s.pending_plan_type = None;
            s.pending_amount_minor = None;
            return Ok(("plan_change_withdrawn", None));
        }
        s.pending_plan_id = Some(plan_id);
        s.pending_plan_type = Some(interval.as_str().into());
        s.pending_amount_minor = Some(amount);
        Ok(("plan_change_scheduled", None))
    })
    .await?;
    Ok(HttpResponse::Ok().json(view(&state, &s)?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnrollBody {
    #[schema(format = Uuid)]
    pub course_id: Uuid,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentView {
    #[schema(format = Uuid)]
    pub subscription_id: String,
    #[schema(format = Uuid)]
    pub course_id: String,
    /// The no-charge order the registration comes from (source `subscription`).
    #[schema(format = Uuid)]
    pub order_id: String,
    pub order_number: String,
}

/// Self-enrollment (ENR-005): a course of the plan's department (or one under it), at no charge,
/// while the subscription gives access. The registration follows the usual path to the LMS,
/// approval rules included (`GET /api/v2/registrations`).
#[utoipa::path(post, path = "/api/v2/subscriptions/{id}/enrollments", tag = "subscriptions", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)), request_body = EnrollBody,
    responses((status = 201, body = EnrollmentView, description = "Enrolled through the subscription"),
        (status = 200, body = EnrollmentView, description = "Already enrolled through it"),
        (status = 400, description = "invalid_body"), (status = 401), (status = 404),
        (status = 409, description = "subscription_inactive: it gives no access now"),
        (status = 422, description = "course_not_covered: not a published course of the plan's department")))]
pub async fn enroll(
    state: web::Data<Payment>,
    caller: Caller,
    id: web::Path<String>,
    body: Json<EnrollBody>,
) -> Result<HttpResponse, ApiError> {
    let s = own(&state, &caller, &id).await?;
    let course_id = body.value.course_id;
    if !s.has_access(state.clock.now(), state.subscriptions.rules.grace)? {
        return Err(ApiError::conflict(
            "subscription_inactive",
            format!("the subscription is {} and gives no access now", s.status),
        ));
    }
    let plan = engine::plan(&state, s.plan_id).await?;
    let course = plan
        .courses
        .iter()
        .find(|c| c.course_id == course_id)
        .cloned()
        .ok_or_else(|| {
            ApiError::rule(
                "course_not_covered",
                "the course is not a published course of the subscription's department",
            )
            .with_field("courseId")
        })?;
    let item = CatalogItem {
        item_type: "course".into(),
        item_id: course_id,
        name: course.title.clone(),
        department_id: course.department_id.clone(),
        published: true,
        available: true,
        price: None,
        courses: vec![course],
    };
    let order = engine::subscription_order(
        &state,
        &SubscriptionOrder {
            source_key: format!("sub:{}:course:{course_id}", s.id),
            subscription_id: s.id,
            user_id: s.user_id.clone(),
            item,
            amount: 0,
            currency: s.currency.clone(),
            customer_email: s.customer_email.clone(),
            customer_name: s.customer_name.clone(),
        },
    )
    .await?;
    let new =
        store::record_enrollment(&state.db, s.id, course_id, order.id, state.clock.now()).await?;
    let v = EnrollmentView {
        subscription_id: s.id.to_string(),
        course_id: course_id.to_string(),
        order_id: order.id.to_string(),
        order_number: order.order_number,
    };
    Ok(if new {
        HttpResponse::Created().json(v)
    } else {
        HttpResponse::Ok().json(v)
    })
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenewalsBody {
    /// Development only (`payment.dev_clock`): move the payment service's clock forward this
    /// many days first, so a demo sees a trial end or a month pass.
    #[schema(minimum = 1, maximum = 400)]
    pub advance_days: Option<u32>,
}

#[utoipa::path(post, path = "/api/v2/admin/subscriptions/renewals", tag = "subscriptions", security(("bearer" = [])),
    request_body(content = Option<RenewalsBody>, description = "May be empty"),
    responses((status = 200, body = engine::Pass, description = "One pass of the renewal job, run now"),
        (status = 400, description = "invalid_body"), (status = 401), (status = 403),
        (status = 422, description = "dev_clock_disabled: `advanceDays` outside a development deployment; validation_failed")))]
pub async fn run_renewals(
    state: web::Data<Payment>,
    _: Authorized<roles::BillingAdmin>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: RenewalsBody = ::web::json::parse_optional(&body)?.unwrap_or_default();
    if let Some(days) = body.advance_days {
        let clock = state.dev_clock.as_ref().ok_or_else(|| {
            ApiError::rule(
                "dev_clock_disabled",
                "the clock moves only in a development deployment (payment.dev_clock)",
            )
            .with_field("advanceDays")
        })?;
        if !(1..=400).contains(&days) {
            return Err(ApiError::rule("validation_failed", "advanceDays: 1 to 400")
                .with_field("advanceDays"));
        }
        clock.advance(chrono::Duration::days(i64::from(days)));
    }
    Ok(HttpResponse::Ok().json(engine::renew_due(&state).await?))
}

/// `?userId=&courseIds=a,b`
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CoverageQuery {
    pub user_id: String,
    pub course_ids: String,
}

/// `GET /internal/v1/subscriptions/coverage` (cart-order): which of the courses a subscription
/// of the learner gives access to now, and through which.
pub async fn coverage(
    _: Internal,
    state: web::Data<Payment>,
    q: web::Query<CoverageQuery>,
) -> Result<HttpResponse, ApiError> {
    let wanted: Vec<Uuid> = q
        .course_ids
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            Uuid::parse_str(s)
                .map_err(|_| ApiError::bad_request("invalid_query", "courseIds: uuids"))
        })
        .collect::<Result<_, _>>()?;
    let mut covered = Vec::new();
    let (now, grace) = (state.clock.now(), state.subscriptions.rules.grace);
    for s in store::with_access(&state.db, &q.user_id, now, grace).await? {
        let plan = engine::plan(&state, s.plan_id).await?;
        for c in plan
            .courses
            .iter()
            .filter(|c| wanted.contains(&c.course_id))
        {
            covered.push(contracts::subscriptions::Covered {
                course_id: c.course_id,
                subscription_id: s.id,
            });
        }
    }
    Ok(HttpResponse::Ok().json(contracts::subscriptions::Coverage { items: covered }))
}
