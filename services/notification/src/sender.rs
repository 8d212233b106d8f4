//! The mail provider behind the outbound worker (the spec's `IEmailProvider`): SMTP through
//! lettre. A transient refusal (4xx), an unreachable server or a timeout is retried with
//! backoff; a permanent refusal (5xx) or an address that cannot be written parks the send.

use crate::storage;
use bus::outbound::{Attempt, Due, Sender};
use futures_util::future::BoxFuture;
use lettre::message::{Attachment, Mailbox, MultiPart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sea_orm::DatabaseConnection;

pub struct SmtpSender {
    pub db: DatabaseConnection,
    pub transport: AsyncSmtpTransport<Tokio1Executor>,
    pub from: Mailbox,
    /// Where certificate PDFs come from: the internal client and the certificate service's base.
    pub pdfs: Option<(web::internal::InternalClient, String)>,
}

impl SmtpSender {
    pub fn new(
        db: DatabaseConnection,
        host: &str,
        port: u16,
        timeout: std::time::Duration,
        from: Mailbox,
    ) -> SmtpSender {
        // Plain SMTP to a relay or catcher the deployment runs beside the service.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(timeout))
            .build();
        SmtpSender {
            db,
            transport,
            from,
            pdfs: None,
        }
    }
}

impl Sender for SmtpSender {
    fn name(&self) -> &'static str {
        "smtp"
    }

    fn send<'a>(&'a self, due: &'a Due) -> BoxFuture<'a, Attempt> {
        Box::pin(async move {
            let s = match storage::get(&self.db, due.key).await {
                Ok(Some(s)) => s,
                Ok(None) => return Attempt::Permanent("send missing".into()),
                Err(e) => return Attempt::Retry(format!("database: {e}")),
            };
            let Some(address) = s.recipient.as_deref() else {
                return Attempt::Permanent("no recipient address".into());
            };
            let to: Mailbox = match address.parse() {
                Ok(m) => m,
                Err(e) => return Attempt::Permanent(format!("recipient `{address}`: {e}")),
            };
            let body = MultiPart::alternative_plain_html(s.text.clone(), s.html.clone());
            let body = match s.certificate_id {
                None => body,
                Some(id) => {
                    let Some((client, base)) = &self.pdfs else {
                        return Attempt::Permanent(
                            "no certificate service to fetch the PDF".into(),
                        );
                    };
                    let url = format!("{base}/internal/certificates/{id}/pdf");
                    let pdf = match client.get_bytes("certificate", &url).await {
                        Ok(b) => b,
                        Err(web::internal::InternalError::NotFound) => {
                            return Attempt::Permanent(format!("certificate {id} not found"));
                        }
                        Err(e) => return Attempt::Retry(e.to_string()),
                    };
                    let pdf_type = match ContentType::parse("application/pdf") {
                        Ok(t) => t,
                        Err(e) => return Attempt::Permanent(e.to_string()),
                    };
                    MultiPart::mixed().multipart(body).singlepart(
                        Attachment::new("certificate.pdf".into()).body(pdf.to_vec(), pdf_type),
                    )
                }
            };
            let message = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(s.subject.clone())
                .message_id(Some(format!("<{}@cadence-commerce>", due.idempotency_id)))
                .multipart(body);
            let message = match message {
                Ok(m) => m,
                Err(e) => return Attempt::Permanent(format!("message: {e}")),
            };
            match self.transport.send(message).await {
                Ok(r) => Attempt::Delivered(r.message().next().map(str::to_string)),
                Err(e) if e.is_permanent() => Attempt::Permanent(e.to_string()),
                Err(e) => Attempt::Retry(e.to_string()),
            }
        })
    }
}
