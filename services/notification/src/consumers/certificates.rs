//! `commerce.certificate.issued` → `certificate-earned`, with the download and verification
//! links and the PDF attached.

use crate::Notifier;
use crate::domain::templates::Template;
use crate::notify;
use bus::{Delivery, Handler, HandlerFuture};
use events::commerce::v1::CertificateChanged;
use sea_orm::DatabaseTransaction;

pub struct CertificatesHandler {
    pub n: Notifier,
}

impl Handler for CertificatesHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let e: CertificateChanged = d.decode()?;
            if e.status != "active" {
                return Ok(());
            }
            let mut vars = serde_json::json!({
                "course_title": e.description,
                "certificate_number": e.certificate_number,
                "download_url": format!("{}/api/v2/certificates/{}/download", self.n.base_url, e.certificate_id),
                "verification_url": format!("{}/api/v2/certificates/verify/{}", self.n.base_url, e.certificate_number),
            });
            if !e.recipient_name.is_empty()
                && let Some(m) = vars.as_object_mut()
            {
                m.insert("recipient_name".into(), e.recipient_name.clone().into());
            }
            let id = events::fields::uuid("certificate_id", &e.certificate_id)?;
            let email = notify::Email {
                cause: format!("certificate:{id}"),
                template: Template::CertificateEarned,
                user_id: &e.user_id,
                vars,
                department: (!e.department_id.is_empty()).then_some(e.department_id.as_str()),
                certificate_id: Some(id),
                // A certificate issued by hand may be for a learner who never ordered: after a
                // few tries (an order's events running late), it is skipped, not dead-lettered.
                wait_for_learner: d.attempt < 5,
            };
            notify::send(txn, &self.n, email, self.n.clock.now()).await
        })
    }
}
