//! Square (PAY-003): the card is tokenized in the browser by the Web Payments SDK (the UI gets the
//! application and location ids from `/payments/config`), and `/payments/confirm` sends the token
//! to `CreatePayment` with `autocomplete`. Nothing exists at Square before that, so the intent is
//! ours: its id is the payment id, which every Square payment of it carries as `reference_id`.
//!
//! Every POST carries an idempotency key derived from ours (one per confirmation attempt, one per
//! refund), so a retry after a timeout, a 5xx or an unreadable answer is the same request and
//! charges once. Square publishes no retention for those keys: when the answer stays lost, the
//! payment is looked up by `reference_id` before anything is sent again under another key
//! (a new attempt starts only after [`PaymentProcessor::retrieve`] said nothing was captured).
//!
//! Webhooks (`payment.*`, `refund.*`) are signed with HMAC-SHA256 over the notification URL and
//! the raw body (`x-square-hmacsha256-signature`); they only point at a payment, which is then
//! read as it stands, so their order and repetitions do not matter.

pub mod transformers;

use super::*;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;
use transformers::{Answer, SqPayment};

pub const NAME: &str = "square";
/// The API version every request pins.
pub const SQUARE_VERSION: &str = "2025-10-16";
pub use ::web::square_signature::SIGNATURE_HEADER;

/// Square's settings (the `[payment]` section's `square_*` keys).
#[derive(Debug, Clone)]
pub struct SquareSettings {
    pub access_token: kernel::Secret,
    /// Public: the Web Payments SDK needs it with the location id.
    pub application_id: String,
    pub location_id: String,
    /// The location's currency: the only one its payments take.
    pub currency: kernel::Currency,
    pub webhook_signature_key: kernel::Secret,
    /// The notification URL exactly as the webhook subscription names it (it is signed).
    pub webhook_url: String,
    /// `https://connect.squareup.com` (or the sandbox's, or a fake's offline).
    pub api_base: String,
    pub timeout: Duration,
    /// Attempts per call on a timeout, a 5xx, a 429 or an unreadable answer (same key).
    pub attempts: u32,
}

pub struct Square {
    http: reqwest::Client,
    settings: SquareSettings,
}

/// A Square answer that came back: its HTTP status and body.
struct Reply {
    status: u16,
    answer: Answer,
}

impl Square {
    pub fn new(settings: SquareSettings) -> Result<Self, ProcessorError> {
        Ok(Square {
            http: http_client("Square", settings.timeout)?,
            settings,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.api_base.trim_end_matches('/'))
    }

    /// Sends one request, again (the same body, so the same idempotency key) on what may pass
    /// later: a timeout, a broken connection, a 5xx, a 429, or an answer we could not read.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, ProcessorError> {
        retried(NAME, self.settings.attempts, || {
            self.call_once(method.clone(), path, body)
        })
        .await
    }

