//! Payments: intents and confirmations through a [`processor::PaymentProcessor`] chosen per
//! department (the offline `sandbox` today), processor webhooks, history, and an append-only
//! audit log. A client confirmation and a webhook for the same payment, in any order and any
//! number of times, settle it once: one `payment.succeeded` (or `payment.failed`).
//!
//! # Layout
//! - [`domain`]: the payment state machine and the error enum with its stable codes.
//! - [`processor`]: the connector trait, the per-department factory, one folder per provider.
//! - [`routes`]: HTTP; [`storage`]: payments, transitions, audit; [`views`]; [`events`].
//! - [`consumers`]: processor webhooks; [`config`]: the `[payment]` section; [`migration`]: schema.

pub mod config;
pub mod consumers;
pub mod domain;
pub mod events;
pub mod migration;
pub mod processor;
pub mod reconcile;
pub mod routes;
pub mod storage;
pub mod subscriptions;
pub mod views;

use bus::ConsumerSpec;
use futures_util::future::BoxFuture;
use kernel::{Clock, SystemClock};
use runtime::{Context, Mounted, ServiceFactory, Settings, StartError};
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use tokio::sync::Notify;
use web::internal::InternalClient;

pub const NAME: &str = "payment";
pub const SCHEMA: &str = "payment";
pub const WEBHOOK_CONSUMER: &str = "payment-processor-webhooks";
/// Durable consumer of rejected registrations (each asks for its line's refund).
pub const REJECTIONS_CONSUMER: &str = "payment-registration-rejections";
/// Durable consumer of learners' refund requests (from cart-order).
pub const REFUND_REQUESTS_CONSUMER: &str = "payment-refund-requests";
/// Durable consumers of orders that closed unpaid (their open payment is cancelled).
pub const ORDERS_FAILED_CONSUMER: &str = "payment-orders-failed";
pub const ORDERS_CANCELLED_CONSUMER: &str = "payment-orders-cancelled";

#[derive(Clone)]
pub struct Payment {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub outbox: Arc<Notify>,
    pub processors: processor::Processors,
    pub orders: InternalClient,
    pub orders_base: String,
    /// Velocity check: declines per learner within the window before attempts are held.
    pub velocity: Velocity,
    pub velocity_window: chrono::Duration,
    /// The catalog's internal base URL (plans and the courses they give access to).
    pub catalog_base: String,
    pub subscriptions: subscriptions::Settings,
    /// Development only: the clock the renewal endpoint may move forward.
    pub dev_clock: Option<Arc<kernel::OffsetClock>>,
}

/// The payment service as the runtime mounts it; tests may give it their own clock.
/// The velocity check's thresholds: declines within the window per learner, per client address
/// and per card that put further attempts on hold.
#[derive(Debug, Clone, Copy)]
pub struct Velocity {
    pub max_declines: i64,
    pub max_ip_declines: i64,
    pub max_card_declines: i64,
}

#[derive(Clone, Default)]
pub struct PaymentService {
    pub clock: Option<Arc<dyn Clock>>,
}

