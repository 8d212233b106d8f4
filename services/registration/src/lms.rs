//! The LMS connector: enrollment requests (`POST <LMS>/api/v2/connectors/enrollment-request`)
//! sent from the `deliveries` table by the shared outbound worker ([`bus::outbound`]: lease,
//! backoff, park, redrive). Each attempt carries the registration's one idempotency id. This file
//! only builds the request and classifies the LMS's answer:
//!
//! ```text
//!  2xx success ──▶ Delivered(enrollment id)      5xx / 408 / 429 / unreachable ──▶ Retry
//!  2xx refusal or other 4xx ──▶ Permanent (parked, an admin can redrive)
//! ```

use crate::domain::RegistrationStatus;
use crate::storage;
use bus::outbound::{Attempt, Due, Sender};
use chrono::Utc;
use futures_util::future::BoxFuture;
use kernel::Lifecycle;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};

#[derive(Clone)]
pub struct LmsClient {
    pub http: reqwest::Client,
    pub base_url: String,
    pub api_key: kernel::Secret,
    /// Where the registrations are read from when their request is due.
    pub db: DatabaseConnection,
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

impl Sender for LmsClient {
    fn name(&self) -> &'static str {
        "lms"
    }

    fn send<'a>(&'a self, due: &'a Due) -> BoxFuture<'a, Attempt> {
        Box::pin(async move {
            match storage::get(&self.db, due.key).await {
                Ok(Some(r)) if r.status == RegistrationStatus::Cancelled.as_str() => {
                    Attempt::Permanent("the registration was cancelled before it was sent".into())
                }
                Ok(Some(r)) => self.request(due, &r).await,
                Ok(None) => Attempt::Permanent("registration missing".into()),
                Err(e) => Attempt::Retry(format!("database: {e}")),
            }
        })
    }
}

impl LmsClient {
    async fn request(&self, d: &Due, r: &storage::RegistrationRow) -> Attempt {
        let body = EnrollmentRequest {
            source: "commerce-platform",
            api_key: self.api_key.expose().to_string(),
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
                    currency: r.currency.clone(),
                    content_creator_id: r.creator_id.clone(),
                    purchase_date: r.purchased_at,
                },
            },
        };
        self.post("enrollment-request", d, &body).await
    }

    /// Posts one connector request and classifies the answer.
    async fn post(&self, endpoint: &str, d: &Due, body: &impl Serialize) -> Attempt {
        let url = format!(
            "{}/api/v2/connectors/{endpoint}",
            self.base_url.trim_end_matches('/')
        );
        let mut req = self
            .http
            .post(&url)
            .header("Idempotency-Key", d.idempotency_id.to_string())
            .header("X-Api-Key", self.api_key.expose())
            .json(body);
        if let Some(tp) = telemetry::current_traceparent() {
            req = req.header("traceparent", tp);
        }
        bus::outbound::send_http(req, |body| {
            match serde_json::from_slice::<EnrollmentResponse>(body) {
                Ok(r) if r.success => Attempt::Delivered(r.enrollment_id),
                Ok(r) => Attempt::Permanent(format!("refused: {}", r.message)),
                Err(e) => Attempt::Retry(format!("unreadable answer: {e}")),
            }
        })
        .await
    }
}

/// `POST <LMS>/api/v2/connectors/unenrollment-request`: the learner was refunded in full, so the
/// LMS removes the enrollment. Same envelope, key and delivery guarantees as enrollment requests.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnenrollmentPayload {
    pub order_id: String,
    /// The registration id the enrollment request carried.
    pub order_item_id: String,
    pub user_id: String,
    pub course_id: String,
    pub enrollment_id: Option<String>,
    pub reason: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct UnenrollmentRequest {
    source: &'static str,
    api_key: String,
    payload: UnenrollmentPayload,
}

/// The unenrollment sender: the LMS client with the other endpoint.
pub struct Unenrollments(pub LmsClient);

impl Sender for Unenrollments {
    fn name(&self) -> &'static str {
        "lms-unenrollment"
    }

    fn send<'a>(&'a self, due: &'a Due) -> BoxFuture<'a, Attempt> {
        Box::pin(async move {
            let r = match storage::get(&self.0.db, due.key).await {
                Ok(Some(r)) => r,
                Ok(None) => return Attempt::Permanent("registration missing".into()),
                Err(e) => return Attempt::Retry(format!("database: {e}")),
            };
            let body = UnenrollmentRequest {
                source: "commerce-platform",
                api_key: self.0.api_key.expose().to_string(),
                payload: UnenrollmentPayload {
                    order_id: r.order_id.to_string(),
                    order_item_id: r.id.to_string(),
                    user_id: r.user_id.clone(),
                    course_id: r.lms_course_id.clone(),
                    enrollment_id: r.enrollment_id.clone(),
                    reason: "refunded",
                },
            };
            self.0.post("unenrollment-request", due, &body).await
        })
    }
}
