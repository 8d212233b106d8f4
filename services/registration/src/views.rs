//! API response shapes of registrations.

use crate::storage::RegistrationRow;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationView {
    pub id: Uuid,
    pub user_id: String,
    pub registration_type: String,
    pub course_id: Uuid,
    pub lms_course_id: String,
    pub course_title: String,
    pub program_id: Option<Uuid>,
    pub department_id: String,
    pub order_id: Uuid,
    pub order_number: String,
    pub order_item_index: i32,
    pub approval_required: bool,
    pub status: String,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub rejection_reason: Option<String>,
    pub enrollment_id: Option<String>,
    /// The enrollment request to the LMS: pending, delivered or failed.
    pub delivery_status: Option<String>,
    pub delivery_attempts: Option<i32>,
    pub delivery_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RegistrationRow {
    pub fn view(&self) -> RegistrationView {
        RegistrationView {
            id: self.id,
            user_id: self.user_id.clone(),
            registration_type: self.registration_type.clone(),
            course_id: self.course_id,
            lms_course_id: self.lms_course_id.clone(),
            course_title: self.course_title.clone(),
            program_id: self.program_id,
            department_id: self.department_id.clone(),
            order_id: self.order_id,
            order_number: self.order_number.clone(),
            order_item_index: self.order_item_index,
            approval_required: self.approval_required,
            status: self.status.clone(),
            reviewed_by: self.reviewed_by.clone(),
            reviewed_at: self.reviewed_at,
            rejection_reason: self.rejection_reason.clone(),
            enrollment_id: self.enrollment_id.clone(),
            delivery_status: self.delivery_status.clone(),
            delivery_attempts: self.delivery_attempts,
            delivery_error: self.delivery_error.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}