impl ServiceFactory for PaymentService {
    fn name(&self) -> &'static str {
        NAME
    }

    fn prefixes(&self) -> &'static [&'static str] {
        &[
            "/api/v2/payments",
            "/api/v2/admin/payments",
            "/api/v2/admin/refunds",
            "/api/v2/admin/payment-reviews",
            "/api/v2/admin/reconciliation",
            "/api/v2/subscriptions",
            "/api/v2/admin/subscriptions",
        ]
    }

    fn openapi(&self) -> Option<utoipa::openapi::OpenApi> {
        Some(routes::openapi())
    }

    fn migrate<'a>(&'a self, settings: &'a Settings) -> BoxFuture<'a, Result<(), StartError>> {
        runtime::migrate_schema::<migration::Migrator>(settings, SCHEMA)
    }

    fn build(&self, ctx: Context) -> BoxFuture<'_, Result<Mounted, StartError>> {
        Box::pin(async move {
            let db = ctx.database::<migration::Migrator>(SCHEMA).await?;
            let relay = ctx.relay(&db);
            let cfg = config::PaymentConfig::load(&ctx.settings)?;
            let dev_clock = (cfg.dev_clock && self.clock.is_none())
                .then(|| Arc::new(kernel::OffsetClock::default()));
            let clock: Arc<dyn Clock> = match (&self.clock, &dev_clock) {
                (Some(c), _) => c.clone(),
                (None, Some(d)) => d.clone(),
                (None, None) => Arc::new(SystemClock),
            };
            let webhook_url = if cfg.sandbox_webhook_url.is_empty() {
                format!(
                    "{}/api/v2/payments/webhook/sandbox",
                    ctx.internal_url("gateway")
                )
            } else {
                cfg.sandbox_webhook_url.clone()
            };
            let processors = processors(&cfg, clock.clone(), &webhook_url)?;
            let state = Payment {
                db: db.clone(),
                clock: clock.clone(),
                outbox: relay.waker(),
                processors: processors.clone(),
                orders: ctx.internal_client()?,
                orders_base: ctx
                    .internal_url("cart-order")
                    .trim_end_matches('/')
                    .to_string(),
                velocity: Velocity {
                    max_declines: i64::from(cfg.velocity_max_declines),
                    max_ip_declines: i64::from(cfg.velocity_max_declines_per_ip),
                    max_card_declines: i64::from(cfg.velocity_max_declines_per_card),
                },
                velocity_window: chrono::Duration::minutes(i64::from(cfg.velocity_window_minutes)),
                catalog_base: ctx
                    .internal_url("catalog")
                    .trim_end_matches('/')
                    .to_string(),
                subscriptions: subscriptions::Settings {
                    rules: domain::subscription::Policy {
                        grace: chrono::Duration::days(i64::from(cfg.subscription_grace_days)),
                        retry_every: chrono::Duration::hours(i64::from(
                            cfg.subscription_retry_hours,
                        )),
                        after_grace: domain::subscription::AfterGrace::parse(
                            &cfg.subscription_after_grace,
                        )
                        .ok_or_else(|| {
                            StartError::Other("payment: subscription_after_grace".into())
                        })?,
                        max_pause: chrono::Duration::days(i64::from(
                            cfg.subscription_max_pause_days,
                        )),
                    },
                    claim: chrono::Duration::seconds(
                        i64::try_from(cfg.subscription_claim_secs).unwrap_or(i64::MAX),
                    ),
                },
                dev_clock,
            };
            let webhooks = ctx.consumer(
                &db,
                ConsumerSpec::new(
                    WEBHOOK_CONSUMER,
                    "INBOUND",
                    ::events::subjects::INBOUND_PROCESSOR_ALL,
                )
                // Guarded transitions under the payment's row lock; events are resolved with
                // the processor's current state, so their order does not matter.
                .concurrent(bus::PIPELINE_CONCURRENCY)
                .waking(relay.waker()),
                bus::TwoPhase(consumers::webhook::WebhookHandler {
                    db: db.clone(),
                    processors,
                    clock,
                }),
            );
            let requests = ctx.consumer(
                &db,
                ConsumerSpec::new(
                    REFUND_REQUESTS_CONSUMER,
                    "COMMERCE",
                    ::events::subjects::REFUND_REQUESTED,
                ),
                consumers::refund_requested::RefundRequestedHandler {
                    clock: state.clock.clone(),
                },
            );
            let rejections = ctx.consumer(
                &db,
                ConsumerSpec::new(
                    REJECTIONS_CONSUMER,
                    "COMMERCE",
                    &::events::subjects::registration("rejected"),
                ),
                consumers::registration_rejected::RegistrationRejectedHandler {
                    clock: state.clock.clone(),
                },
            );
            let closing = |durable: &str, subject: &str| {
                ctx.consumer(
                    &db,
                    ConsumerSpec::new(durable, "COMMERCE", subject).waking(relay.waker()),
                    bus::TwoPhase(consumers::order_closed::OrderClosedHandler {
                        db: db.clone(),
                        processors: state.processors.clone(),
                        clock: state.clock.clone(),
                    }),
                )
            };
            let failed = closing(ORDERS_FAILED_CONSUMER, ::events::subjects::ORDER_FAILED);
            let cancelled = closing(
                ORDERS_CANCELLED_CONSUMER,
                ::events::subjects::ORDER_CANCELLED,
            );
            let sweeper = sweep_loop(
                state.clone(),
                std::time::Duration::from_secs(cfg.refund_sweep_after_secs),
                ctx.shutdown.clone(),
            );
            let reconciler = reconcile_loop(
                state.clone(),
                cfg.reconcile_interval_secs,
                cfg.reconcile_lag_secs,
                ctx.shutdown.clone(),
            );
            let renewals = renew_loop(
                state.clone(),
                cfg.subscription_renew_interval_secs,
                ctx.shutdown.clone(),
            );
            let data = actix_web::web::Data::new(state);
            Ok(Mounted {
                routes: Arc::new(move |c| routes::configure(c, data.clone())),
                tasks: vec![
                    Box::pin(relay.run(ctx.shutdown.clone())),
                    ctx.housekeeping(&db),
                    webhooks,
                    requests,
                    rejections,
                    failed,
                    cancelled,
                    Box::pin(sweeper),
                    Box::pin(reconciler),
                    Box::pin(renewals),
                ],
                ready: vec![ctx.db_ready("postgres:payment", &db)],
                filters: vec![],
            })
        })
    }
}

