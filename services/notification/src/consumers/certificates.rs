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
            notify::send_with(
                txn,
                &self.n,
                &format!("certificate:{id}"),
                Template::CertificateEarned,
                &e.user_id,
                vars,
                Some(id),
                self.n.clock.now(),
            )
            .await
        })
    }
}
