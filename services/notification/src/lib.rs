//! The notification service: domain events become emails, once per cause and recipient.
//!
//! Events (`order.*`, `payment.failed`, `registration.*`, `refund.*`, `certificate.issued`) →
//! one of the ten templates rendered (minijinja, HTML escaped) for the learner whose address and
//! name the order carried from the SSO token → a send recorded once (unique per cause, template
//! and learner) in the consumer's transaction → delivered by the shared outbound worker through
//! the provider (SMTP): retried with backoff, parked after the limit or on a permanent refusal,
//! resent by a billing-admin. A mail outage never touches an order.
//!
//! # Layout
//! - [`domain`]: the templates (pure) and the error enum; [`notify`]: one email, decided.
//! - [`consumers`]: one file per event family; [`sender`]: SMTP; [`routes`]: sends, resend,
//!   previews; [`storage`]; [`config`]: the `[notification]` section; [`migration`]: schema.

pub mod config;
pub mod consumers;
pub mod domain;
pub mod migration;
pub mod notify;
pub mod routes;
pub mod sender;
pub mod storage;
pub mod webhooks;

use bus::ConsumerSpec;
use futures_util::future::BoxFuture;
use kernel::{Clock, SystemClock};
use runtime::{Context, Mounted, ServiceFactory, Settings, StartError};
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub const NAME: &str = "notification";
pub const SCHEMA: &str = "notification";
/// Deliveries of an event that waits for its order (the backoff's last step repeats).
const WAIT_FOR_ORDER_DELIVERIES: i64 = 35;

/// What the consumers and routes share.
#[derive(Clone)]
pub struct Notifier {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub base_url: String,
    pub lms_course_url: String,
    pub platform_name: String,
    /// Wakes the delivery worker.
    pub wake: Arc<Notify>,
    /// Verifies SendGrid's Event Webhook, when configured.
    pub sendgrid_key: Option<p256::ecdsa::VerifyingKey>,
    /// Verifies Mailgun's webhooks, when configured.
    pub mailgun_signing_key: Option<kernel::Secret>,
}

#[derive(Clone, Default)]
pub struct NotificationService;

impl ServiceFactory for NotificationService {
    fn name(&self) -> &'static str {
        NAME
    }

    fn prefixes(&self) -> &'static [&'static str] {
        &[
            "/api/v2/admin/notifications",
            "/api/v2/admin/notification-templates",
            "/api/v2/notifications",
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
            let cfg = config::NotificationConfig::load(&ctx.settings)?;
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let wake = Arc::new(Notify::new());
            let n = Notifier {
                db: db.clone(),
                clock: clock.clone(),
                base_url: cfg.public_base_url.clone(),
                lms_course_url: cfg.lms_course_url.clone(),
                platform_name: cfg.from_name.clone(),
                wake: wake.clone(),
                sendgrid_key: (!cfg.sendgrid_webhook_public_key.is_empty())
                    .then(|| webhooks::sendgrid_key(&cfg.sendgrid_webhook_public_key))
                    .transpose()
                    .map_err(|e| StartError::Other(format!("notification: {e}")))?,
                mailgun_signing_key: (!cfg.mailgun_webhook_signing_key.is_empty())
                    .then(|| cfg.mailgun_webhook_signing_key.clone()),
            };
            let composer = sender::Composer {
                db: db.clone(),
                pdfs: Some((ctx.internal_client()?, ctx.internal_url("certificate"))),
            };
            let provider: Arc<dyn bus::outbound::Sender> = match cfg.provider.as_str() {
                "sendgrid" => Arc::new(sender::SendGridSender {
                    composer,
                    http: http_client()?,
                    base: cfg.sendgrid_api_base.trim_end_matches('/').to_string(),
                    api_key: cfg.sendgrid_api_key.clone(),
                    from_name: cfg.from_name.clone(),
                    from_address: cfg.from_address.clone(),
                }),
                "mailgun" => Arc::new(sender::MailgunSender {
                    composer,
                    http: http_client()?,
                    base: cfg.mailgun_api_base.trim_end_matches('/').to_string(),
                    domain: cfg.mailgun_domain.clone(),
                    api_key: cfg.mailgun_api_key.clone(),
                    from: format!("{} <{}>", cfg.from_name, cfg.from_address),
                }),
                _ => {
                    let from = lettre::message::Mailbox::new(
                        Some(cfg.from_name.clone()),
                        cfg.from_address.parse().map_err(|e| {
                            StartError::Other(format!("notification: from_address: {e}"))
                        })?,
                    );
                    Arc::new(sender::SmtpSender::new(
                        composer,
                        &cfg.smtp_host,
                        cfg.smtp_port,
                        Duration::from_millis(cfg.smtp_timeout_ms),
                        from,
                    ))
                }
            };
            let policy = bus::outbound::RetryPolicy::connector(
                cfg.max_attempts,
                Duration::from_millis(cfg.retry_base_ms),
            );
            // An event may overtake the order it is about (another consumer): it waits for it,
            // about 15 minutes, before it is dead-lettered for an operator.
            let spec = |name: &'static str, stream: &'static str, subject: &'static str| {
                let mut s =
                    ConsumerSpec::new(name, stream, subject).concurrent(bus::PIPELINE_CONCURRENCY);
                s.max_deliver = WAIT_FOR_ORDER_DELIVERIES;
                s
            };
            let orders = ctx.consumer(
                &db,
                // Concurrent: a completion handled before its checkout waits for it (the
                // address is the one the learner gave last), and the rest does not depend on
                // the events' order. A serial consumer fell behind the registrations, whose
                // events then waited and retried.
                spec("notification-orders", "COMMERCE", "commerce.order.>"),
                consumers::orders::OrdersHandler { n: n.clone() },
            );
            let payments = ctx.consumer(
                &db,
                spec(
                    "notification-payments",
                    "COMMERCE",
                    ::events::subjects::PAYMENT_FAILED,
                ),
                consumers::payment_failed::PaymentFailedHandler { n: n.clone() },
            );
            let registrations = ctx.consumer(
                &db,
                spec(
                    "notification-registrations",
                    "COMMERCE",
                    ::events::subjects::REGISTRATION_ALL,
                ),
                consumers::registrations::RegistrationsHandler { n: n.clone() },
            );
            let refunds = ctx.consumer(
                &db,
                spec(
                    "notification-refunds",
                    "COMMERCE",
                    ::events::subjects::REFUND_ALL,
                ),
                consumers::refunds::RefundsHandler { n: n.clone() },
            );
            let certificates = ctx.consumer(
                &db,
                spec(
                    "notification-certificates",
                    "COMMERCE",
                    ::events::subjects::CERTIFICATE_ISSUED,
                ),
                consumers::certificates::CertificatesHandler { n: n.clone() },
            );
            let worker =
                ctx.outbound_worker(&db, storage::DELIVERIES, provider, policy, clock, wake);
            let data = actix_web::web::Data::new(n);
            Ok(Mounted {
                routes: Arc::new(move |c| routes::configure(c, data.clone())),
                tasks: vec![
                    ctx.housekeeping(&db),
                    orders,
                    payments,
                    registrations,
                    refunds,
                    certificates,
                    Box::pin(worker),
                ],
                ready: vec![ctx.db_ready("postgres:notification", &db)],
                filters: vec![],
            })
        })
    }
}

fn http_client() -> Result<reqwest::Client, StartError> {
    bus::outbound::connector_client().map_err(|e| StartError::Other(e.to_string()))
}
