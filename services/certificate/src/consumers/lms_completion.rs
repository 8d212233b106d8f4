//! The LMS's `POST /api/v1/webhooks/lms-completion`, relayed by the gateway as
//! `inbound.lms.lms-completion` (the gateway already refused what does not verify; checked
//! again here). Every completion is kept for audit. A learner who holds the course and meets its
//! criteria gets its certificate, once; then any program it completes gets one too.

use crate::domain::criteria::{Criteria, Progress};
use crate::issue::{self, CourseIssue};
use crate::storage::{self, NewCompletion};
use bus::{Delivery, Handler, HandlerError, HandlerFuture};
use chrono::{DateTime, Utc};
use kernel::Clock;
use sea_orm::DatabaseTransaction;
use serde::Deserialize;
use std::sync::Arc;

pub struct LmsCompletionHandler {
    pub secret: kernel::Secret,
    pub clock: Arc<dyn Clock>,
}

/// The webhook body (documented in the README).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompletionWebhook {
    pub event: String,
    pub payload: CompletionPayload,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompletionPayload {
    pub user_id: String,
    pub user_name: String,
    pub lms_course_id: String,
    pub enrollment_id: String,
    pub completed_at: DateTime<Utc>,
    pub progress: ProgressBody,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressBody {
    pub modules_completed: u32,
    pub modules_total: u32,
    #[serde(default)]
    pub completed_module_ids: Vec<String>,
    #[serde(default)]
    pub assessment_id: Option<String>,
    #[serde(default)]
    pub assessment_score: Option<u32>,
    #[serde(default)]
    pub minutes_spent: u32,
}

impl Handler for LmsCompletionHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            if let Err(e) = web::standard_webhooks::verify_headers(
                self.secret.expose(),
                |name| d.http_header(name),
                &d.payload,
                d.envelope.time.timestamp(),
            ) {
                tracing::warn!(error = %e, "lms-completion webhook refused; dropped");
                return Ok(());
            }
            let hook: CompletionWebhook = serde_json::from_slice(&d.payload)
                .map_err(|e| HandlerError::permanent(format!("malformed completion: {e}")))?;
            if hook.event != "course.completed" {
                tracing::debug!(event = %hook.event, "lms webhook ignored");
                return Ok(());
            }
            let p = &hook.payload;
            if p.progress.assessment_score.is_some_and(|s| s > 100)
                || p.progress.modules_completed > p.progress.modules_total
            {
                return Err(HandlerError::permanent(
                    "completion with an impossible score or module count",
                ));
            }
            let now = self.clock.now();
            let progress = Progress {
                modules_completed: p.progress.modules_completed,
                modules_total: p.progress.modules_total,
                completed_module_ids: p.progress.completed_module_ids.clone(),
                assessment_id: p.progress.assessment_id.clone(),
                assessment_score: p.progress.assessment_score,
                minutes_spent: p.progress.minutes_spent,
            };
            // Decided under the learner's lock: a refund of the course cannot slip in between
            // reading the holding and issuing.
            issue::lock_learner(txn, &p.user_id).await?;
            let held = storage::active_holdings(txn, &p.user_id, &p.lms_course_id).await?;
            let (outcome, detail, certificate_id) = match held.first() {
                None => (
                    "no_registration",
                    Some("the learner holds no registration for this course".to_string()),
                    None,
                ),
                Some(h) => {
                    // The course's own department and title (a program line's holdings carry the
                    // program's department): its admins and its template.
                    let course = storage::course(txn, h.course_id).await?.ok_or_else(|| {
                        HandlerError::transient(format!("course {} not known yet", h.course_id))
                    })?;
                    let criteria = storage::criteria(txn, h.course_id)
                        .await?
                        .unwrap_or_else(Criteria::default);
                    match criteria.evaluate(&progress) {
                        Err(unmet) => ("below_criteria", Some(unmet.join("; ")), None),
                        Ok(()) => {
                            let percentage = (p.progress.modules_total > 0).then(|| {
                                i32::try_from(
                                    u64::from(p.progress.modules_completed) * 100
                                        / u64::from(p.progress.modules_total),
                                )
                                .unwrap_or(100)
                            });
                            let issued = issue::course(
                                txn,
                                &CourseIssue {
                                    user_id: &p.user_id,
                                    recipient_name: &p.user_name,
                                    course_id: h.course_id,
                                    course_title: &course.title,
                                    department_id: &course.department_id,
                                    completed_at: p.completed_at,
                                    percentage,
                                    valid_for_days: criteria.validity_days(),
                                    issued_by: "lms",
                                    reason: None,
                                    now,
                                },
                            )
                            .await?;
                            match issued {
                                Some(c) => ("issued", None, Some(c.id)),
                                None => ("already_certified", None, None),
                            }
                        }
                    }
                }
            };
            storage::insert_completion(
                txn,
                &NewCompletion {
                    id: d.envelope.id,
                    user_id: &p.user_id,
                    user_name: &p.user_name,
                    lms_course_id: &p.lms_course_id,
                    enrollment_id: &p.enrollment_id,
                    completed_at: p.completed_at,
                    modules_completed: p.progress.modules_completed,
                    modules_total: p.progress.modules_total,
                    completed_module_ids: &p.progress.completed_module_ids,
                    assessment_id: p.progress.assessment_id.as_deref(),
                    assessment_score: p.progress.assessment_score,
                    minutes_spent: p.progress.minutes_spent,
                    outcome,
                    detail,
                    certificate_id,
                    received_at: now,
                },
            )
            .await?;
            Ok(())
        })
    }
}
