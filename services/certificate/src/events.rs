//! Events the certificate service publishes (through its outbox).

use crate::storage::CertificateRow;
use events::commerce::v1 as ev;

pub fn certificate_changed(c: &CertificateRow, reason: Option<&str>) -> ev::CertificateChanged {
    let changed_at = c.revoked_at.unwrap_or(c.issued_at);
    ev::CertificateChanged {
        certificate_id: c.id.to_string(),
        certificate_number: c.number.clone(),
        user_id: c.user_id.clone(),
        certificate_type: c.kind.clone(),
        course_id: c.course_id.map(|x| x.to_string()).unwrap_or_default(),
        program_id: c.program_id.map(|x| x.to_string()).unwrap_or_default(),
        status: c.status.clone(),
        reason: reason.unwrap_or_default().to_string(),
        changed_at: changed_at.to_rfc3339(),
        description: c.description.clone(),
        recipient_name: c.recipient_name.clone(),
        department_id: c.department_id.clone(),
    }
}
