//! The certificate service: completions from the LMS become verifiable certificates.
//!
//! `inbound.lms.lms-completion` (the LMS's signed webhook, relayed by the gateway) → checked
//! against the course's completion criteria → one course certificate per learner and course,
//! ever; the last course of a bought program → one program certificate. Certificates render
//! to PDF on demand in their department's template, verify publicly by number, and are revoked
//! by an admin or by a full refund of their order line. `certificate.issued` / `.revoked` go
//! out through the outbox.
//!
//! # Layout
//! - [`domain`]: criteria, templates, the certificate's life and number (pure), errors.
//! - [`routes`]: learners' certificates, verification and share page, admin issue/revoke,
//!   criteria, templates; [`storage`]; [`views`]; [`events`]; [`issue`] (shared by routes and
//!   consumers); [`pdf`] and [`render`] (what is printed).
//! - [`consumers`]: catalog courses, `order.completed`, `refund.issued`, LMS completions.
//! - [`config`]: the `[certificate]` section; [`migration`]: schema.

pub mod config;
pub mod consumers;
pub mod domain;
pub mod events;
pub mod issue;
pub mod migration;
pub mod pdf;
pub mod render;
pub mod routes;
pub mod storage;
pub mod views;

use crate::domain::CertificateError;
use crate::domain::template::Design;
use crate::storage::CertificateRow;
use crate::views::{CertificatePage, CertificateView, Urls};
use bus::ConsumerSpec;
use futures_util::future::BoxFuture;
use kernel::{Clock, SystemClock};
use runtime::{Context, Mounted, ServiceFactory, Settings, StartError};
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;
use uuid::Uuid;

pub const NAME: &str = "certificate";
pub const SCHEMA: &str = "certificate";
/// The outbox source of its events.
pub const SOURCE: &str = "certificate";

#[derive(Clone)]
pub struct Certificates {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    /// Verification and share links start with it.
    pub base_url: String,
    relay: Arc<Notify>,
}

impl Certificates {
    pub fn urls(&self) -> Urls<'_> {
        Urls {
            base: &self.base_url,
        }
    }

    /// Publishes what a route just committed without waiting for the relay's poll.
    pub fn wake_relay(&self) {
        self.relay.notify_one();
    }

    /// The design a certificate renders in (its template as it is now, or the department's
    /// default, or the built-in one) and a tag that changes with it.
    pub async fn design_of(
        &self,
        c: &CertificateRow,
    ) -> Result<(Design, String), CertificateError> {
        let row = match c.template_id {
            Some(id) => storage::template(&self.db, id).await?,
            None => storage::default_template(&self.db, &c.department_id).await?,
        };
        match row {
            Some(t) => Ok((t.design()?, format!("{}:{}", t.id, t.version))),
            None => Ok((Design::default(), "built-in".into())),
        }
    }

    /// Renders on a blocking thread (genpdf is CPU work).
    pub async fn render_pdf(
        &self,
        design: Design,
        printed: pdf::Printed,
    ) -> Result<Vec<u8>, web::ApiError> {
        actix_web::web::block(move || pdf::render(&design, &printed))
            .await
            .map_err(web::ApiError::internal)?
            .map_err(|e| CertificateError::from(e).into())
    }

    /// The certificate's PDF in its design.
    pub async fn pdf_of(&self, c: &CertificateRow) -> Result<Vec<u8>, web::ApiError> {
        let (design, _) = self.design_of(c).await?;
        self.render_pdf(design, render::printed(c, &self.urls()))
            .await
    }

    pub async fn view(&self, c: &CertificateRow) -> Result<CertificateView, CertificateError> {
        let (design, _) = self.design_of(c).await?;
        Ok(c.view(&self.urls(), &design.title_text))
    }

    /// A page of certificates (rows fetched with one extra to tell whether more follow).
    pub async fn page(
        &self,
        rows: Vec<CertificateRow>,
        limit: u64,
    ) -> Result<CertificatePage, CertificateError> {
        let p = web::Page::from_rows(rows, limit, |c| c.id.to_string());
        let mut titles: HashMap<(Option<Uuid>, String), String> = HashMap::new();
        let mut items = Vec::with_capacity(p.items.len());
        for c in &p.items {
            let key = (c.template_id, c.department_id.clone());
            let title = match titles.get(&key) {
                Some(t) => t.clone(),
                None => {
                    let t = self.design_of(c).await?.0.title_text;
                    titles.insert(key, t.clone());
                    t
                }
            };
            items.push(c.view(&self.urls(), &title));
        }
        Ok(CertificatePage {
            items,
            next_cursor: p.next_cursor,
        })
    }
}

/// The certificate service. Tests may give it a clock.
#[derive(Clone, Default)]
pub struct CertificateService {
    pub clock: Option<Arc<dyn Clock>>,
}

impl ServiceFactory for CertificateService {
    fn name(&self) -> &'static str {
        NAME
    }

    fn prefixes(&self) -> &'static [&'static str] {
        &[
            "/api/v2/certificates",
            "/api/v2/admin/certificates",
            "/api/v2/admin/certificate-templates",
            "/api/v2/admin/completion-criteria",
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
            let cfg = config::CertificateConfig::load(&ctx.settings)?;
            let clock: Arc<dyn Clock> = self.clock.clone().unwrap_or_else(|| Arc::new(SystemClock));
            let courses = ctx.consumer(
                &db,
                ConsumerSpec::new(
                    "certificate-courses",
                    "COMMERCE",
                    ::events::subjects::COURSE_ALL,
                ),
                consumers::course_changed::CourseChangedHandler,
            );
            let orders = ctx.consumer(
                &db,
                ConsumerSpec::new(
                    "certificate-orders",
                    "COMMERCE",
                    ::events::subjects::ORDER_COMPLETED,
                )
                .concurrent(bus::PIPELINE_CONCURRENCY),
                consumers::order_completed::OrderCompletedHandler {
                    clock: clock.clone(),
                },
            );
            let refunds = ctx.consumer(
                &db,
                ConsumerSpec::new(
                    "certificate-refunds",
                    "COMMERCE",
                    ::events::subjects::REFUND_ISSUED,
                )
                .waking(relay.waker()),
                consumers::refund_issued::RefundIssuedHandler {
                    clock: clock.clone(),
                },
            );
            let completions = ctx.consumer(
                &db,
                ConsumerSpec::new(
                    "certificate-completions",
                    "INBOUND",
                    ::events::subjects::INBOUND_LMS_COMPLETION,
                )
                .concurrent(bus::PIPELINE_CONCURRENCY)
                .waking(relay.waker()),
                consumers::lms_completion::LmsCompletionHandler {
                    secret: cfg.lms_webhook_secret.clone(),
                    clock: clock.clone(),
                },
            );
            let state = Certificates {
                db: db.clone(),
                clock,
                base_url: cfg.public_base_url.clone(),
                relay: relay.waker(),
            };
            let data = actix_web::web::Data::new(state);
            Ok(Mounted {
                routes: Arc::new(move |c| routes::configure(c, data.clone())),
                tasks: vec![
                    Box::pin(relay.run(ctx.shutdown.clone())),
                    ctx.housekeeping(&db),
                    courses,
                    orders,
                    refunds,
                    completions,
                ],
                ready: vec![ctx.db_ready("postgres:certificate", &db)],
                filters: vec![],
            })
        })
    }
}
