//! The mail providers behind the outbound worker (the spec's `IEmailProvider`), chosen by
//! `notification.provider`: SMTP through lettre, SendGrid's v3 mail send, Mailgun's messages API.
//! Each classifies its answer the same way: unreachable, a timeout, 4xx-transient (SMTP), 408,
//! 429 or 5xx is retried with backoff; any other refusal parks the send. Neither SendGrid nor
//! Mailgun takes an idempotency key: the send's id travels as a custom argument so webhooks find
//! it, and the unique send row is what keeps an email from going twice.

use crate::storage::{self, SendRow};
use base64::Engine;
use bus::outbound::{Attempt, Due, Sender};
use futures_util::future::BoxFuture;
use lettre::message::{Attachment, Mailbox, MultiPart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sea_orm::DatabaseConnection;

/// What every provider needs to send one email.
struct Prepared {
    send: SendRow,
    to: String,
    pdf: Option<Vec<u8>>,
}

/// Reads the send, checks its address, fetches the certificate PDF it carries.
pub struct Composer {
    pub db: DatabaseConnection,
    /// Where certificate PDFs come from: the internal client and the certificate service's base.
    pub pdfs: Option<(web::internal::InternalClient, String)>,
}

pub const ATTACHMENT_NAME: &str = "certificate.pdf";

impl Composer {
    async fn prepare(&self, due: &Due) -> Result<Prepared, Attempt> {
        let send = match storage::get(&self.db, due.key).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(Attempt::Permanent("send missing".into())),
            Err(e) => return Err(Attempt::Retry(format!("database: {e}"))),
        };
        let Some(to) = send.recipient.clone() else {
            return Err(Attempt::Permanent("no recipient address".into()));
        };
        // An address can be suppressed while its send waits or when an operator resends it.
        match storage::suppressed(&self.db, &to).await {
            Ok(None) => {}
            Ok(Some(why)) => return Err(Attempt::Permanent(format!("address suppressed: {why}"))),
            Err(e) => return Err(Attempt::Retry(format!("database: {e}"))),
        }
        let pdf = match send.certificate_id {
            None => None,
            Some(id) => {
                let Some((client, base)) = &self.pdfs else {
                    return Err(Attempt::Permanent(
                        "no certificate service to fetch the PDF".into(),
                    ));
                };
                let url = format!("{base}/internal/certificates/{id}/pdf");
                match client.get_bytes("certificate", &url).await {
                    Ok(b) => Some(b.to_vec()),
                    Err(web::internal::InternalError::NotFound) => {
                        return Err(Attempt::Permanent(format!("certificate {id} not found")));
                    }
                    Err(e) => return Err(Attempt::Retry(e.to_string())),
                }
            }
        };
        Ok(Prepared { send, to, pdf })
    }
}

pub struct SmtpSender {
    pub composer: Composer,
    pub transport: AsyncSmtpTransport<Tokio1Executor>,
    pub from: Mailbox,
}

impl SmtpSender {
    pub fn new(
        composer: Composer,
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
            composer,
            transport,
            from,
        }
    }
}