/// Asks again about refunds left in flight (a pending refund whose webhook never came, or one
/// whose processor call was cut short), every `after`.
/// Every processor this configuration enables, chosen per department.
pub fn processors(
    cfg: &config::PaymentConfig,
    clock: Arc<dyn Clock>,
    webhook_url: &str,
) -> Result<processor::Processors, StartError> {
    let sandbox = processor::sandbox::Sandbox::new(
        cfg.sandbox_webhook_secret.clone(),
        webhook_url,
        clock.clone(),
        processor::sandbox::transformers::FeePolicy {
            bps: cfg.sandbox_fee_bps,
            fixed_minor: cfg.sandbox_fee_fixed_minor,
        },
    )
    .map_err(|e| StartError::Other(e.to_string()))?;
    let mut instances: Vec<Arc<dyn processor::PaymentProcessor>> = vec![Arc::new(sandbox)];
    if cfg.stripe_enabled() {
        let settings = processor::stripe::StripeSettings {
            secret_key: cfg.stripe_secret_key.clone(),
            publishable_key: cfg.stripe_publishable_key.clone(),
            webhook_secret: cfg.stripe_webhook_secret.clone(),
            api_base: cfg.stripe_api_base.clone(),
            timeout: std::time::Duration::from_millis(cfg.stripe_timeout_ms),
            attempts: cfg.stripe_attempts,
        };
        let stripe = processor::stripe::Stripe::new(settings.clone())
            .map_err(|e| StartError::Other(e.to_string()))?;
        instances.push(Arc::new(stripe));
        let gpay = processor::stripe::Stripe::google_pay(
            settings,
            processor::stripe::GooglePay {
                merchant_id: cfg.google_pay_merchant_id.clone(),
                merchant_name: cfg.google_pay_merchant_name.clone(),
                environment: cfg.google_pay_environment.clone(),
            },
        )
        .map_err(|e| StartError::Other(e.to_string()))?;
        instances.push(Arc::new(gpay));
    }
    if cfg.square_enabled() {
        let square = processor::square::Square::new(processor::square::SquareSettings {
            access_token: cfg.square_access_token.clone(),
            application_id: cfg.square_application_id.clone(),
            location_id: cfg.square_location_id.clone(),
            currency: kernel::Currency::parse(&cfg.square_currency)
                .map_err(|e| StartError::Other(format!("payment: square_currency: {e}")))?,
            webhook_signature_key: cfg.square_webhook_signature_key.clone(),
            webhook_url: cfg.square_webhook_url.clone(),
            api_base: cfg.square_api_base.clone(),
            timeout: std::time::Duration::from_millis(cfg.square_timeout_ms),
            attempts: cfg.square_attempts,
        })
        .map_err(|e| StartError::Other(e.to_string()))?;
        instances.push(Arc::new(square));
    }
    if cfg.converge_enabled() {
        let currency = kernel::Currency::parse(&cfg.converge_currency)
            .map_err(|e| StartError::Other(format!("payment: converge_currency: {e}")))?;
        let converge = processor::converge::Converge::new(processor::converge::ConvergeSettings {
            merchant_id: cfg.converge_merchant_id.clone(),
            user_id: cfg.converge_user_id.clone(),
            pin: cfg.converge_pin.clone(),
            api_url: cfg.converge_api_url.clone(),
            hosted_url: cfg.converge_hosted_url.clone(),
            currency,
            timeout: std::time::Duration::from_millis(cfg.converge_timeout_ms),
            attempts: cfg.converge_attempts,
        })
        .map_err(|e| StartError::Other(e.to_string()))?;
        instances.push(Arc::new(converge));
    }
    processor::Processors::new(
        &cfg.default_processor,
        cfg.processors_by_department.clone(),
        instances,
    )
    .map_err(StartError::Other)
}

