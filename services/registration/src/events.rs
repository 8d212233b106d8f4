//! The events registration publishes, built from rows; they leave through the outbox on
//! `commerce.registration.<status>`.

use crate::storage::RegistrationRow;
use events::commerce::v1 as ev;

pub fn registration_changed(r: &RegistrationRow) -> ev::RegistrationChanged {
    ev::RegistrationChanged {
        registration_id: r.id.to_string(),
        user_id: r.user_id.clone(),
        course_id: r.course_id.to_string(),
        program_id: r.program_id.map(|p| p.to_string()).unwrap_or_default(),
        department_id: r.department_id.clone(),
        order_id: r.order_id.to_string(),
        status: r.status.clone(),
        rejection_reason: r.rejection_reason.clone().unwrap_or_default(),
        enrollment_id: r.enrollment_id.clone().unwrap_or_default(),
        changed_at: r.updated_at.to_rfc3339(),
        gross_minor: r.gross_minor,
        currency: r.currency.clone(),
        order_item_id: r.order_item_id.map(|l| l.to_string()).unwrap_or_default(),
    }
}