    async fn call_once(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, ProcessorError> {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(self.settings.access_token.expose())
            .header("Square-Version", SQUARE_VERSION)
            .header("Accept", "application/json");
        if let Some(b) = body {
            req = req.json(b);
        }
        let failure = match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                match resp.bytes().await {
                    Ok(bytes) if !(status == 429 || status >= 500) => {
                        match transformers::answer(&bytes) {
                            Ok(answer) => return Ok(Reply { status, answer }),
                            Err(e) => e.to_string(),
                        }
                    }
                    Ok(_) => format!("Square answered {status}"),
                    Err(e) => format!("Square answer cut short: {e}"),
                }
            }
            Err(e) => format!("Square unreachable: {e}"),
        };
        Err(ProcessorError::Retryable(failure))
    }

    /// A successful answer, or its errors in our terms.
    async fn ok(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, ProcessorError> {
        let r = self.call(method, path, body).await?;
        if (200..300).contains(&r.status) && r.answer.errors.is_empty() {
            Ok(r.answer)
        } else {
            Err(transformers::error(r.status, &r.answer.errors))
        }
    }

    async fn payment(&self, square_id: &str) -> Result<SqPayment, ProcessorError> {
        self.ok(Method::GET, &format!("/v2/payments/{square_id}"), None)
            .await?
            .payment
            .ok_or_else(|| ProcessorError::Permanent("Square answered no payment".into()))
    }

    /// Every Square payment made for our payment `intent_id` (its `reference_id`), oldest
    /// first. Square lists payments by time, not by reference: the list starts just before the
    /// payment id's own time (a UUIDv7), so it reads minutes of payments, not a year.
    async fn attempts_of(&self, intent_id: &str) -> Result<Vec<SqPayment>, ProcessorError> {
        let mut query = vec![];
        if let Some(begin) = begin_of(intent_id) {
            query.push(("begin_time", begin));
        }
        let (payments, _) = self.list("/v2/payments", query, 50).await?;
        Ok(payments
            .into_iter()
            .filter(|p| p.reference_id.as_deref() == Some(intent_id))
            .collect())
    }

    /// Every page of a list (`/v2/payments` or `/v2/refunds`) of the location, oldest first;
    /// at most `pages` pages, so a lookup cannot run forever on a busy account.
    async fn list(
        &self,
        path: &str,
        mut query: Vec<(&str, String)>,
        pages: usize,
    ) -> Result<(Vec<SqPayment>, Vec<transformers::SqRefund>), ProcessorError> {
        query.extend([
            ("location_id", self.settings.location_id.clone()),
            ("sort_order", "ASC".to_string()),
            ("limit", "100".to_string()),
        ]);
        let (mut payments, mut refunds) = (Vec::new(), Vec::new());
        let mut cursor: Option<String> = None;
        for _ in 0..pages {
            let mut q = query.clone();
            if let Some(c) = &cursor {
                q.push(("cursor", c.clone()));
            }
            let qs = serde_urlencoded::to_string(&q)
                .map_err(|e| ProcessorError::Permanent(format!("Square query: {e}")))?;
            let page = self.ok(Method::GET, &format!("{path}?{qs}"), None).await?;
            payments.extend(page.payments.unwrap_or_default());
            refunds.extend(page.refunds.unwrap_or_default());
            cursor = page.cursor;
            if cursor.is_none() {
                return Ok((payments, refunds));
            }
        }
        Err(ProcessorError::Retryable(format!(
            "Square {path}: too many pages to read"
        )))
    }

    async fn refunds_of(
        &self,
        p: &SqPayment,
        intent_id: &str,
    ) -> Result<Vec<ProcessorRefund>, ProcessorError> {
        let reads = p.refund_ids.iter().map(|id| async move {
            transformers::refund(&self.square_refund(id).await?, intent_id)
        });
        futures_util::future::try_join_all(reads).await
    }

    async fn square_refund(&self, id: &str) -> Result<transformers::SqRefund, ProcessorError> {
        self.ok(Method::GET, &format!("/v2/refunds/{id}"), None)
            .await?
            .refund
            .ok_or_else(|| ProcessorError::Permanent("Square answered no refund".into()))
    }

    /// The Square payment that captured our payment, if one did.
    async fn capture_of(
        &self,
        intent_id: &str,
        transaction_id: Option<&str>,
    ) -> Result<Option<SqPayment>, ProcessorError> {
        if let Some(id) = transaction_id {
            return Ok(Some(self.payment(id).await?));
        }
        Ok(self
            .attempts_of(intent_id)
            .await?
            .into_iter()
            .find(|p| p.status.as_deref() == Some("COMPLETED")))
    }
}