/// Reconciles every account whose processor lists its activity, each `interval_secs`, over the
/// period since its last scheduled run (ending `lag_secs` ago).
async fn reconcile_loop(
    state: Payment,
    interval_secs: u64,
    lag_secs: u64,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    if interval_secs == 0 {
        return;
    }
    let every = std::time::Duration::from_secs(interval_secs);
    let period = chrono::Duration::seconds(i64::try_from(interval_secs).unwrap_or(i64::MAX));
    let lag = chrono::Duration::seconds(i64::try_from(lag_secs).unwrap_or(0));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        let to = state.clock.now() - lag;
        // One run per account, under the account's own name: `gpay` is Stripe's account too.
        for name in state.processors.listing_accounts() {
            // Each turn starts where the last scheduled run ended (a restart skips nothing),
            // at most the longest period back.
            let oldest = to - chrono::Duration::days(reconcile::MAX_PERIOD_DAYS);
            let from = match storage::reconciliation::scheduled_until(&state.db, name).await {
                Ok(Some(until)) => until.max(oldest),
                Ok(None) => to - period,
                Err(e) => {
                    tracing::warn!(processor = name, error = %e, "reconciliation schedule unread");
                    continue;
                }
            };
            if from >= to {
                continue;
            }
            let r = reconcile::run(
                &state.db,
                &state.processors,
                name,
                from,
                to,
                "scheduler",
                state.clock.as_ref(),
            )
            .await;
            match r {
                Ok(run) => {
                    tracing::info!(processor = name, run = %run.id, differences = run.differences, "reconciled")
                }
                Err(e) => tracing::warn!(processor = name, error = %e, "reconciliation failed"),
            }
        }
    }
}

/// Runs the subscription renewal job every `interval_secs` (0: only on demand).
async fn renew_loop(
    state: Payment,
    interval_secs: u64,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    if interval_secs == 0 {
        return;
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(interval_secs)) => {}
            _ = shutdown.changed() => return,
        }
        match subscriptions::renew_due(&state).await {
            Ok(p) if p.due > 0 => tracing::info!(
                due = p.due,
                changed = p.changed,
                failed = p.failed,
                "subscriptions renewed"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e.detail, "subscription renewal pass failed"),
        }
    }
}

async fn sweep_loop(
    state: Payment,
    after: std::time::Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(after) => {}
            _ = shutdown.changed() => return,
        }
        let older = chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX);
        if let Err(e) = sweep_refunds_once(&state, state.clock.now() - older).await {
            tracing::warn!(error = %e, "refund sweep failed");
        }
    }
}

/// One sweep (also called by tests): every refund in flight since before `before` is asked
/// about (or sent again, under its own id as the idempotency key, when the processor never
/// answered) and settled as the processor says. Returns how many settled.
pub async fn sweep_refunds_once(
    state: &Payment,
    before: chrono::DateTime<chrono::Utc>,
) -> Result<usize, web::ApiError> {
    use sea_orm::TransactionTrait;
    let mut settled = 0;
    for r in storage::refunds::stuck(&state.db, before, 100).await? {
        let Some(payment) = storage::get(&state.db, r.payment_id).await? else {
            continue;
        };
        let Some(processor) = state.processors.by_name(&payment.processor) else {
            continue;
        };
        let answer = match &r.processor_refund_id {
            Some(id) => processor.retrieve_refund(id).await,
            None => {
                // Made already (its answer lost)? Then that is the answer; otherwise send it
                // again under its own id as the key.
                match processor
                    .find_refund(
                        &payment.processor_intent_id,
                        payment.transaction_id.as_deref(),
                        &r.id.to_string(),
                    )
                    .await
                {
                    Ok(Some(made)) => Ok(made),
                    Ok(None) => {
                        processor
                            .refund(processor::Refund {
                                intent_id: payment.processor_intent_id.clone(),
                                transaction_id: payment.transaction_id.clone(),
                                amount: r.amount()?,
                                idempotency_key: r.id.to_string(),
                                reason: Some(r.reason.clone()),
                            })
                            .await
                    }
                    Err(e) => Err(e),
                }
            }
        };
        let answer = match answer {
            Ok(pr) => storage::refunds::Answer::of(&pr),
            // A refusal of the (re)sent refund frees its share; a lookup that fails (a key
            // rotated, a refund not found) says nothing about the money and changes nothing.
            Err(e @ processor::ProcessorError::Declined(_)) if r.processor_refund_id.is_none() => {
                storage::refunds::Answer::Refused(e.to_string())
            }
            Err(e) => {
                tracing::warn!(refund = %r.id, error = %e, "refund in flight not settled by the sweep");
                continue;
            }
        };
        let txn = state.db.begin().await?;
        // The payment first, then its refund: the order every writer takes them in.
        storage::lock(&txn, payment.id).await?;
        if let Some(current) = storage::refunds::lock(&txn, r.id).await?
            && current.state()? == domain::RefundStatus::Processing
        {
            let after =
                storage::refunds::settle(&txn, &current, &payment, &answer, state.clock.now())
                    .await?;
            if after.status != current.status {
                settled += 1;
            }
        }
        txn.commit().await?;
    }
    state.outbox.notify_one();
    Ok(settled)
}
