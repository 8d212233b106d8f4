//! `commerce.registration.*` → `registration-pending` (a course that needs approval),
//! `registration-approved` (approved by an admin), `registration-rejected` (with the reason),
//! `enrollment-welcome` (enrolled, with the link into the LMS).

use crate::Notifier;
use crate::domain::templates::Template;
use crate::notify;
use crate::storage;
use bus::{Delivery, Handler, HandlerError, HandlerFuture};
use events::commerce::v1::RegistrationChanged;
use events::fields;
use sea_orm::DatabaseTransaction;

pub struct RegistrationsHandler {
    pub n: Notifier,
}

impl Handler for RegistrationsHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let e: RegistrationChanged = d.decode()?;
            let order_id = fields::uuid("order_id", &e.order_id)?;
            let course_id = fields::uuid("course_id", &e.course_id)?;
            let course = storage::order_course(txn, order_id, course_id)
                .await?
                .ok_or_else(|| {
                    HandlerError::transient(format!(
                        "course {course_id} of order {order_id} not known yet"
                    ))
                })?;
            let template = match e.status.as_str() {
                "pending" if course.approval_required => Template::RegistrationPending,
                "approved" if course.approval_required => Template::RegistrationApproved,
                "rejected" => Template::RegistrationRejected,
                "enrolled" => Template::EnrollmentWelcome,
                _ => return Ok(()),
            };
            let vars = serde_json::json!({
                "course_title": course.title,
                "reason": if e.rejection_reason.is_empty() { "no reason was given".to_string() } else { e.rejection_reason.clone() },
                "orders_url": format!("{}/orders", self.n.base_url),
                "start_url": format!("{}/{}", self.n.lms_course_url, course.lms_course_id),
            });
            let email = notify::Email {
                cause: format!("registration:{}", e.registration_id),
                template,
                user_id: &e.user_id,
                vars,
                department: Some(&e.department_id),
                certificate_id: None,
                wait_for_learner: true,
            };
            notify::send(txn, &self.n, email, self.n.clock.now()).await
        })
    }
}
