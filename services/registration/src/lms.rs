//! Enrollment requests to the LMS (`POST <LMS>/api/v2/connectors/enrollment-request`), delivered
//! from the `deliveries` table: due rows are claimed for a lease (`SKIP LOCKED`, no lock held
//! during the call) so several workers never send the same one at once; each attempt carries the registration's one idempotency id;
//! failures back off exponentially and are parked as `failed` after the limit (an admin can
//! redrive them).
//!
//! ```text
//!  approved ──▶ deliveries(pending) ──POST──▶ LMS ── 2xx ──▶ delivered
//!                    ▲    │ 5xx / timeout / 429: attempts+1, next = base·2^attempts
//!                    │    └─ attempts = max or 4xx ──▶ failed ── redrive ──┘
//! ```

use crate::storage::{self, DueDelivery};
use chrono::Utc;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

#[derive(Clone)]
pub struct LmsClient {
    pub http: reqwest::Client,
    pub base_url: String,
    pub api_key: String,
    pub max_attempts: u32,
    pub retry_base: Duration,
    /// The client's per-request timeout; a claim lasts three of them.
    pub http_timeout: Duration,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentRequest {
    pub source: &'static str,
    pub api_key: String,
    pub payload: EnrollmentPayload,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentPayload {
    pub order_id: String,
    /// The registration id: one per course bought (a program gives one per member course).
    pub order_item_id: String,
    pub user_id: String,
    pub course_id: String,
    pub instructor_id: Option<String>,
    pub approval_status: &'static str,
    pub auto_approve: bool,
    pub purchase_metadata: PurchaseMetadata,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseMetadata {
    pub gross_amount: i64,
    pub net_amount: i64,
    pub currency: String,
    pub content_creator_id: String,
    pub purchase_date: chrono::DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentResponse {
    pub success: bool,
    pub enrollment_id: Option<String>,
    #[serde(default)]
    pub message: String,
}

enum Attempt {
    Delivered(Option<String>),
    Retry(String),
    Permanent(String),
}

impl LmsClient {
    async fn send(&self, d: &DueDelivery, r: &storage::RegistrationRow) -> Attempt {
        let body = EnrollmentRequest {
            source: "commerce-platform",
            api_key: self.api_key.clone(),
            payload: EnrollmentPayload {
                order_id: r.order_id.to_string(),
                order_item_id: r.id.to_string(),
                user_id: r.user_id.clone(),
                course_id: r.lms_course_id.clone(),
                instructor_id: Some(r.instructor_id.clone()).filter(|i| !i.is_empty()),
                approval_status: "pending",
                auto_approve: true,
                purchase_metadata: PurchaseMetadata {
                    gross_amount: r.gross_minor,
                    // The processor fee is known to the ledger, not here; net equals gross until then.
                    net_amount: r.gross_minor,
                    currency: r.currency.trim().to_string(),
                    content_creator_id: r.creator_id.clone(),
                    purchase_date: r.purchased_at,
                },
            },
        };
        let url = format!(
            "{}/api/v2/connectors/enrollment-request",
            self.base_url.trim_end_matches('/')
        );
        let mut req = self
            .http
            .post(&url)
            .header("Idempotency-Key", d.idempotency_id.to_string())
            .header("X-Api-Key", &self.api_key)
            .json(&body);
        if let Some(tp) = telemetry::current_traceparent() {
            req = req.header("traceparent", tp);
        }
        match req.send().await {
            Err(e) => Attempt::Retry(format!("unreachable: {e}")),
            Ok(resp) => {
                let status = resp.status();
                if status.is_success() {
                    match resp.json::<EnrollmentResponse>().await {
                        Ok(r) if r.success => Attempt::Delivered(r.enrollment_id),
                        Ok(r) => Attempt::Permanent(format!("refused: {}", r.message)),
                        Err(e) => Attempt::Retry(format!("unreadable answer: {e}")),
                    }
                } else if status.as_u16() == 429
                    || status.is_server_error()
                    || status.as_u16() == 408
                {
                    Attempt::Retry(format!("status {status}"))
                } else {
                    Attempt::Permanent(format!(
                        "status {status}: {}",
                        resp.text().await.unwrap_or_default()
                    ))
                }
            }
        }
    }

    fn backoff(&self, attempts: i32) -> Duration {
        let factor = 2u32.saturating_pow(u32::try_from(attempts.max(0)).unwrap_or(0).min(16));
        (self.retry_base * factor).min(Duration::from_secs(300))
    }
}

/// Delivers due enrollment requests until `shutdown`; `wake` is nudged when one is scheduled.
pub async fn run(
    db: DatabaseConnection,
    lms: LmsClient,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let worked = match deliver_due(&db, &lms).await {
            Ok(n) => n > 0,
            Err(e) => {
                tracing::warn!(error = %e, "enrollment delivery pass failed");
                false
            }
        };
        if worked {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One pass: claims due rows, sends them concurrently, records each outcome.
pub async fn deliver_due(
    db: &DatabaseConnection,
    lms: &LmsClient,
) -> Result<usize, sea_orm::DbErr> {
    let lease =
        chrono::Duration::from_std(lms.http_timeout * 3).unwrap_or(chrono::Duration::seconds(60));
    let due = storage::claim_due(db, Utc::now(), lease, 16).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let mut regs = Vec::with_capacity(due.len());
    for d in &due {
        regs.push(storage::get(db, d.registration_id).await?);
    }
    let sends = due.iter().zip(&regs).map(|(d, r)| async move {
        match r {
            Some(r) => lms.send(d, r).await,
            None => Attempt::Permanent("registration missing".into()),
        }
    });
    let outcomes = futures_util::future::join_all(sends).await;
    let now = Utc::now();
    for (d, outcome) in due.iter().zip(outcomes) {
        match outcome {
            Attempt::Delivered(enrollment) => {
                storage::attempt_succeeded(db, d.registration_id, enrollment.as_deref(), now)
                    .await?;
                metrics::counter!("lms_enrollment_requests_total", "outcome" => "delivered")
                    .increment(1);
            }
            Attempt::Retry(e) => {
                let park = d.attempts + 1 >= i32::try_from(lms.max_attempts).unwrap_or(i32::MAX);
                let next =
                    now + chrono::Duration::from_std(lms.backoff(d.attempts)).unwrap_or_default();
                if park {
                    tracing::error!(registration = %d.registration_id, error = %e, "enrollment request parked after the retry limit");
                } else {
                    tracing::warn!(registration = %d.registration_id, error = %e, "enrollment request failed; will retry");
                }
                storage::attempt_failed(db, d.registration_id, &e, park, next, now).await?;
                metrics::counter!("lms_enrollment_requests_total", "outcome" => if park { "parked" } else { "retry" }).increment(1);
            }
            Attempt::Permanent(e) => {
                tracing::error!(registration = %d.registration_id, error = %e, "enrollment request refused; parked");
                storage::attempt_failed(db, d.registration_id, &e, true, now, now).await?;
                metrics::counter!("lms_enrollment_requests_total", "outcome" => "parked")
                    .increment(1);
            }
        }
    }
    Ok(due.len())
}