/// RFC 3339 time a minute before a UUIDv7 was made, if it is one.
fn begin_of(intent_id: &str) -> Option<String> {
    let id = uuid::Uuid::parse_str(intent_id).ok()?;
    let (secs, _) = id.get_timestamp()?.to_unix();
    let at = chrono::DateTime::from_timestamp(i64::try_from(secs).ok()? - 60, 0)?;
    Some(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

impl PaymentProcessor for Square {
    fn name(&self) -> &'static str {
        NAME
    }

    fn currencies(&self) -> Option<Vec<kernel::Currency>> {
        Some(vec![self.settings.currency])
    }

    fn lists_activity(&self) -> bool {
        true
    }

    fn client_config(&self) -> serde_json::Value {
        json!({
            "applicationId": self.settings.application_id,
            "locationId": self.settings.location_id,
            "paymentMethods": ["card"],
        })
    }

    fn create_intent(&self, req: CreateIntent) -> BoxFuture<'_, Result<Intent, ProcessorError>> {
        Box::pin(async move {
            // The Web Payments SDK tokenizes without a server-side object: the intent is ours.
            Ok(Intent {
                intent_id: req.payment_id,
                client_secret: None,
            })
        })
    }

    fn confirm(&self, req: Confirm) -> BoxFuture<'_, Result<Outcome, ProcessorError>> {
        Box::pin(async move {
            let body = json!({
                "source_id": req.payment_method,
                "idempotency_key": transformers::key(&req.idempotency_key),
                "amount_money": transformers::to_square(req.amount),
                "autocomplete": true,
                "location_id": self.settings.location_id,
                "reference_id": req.payment_id,
                "note": transformers::note(&req.order_id, &req.idempotency_key),
            });
            let reply = match self.call(Method::POST, "/v2/payments", Some(&body)).await {
                Ok(r) => r,
                // The answer stayed lost: Square's own record of this attempt says what happened
                // (a capture of any attempt wins).
                Err(ProcessorError::Retryable(m)) => {
                    let attempts = self.attempts_of(&req.payment_id).await?;
                    if let IntentState::Outcome(o) = transformers::state_of_attempts(&attempts)? {
                        return Ok(o);
                    }
                    let ours = attempts.iter().rev().find(|p| {
                        transformers::attempt_of(p) == Some(req.idempotency_key.as_str())
                    });
                    return match ours.map(transformers::payment_state).transpose()? {
                        Some(IntentState::Outcome(o)) => Ok(o),
                        _ => Err(ProcessorError::Retryable(m)),
                    };
                }
                Err(e) => return Err(e),
            };
            if !(200..300).contains(&reply.status) || !reply.answer.errors.is_empty() {
                return match transformers::error(reply.status, &reply.answer.errors) {
                    // The declined payment comes with the error: it names the card.
                    ProcessorError::Declined(reason) => Ok(Outcome::Failed {
                        fingerprint: reply
                            .answer
                            .payment
                            .as_ref()
                            .and_then(transformers::fingerprint),
                        reason,
                    }),
                    other => Err(other),
                };
            }
            let payment = reply
                .answer
                .payment
                .ok_or_else(|| ProcessorError::Retryable("Square answered no payment".into()))?;
            let charged = transformers::money(payment.amount_money.as_ref(), "payment")?;
            if charged != req.amount {
                return Err(ProcessorError::Permanent(format!(
                    "Square payment {} is {charged}, not {}",
                    payment.id, req.amount
                )));
            }
            Ok(transformers::payment_state(&payment)?.into_outcome())
        })
    }

    fn retrieve(&self, intent_id: &str) -> BoxFuture<'_, Result<IntentState, ProcessorError>> {
        let id = intent_id.to_string();
        Box::pin(async move { transformers::state_of_attempts(&self.attempts_of(&id).await?) })
    }

    fn refund(&self, req: Refund) -> BoxFuture<'_, Result<ProcessorRefund, ProcessorError>> {
        Box::pin(async move {
            let capture = self
                .capture_of(&req.intent_id, req.transaction_id.as_deref())
                .await?
                .ok_or_else(|| {
                    ProcessorError::Permanent(format!("{} was never captured", req.intent_id))
                })?;
            let body = json!({
                "idempotency_key": transformers::key(&req.idempotency_key),
                "amount_money": transformers::to_square(req.amount),
                "payment_id": capture.id,
                "reason": transformers::refund_reason(&req.idempotency_key, req.reason.as_deref()),
            });
            let answer = self.ok(Method::POST, "/v2/refunds", Some(&body)).await?;
            let r = answer.refund.ok_or_else(|| {
                ProcessorError::Retryable("Square answered no refund (it may exist)".into())
            })?;
            // Square made the refund: an answer we cannot map is not a refusal.
            transformers::refund(&r, &req.intent_id)
                .map_err(|e| ProcessorError::Retryable(format!("refund answer unusable: {e}")))
        })
    }

    fn find_refund(
        &self,
        intent_id: &str,
        transaction_id: Option<&str>,
        refund_id: &str,
    ) -> BoxFuture<'_, Result<Option<ProcessorRefund>, ProcessorError>> {
        let (intent, ours) = (intent_id.to_string(), refund_id.to_string());
        let capture_id = transaction_id.map(str::to_string);
        Box::pin(async move {
            // The capture read by its id when known (a list of the location's payments since
            // then is long on a busy location weeks later).
            let Some(capture) = self.capture_of(&intent, capture_id.as_deref()).await? else {
                return Ok(None);
            };
            Ok(self
                .refunds_of(&capture, &intent)
                .await?
                .into_iter()
                .find(|r| r.refund_id.as_deref() == Some(ours.as_str())))
        })
    }

    fn retrieve_refund(
        &self,
        processor_refund_id: &str,
    ) -> BoxFuture<'_, Result<ProcessorRefund, ProcessorError>> {
        let id = processor_refund_id.to_string();
        Box::pin(async move {
            let r = self.square_refund(&id).await?;
            let payment = self
                .payment(r.payment_id.as_deref().unwrap_or_default())
                .await?;
            transformers::refund(&r, payment.reference_id.as_deref().unwrap_or_default())
        })
    }

    fn activity(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'_, Result<Vec<Activity>, ProcessorError>> {
        Box::pin(async move {
            let at = |t: chrono::DateTime<chrono::Utc>| {
                t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            };
            let window = vec![("begin_time", at(from)), ("end_time", at(to))];
            let ((payments, _), (_, refunds)) = futures_util::try_join!(
                self.list("/v2/payments", window.clone(), 1000),
                self.list("/v2/refunds", window, 1000),
            )?;
            let mut out = Vec::with_capacity(payments.len() + refunds.len());
            for p in &payments {
                out.push(transformers::payment_activity(p)?);
            }
            for r in &refunds {
                out.push(transformers::refund_activity(r)?);
            }
            Ok(out)
        })
    }

    fn resolve_webhook(
        &self,
        event: WebhookEvent,
    ) -> BoxFuture<'_, Result<WebhookEvent, ProcessorError>> {
        Box::pin(async move {
            let WebhookEvent::IntentChanged {
                event_id,
                object_id: Some(square_id),
                ..
            } = event
            else {
                return Ok(event);
            };
            let payment = self.payment(&square_id).await?;
            let Some(intent_id) = payment.reference_id.clone() else {
                return Ok(WebhookEvent::Ignored {
                    event_id,
                    kind: "payment_without_reference".into(),
                });
            };
            let state = transformers::payment_state(&payment)?;
            // A decline belongs to the attempt that made it: the consumer drops it when another
            // attempt has started since.
            if let IntentState::Outcome(Outcome::Failed { reason, .. }) = state {
                return Ok(WebhookEvent::PaymentFailed {
                    event_id,
                    intent_id,
                    reason,
                    confirm_key: Some(transformers::attempt_of(&payment).unwrap_or("").to_string()),
                });
            }
            let refunds = self.refunds_of(&payment, &intent_id).await?;
            Ok(WebhookEvent::IntentState {
                event_id,
                intent_id,
                state,
                refunds,
            })
        })
    }

    fn verify_webhook(&self, webhook: &RelayedWebhook<'_>) -> Result<(), ProcessorError> {
        ::web::square_signature::verify(
            self.settings.webhook_signature_key.expose(),
            &self.settings.webhook_url,
            webhook.header(SIGNATURE_HEADER),
            webhook.body,
        )
        .map_err(|e| ProcessorError::InvalidWebhook(e.0))
    }

    fn parse_webhook(&self, body: &[u8]) -> Result<WebhookEvent, ProcessorError> {
        transformers::parse_event(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_start_just_before_the_payment_was_made() {
        let id = uuid::Uuid::parse_str("0194f1a2-7c3b-7d4e-8f90-123456789abc").unwrap();
        let (secs, _) = id.get_timestamp().unwrap().to_unix();
        let begin = begin_of(&id.to_string()).unwrap();
        let at = chrono::DateTime::parse_from_rfc3339(&begin).unwrap();
        assert_eq!(at.timestamp(), i64::try_from(secs).unwrap() - 60);
        assert_eq!(begin_of("not-a-uuid"), None);
        assert_eq!(begin_of("5f0c1b2a-0000-4000-8000-000000000000"), None);
    }
}
