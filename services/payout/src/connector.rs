//! The Payout Platform connector: one signed webhook per ledger entry, sent from the
//! `deliveries` table by the shared outbound worker ([`bus::outbound`]: lease, backoff, park,
//! redrive), the same mechanism the LMS connector uses. Revenue goes to
//! `POST {url}/api/v1/webhooks/revenue-recorded`, a reversal to `…/refund-issued` once its entry
//! has been delivered. Each attempt carries the delivery's one webhook id, signed with Standard
//! Webhooks.
//!
//! ```text
//!  2xx {ledgerEntryId} ──▶ delivered        408 / 429 / 5xx / unreachable ──▶ retry
//!  other 4xx ──▶ parked (an operator can redrive)     reversal before its entry ──▶ wait
//! ```

use crate::storage::{self, EntryRow, REVERSAL};
use bus::outbound::{Attempt, Due, Sender};
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use kernel::Clock;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub const SOURCE: &str = "commerce-platform";

#[derive(Clone)]
pub struct PayoutClient {
    pub http: reqwest::Client,
    pub base_url: String,
    pub webhook_secret: kernel::Secret,
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<P: Serialize> {
    pub source: &'static str,
    pub event: &'static str,
    pub payload: P,
}

/// The spec's `RevenueRecordedPayload.payload`. Amounts in minor units of `currency`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevenueRecorded {
    pub order_id: String,
    pub order_item_id: String,
    pub transaction_id: String,
    /// The LMS course id.
    pub course_id: String,
    pub course_name: String,
    pub learner_id: String,
    /// The platform keeps no learner names: always null.
    pub learner_name: Option<String>,
    pub instructor_id: String,
    pub content_creator_id: String,
    pub gross_amount: i64,
    pub processor_fee: i64,
    pub net_amount: i64,
    pub currency: String,
    pub paid_at: DateTime<Utc>,
}

/// The spec's `RefundIssuedPayload.payload`, with the LMS course id (a program line has one
/// reversal per course). `refundAmount` is positive, in minor units of `currency`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundIssued {
    pub order_id: String,
    pub order_item_id: String,
    pub course_id: String,
    pub refund_amount: i64,
    pub currency: String,
    pub full_refund: bool,
    pub refunded_at: DateTime<Utc>,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    ledger_entry_id: Option<String>,
}

fn revenue(e: &EntryRow) -> Envelope<RevenueRecorded> {
    Envelope {
        source: SOURCE,
        event: "payment.completed",
        payload: RevenueRecorded {
            order_id: e.order_id.to_string(),
            order_item_id: e.order_item_id.to_string(),
            transaction_id: e.transaction_id.clone(),
            course_id: e.lms_course_id.clone(),
            course_name: e.course_name.clone(),
            learner_id: e.learner_id.clone(),
            learner_name: None,
            instructor_id: e.instructor_id.clone(),
            content_creator_id: e.content_creator_id.clone(),
            gross_amount: e.gross_minor,
            processor_fee: e.fee_minor,
            net_amount: e.net_minor,
            currency: e.currency.clone(),
            paid_at: e.recorded_at,
        },
    }
}

fn reversal(e: &EntryRow) -> Envelope<RefundIssued> {
    Envelope {
        source: SOURCE,
        event: "refund.issued",
        payload: RefundIssued {
            order_id: e.order_id.to_string(),
            order_item_id: e.order_item_id.to_string(),
            course_id: e.lms_course_id.clone(),
            refund_amount: -e.gross_minor,
            currency: e.currency.clone(),
            full_refund: e.line_full,
            refunded_at: e.recorded_at,
            reason: e.refund_reason.clone().unwrap_or_default(),
        },
    }
}

impl Sender for PayoutClient {
    fn name(&self) -> &'static str {
        "payout"
    }

    fn send<'a>(&'a self, due: &'a Due) -> BoxFuture<'a, Attempt> {
        Box::pin(async move {
            let entry = match storage::get(&self.db, due.key).await {
                Ok(Some(e)) => e,
                Ok(None) => return Attempt::Permanent("ledger entry missing".into()),
                Err(e) => return Attempt::Retry(format!("database: {e}")),
            };
            let (endpoint, body) = if entry.kind == REVERSAL {
                // A reversal follows its entry and the entry's earlier reversals: the Payout
                // Platform must know what it reverses, in the order it happened.
                let Some(original) = entry.reverses else {
                    return Attempt::Permanent("reversal without its entry".into());
                };
                match storage::waits_on(&self.db, original, entry.seq).await {
                    Ok(false) => {}
                    Ok(true) => {
                        return Attempt::Wait(format!(
                            "waiting for entry {original} and its earlier reversals to sync"
                        ));
                    }
                    Err(e) => return Attempt::Retry(format!("database: {e}")),
                }
                ("refund-issued", serde_json::to_vec(&reversal(&entry)))
            } else {
                ("revenue-recorded", serde_json::to_vec(&revenue(&entry)))
            };
            let body = match body {
                Ok(b) => b,
                Err(e) => return Attempt::Permanent(format!("unserializable: {e}")),
            };
            self.post(endpoint, due, body).await
        })
    }
}

impl PayoutClient {
    async fn post(&self, endpoint: &str, d: &Due, body: Vec<u8>) -> Attempt {
        let url = format!(
            "{}/api/v1/webhooks/{endpoint}",
            self.base_url.trim_end_matches('/')
        );
        let id = format!("msg_{}", d.idempotency_id.simple());
        let ts = self.clock.now().timestamp();
        let signature =
            match web::standard_webhooks::sign(self.webhook_secret.expose(), &id, ts, &body) {
                Ok(s) => s,
                Err(e) => return Attempt::Permanent(format!("cannot sign: {e}")),
            };
        let req = self
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body);
        bus::outbound::send_http(req, |body| match serde_json::from_slice::<Answer>(body) {
            Ok(a) => Attempt::Delivered(a.ledger_entry_id),
            Err(e) => Attempt::Retry(format!("unreadable answer: {e}")),
        })
        .await
    }
}