impl Sender for SmtpSender {
    fn name(&self) -> &'static str {
        "smtp"
    }

    fn send<'a>(&'a self, due: &'a Due) -> BoxFuture<'a, Attempt> {
        Box::pin(async move {
            let p = match self.composer.prepare(due).await {
                Ok(p) => p,
                Err(a) => return a,
            };
            let to: Mailbox = match p.to.parse() {
                Ok(m) => m,
                Err(e) => return Attempt::Permanent(format!("recipient `{}`: {e}", p.to)),
            };
            let body = MultiPart::alternative_plain_html(p.send.text.clone(), p.send.html.clone());
            let body = match p.pdf {
                None => body,
                Some(pdf) => {
                    let pdf_type = match ContentType::parse("application/pdf") {
                        Ok(t) => t,
                        Err(e) => return Attempt::Permanent(e.to_string()),
                    };
                    MultiPart::mixed()
                        .multipart(body)
                        .singlepart(Attachment::new(ATTACHMENT_NAME.into()).body(pdf, pdf_type))
                }
            };
            let message = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(p.send.subject.clone())
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

/// `POST {base}/v3/mail/send` with a bearer key; 202 with `X-Message-Id`.
pub struct SendGridSender {
    pub composer: Composer,
    pub http: reqwest::Client,
    pub base: String,
    pub api_key: kernel::Secret,
    pub from_name: String,
    pub from_address: String,
}

impl SendGridSender {
    fn body(&self, p: &Prepared) -> serde_json::Value {
        let mut body = serde_json::json!({
            "personalizations": [{"to": [{"email": p.to}]}],
            "from": {"email": self.from_address, "name": self.from_name},
            "subject": p.send.subject,
            "content": [
                {"type": "text/plain", "value": p.send.text},
                {"type": "text/html", "value": p.send.html},
            ],
            "categories": [p.send.template],
            "custom_args": {"send_id": p.send.id.to_string()},
        });
        if let Some(pdf) = &p.pdf {
            body["attachments"] = serde_json::json!([{
                "content": base64::engine::general_purpose::STANDARD.encode(pdf),
                "filename": ATTACHMENT_NAME,
                "type": "application/pdf",
                "disposition": "attachment",
            }]);
        }
        body
    }
}

impl Sender for SendGridSender {
    fn name(&self) -> &'static str {
        "sendgrid"
    }

    fn send<'a>(&'a self, due: &'a Due) -> BoxFuture<'a, Attempt> {
        Box::pin(async move {
            let p = match self.composer.prepare(due).await {
                Ok(p) => p,
                Err(a) => return a,
            };
            let r = self
                .http
                .post(format!("{}/v3/mail/send", self.base))
                .bearer_auth(self.api_key.expose())
                .json(&self.body(&p))
                .send()
                .await;
            classify(r, MessageId::Header("x-message-id")).await
        })
    }
}

/// `POST {base}/v3/{domain}/messages` (multipart form, HTTP Basic `api:<key>`); 200 with `id`.
pub struct MailgunSender {
    pub composer: Composer,
    pub http: reqwest::Client,
    pub base: String,
    pub domain: String,
    pub api_key: kernel::Secret,
    pub from: String,
}

impl Sender for MailgunSender {
    fn name(&self) -> &'static str {
        "mailgun"
    }

    fn send<'a>(&'a self, due: &'a Due) -> BoxFuture<'a, Attempt> {
        Box::pin(async move {
            let p = match self.composer.prepare(due).await {
                Ok(p) => p,
                Err(a) => return a,
            };
            let mut form = reqwest::multipart::Form::new()
                .text("from", self.from.clone())
                .text("to", p.to.clone())
                .text("subject", p.send.subject.clone())
                .text("text", p.send.text.clone())
                .text("html", p.send.html.clone())
                .text("o:tag", p.send.template.clone())
                .text("v:send_id", p.send.id.to_string());
            if let Some(pdf) = p.pdf {
                let part = match reqwest::multipart::Part::bytes(pdf)
                    .file_name(ATTACHMENT_NAME)
                    .mime_str("application/pdf")
                {
                    Ok(part) => part,
                    Err(e) => return Attempt::Permanent(e.to_string()),
                };
                form = form.part("attachment", part);
            }
            let r = self
                .http
                .post(format!("{}/v3/{}/messages", self.base, self.domain))
                .basic_auth("api", Some(self.api_key.expose()))
                .multipart(form)
                .send()
                .await;
            classify(r, MessageId::JsonId).await
        })
    }
}

/// Where a provider puts the id of the message it accepted.
enum MessageId {
    Header(&'static str),
    JsonId,
}

/// A provider's HTTP answer as an attempt: unreachable is retried, a 2xx is delivered (with the
/// provider's message id), any other status as [`bus::outbound::refused`] says.
async fn classify(r: Result<reqwest::Response, reqwest::Error>, id: MessageId) -> Attempt {
    match r {
        Err(e) => Attempt::Retry(e.to_string()),
        Ok(r) if r.status().is_success() => Attempt::Delivered(match id {
            MessageId::Header(h) => r
                .headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            MessageId::JsonId => r
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_string)),
        }),
        Ok(r) => {
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            bus::outbound::refused(status, &text)
        }
    }
}
