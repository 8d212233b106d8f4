//! Elavon Converge (PAY-004). Card entry happens only in Converge's Lightbox (Hosted Payments):
//! create-intent asks Converge for a session token (`transaction_token`, `ccgettoken`), the
//! Lightbox turns the learner's card into an `ssl_token`, and `/payments/confirm` sells against
//! that token with our invoice number. No card field ever reaches us (SAQ A).
//!
//! Converge has no idempotency keys and no webhooks. Each payment has its own invoice number
//! (its id in base 36): before a sale is sent — the first time, and again after a timeout, a
//! 5xx or an unreadable answer — `txnquery` asks for the invoice's transactions, and an approved
//! sale there is the answer. A retry that could charge twice is never sent. Refunds are a void
//! before the batch settles (the whole amount) and a return after it, each with the refund's own
//! invoice number, looked up the same way before it is sent again.

pub mod transformers;

use super::*;
use kernel::Currency;
use serde_json::json;
use std::time::Duration;
use transformers::Txn;

pub const NAME: &str = "converge";

/// Converge's settings (the `[payment]` section's `converge_*` keys).
#[derive(Debug, Clone)]
pub struct ConvergeSettings {
    pub merchant_id: String,
    pub user_id: String,
    pub pin: kernel::Secret,
    /// The XML API (`…/VirtualMerchant/processxml.do`).
    pub api_url: String,
    /// Hosted Payments (`…/hosted-payments`): the session token is made under it, and the UI
    /// opens the Lightbox from it.
    pub hosted_url: String,
    /// The account's currency when a transaction names none.
    pub currency: Currency,
    pub timeout: Duration,
    /// Attempts per call; before each retry of a sale or a refund, `txnquery` is asked first.
    pub attempts: u32,
}

pub struct Converge {
    http: reqwest::Client,
    settings: ConvergeSettings,
}

impl Converge {
    pub fn new(settings: ConvergeSettings) -> Result<Self, ProcessorError> {
        Ok(Converge {
            http: http_client("Converge", settings.timeout)?,
            settings,
        })
    }

    fn credentials(&self) -> [(&str, &str); 3] {
        [
            ("ssl_merchant_id", self.settings.merchant_id.as_str()),
            ("ssl_user_id", self.settings.user_id.as_str()),
            ("ssl_pin", self.settings.pin.expose()),
        ]
    }

    /// Posts a form once: the status and body, or why none came (which may hide work done).
    async fn form(&self, url: &str, body: String) -> Result<(u16, Vec<u8>), ProcessorError> {
        let resp = self
            .http
            .post(url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| ProcessorError::Retryable(format!("Converge unreachable: {e}")))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ProcessorError::Retryable(format!("Converge answer cut short: {e}")))?;
        Ok((status, bytes.to_vec()))
    }

    /// Posts one XML request once: its body, or why none came (which may hide work done).
    async fn post(&self, fields: &[(&str, &str)]) -> Result<Vec<u8>, ProcessorError> {
        let mut all: Vec<(&str, &str)> = self.credentials().to_vec();
        all.extend_from_slice(fields);
        let body = transformers::request(&all)?;
        let (status, bytes) = self.form(&self.settings.api_url, body).await?;
        if status != 200 {
            return Err(ProcessorError::Retryable(format!(
                "Converge answered {status}"
            )));
        }
        Ok(bytes)
    }

    /// `txnquery` by one field, retried (a query changes nothing).
    async fn query(&self, field: &str, value: &str) -> Result<Vec<Txn>, ProcessorError> {
        retried(NAME, self.settings.attempts, || async {
            self.post(&[("ssl_transaction_type", "txnquery"), (field, value)])
                .await
                .and_then(|b| transformers::parse_list(&b))
                // A query's answer we cannot read is no answer: asked again, or later.
                .map_err(|e| match e {
                    ProcessorError::Permanent(m) => ProcessorError::Retryable(m),
                    other => other,
                })
        })
        .await
    }

    /// Sends a sale or a refund only when `txnquery` shows none made for `invoice` yet, and
    /// again after an unknown outcome only after asking again. `made` picks the transaction
    /// that is the request's own from the invoice's list.
    async fn once(
        &self,
        invoice: &str,
        fields: &[(&str, &str)],
        made: impl Fn(&[Txn]) -> Option<Txn>,
    ) -> Result<Txn, ProcessorError> {
        if let Some(t) = made(&self.query("ssl_invoice_number", invoice).await?) {
            return Ok(t);
        }
        let failure = match self
            .post(fields)
            .await
            .and_then(|b| transformers::parse_txn(&b))
        {
            Ok(t) => return Ok(t),
            Err(e) => e,
        };
        // The outcome is unknown: Converge is asked, never sent the request again from here
        // (a sale still being authorised would be made twice). What it made shows up by invoice.
        tracing::warn!(processor = NAME, error = %failure, invoice, "Converge outcome unknown; asking");
        for attempt in 1..=self.settings.attempts.max(1) {
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            match self.query("ssl_invoice_number", invoice).await {
                Ok(txns) => {
                    if let Some(t) = made(&txns) {
                        return Ok(t);
                    }
                }
                Err(e) => tracing::warn!(processor = NAME, error = %e, "Converge query failed"),
            }
        }
        Err(ProcessorError::Retryable(format!(
            "{failure}; nothing found under invoice {invoice} yet"
        )))
    }

    /// A Hosted Payments session for the Lightbox (`ccgettoken`): single-use, short-lived.
    async fn session(&self) -> Result<String, ProcessorError> {
        let mut form: Vec<(&str, &str)> = self.credentials().to_vec();
        form.extend([("ssl_transaction_type", "ccgettoken"), ("ssl_verify", "N")]);
        let body = serde_urlencoded::to_string(&form)
            .map_err(|e| ProcessorError::Permanent(format!("Converge request: {e}")))?;
        let url = format!(
            "{}/transaction_token",
            self.settings.hosted_url.trim_end_matches('/')
        );
        let (status, bytes) = self.form(&url, body).await?;
        let token = String::from_utf8_lossy(&bytes);
        let token = token.trim();
        match status {
            200 if !token.is_empty()
                && token.len() <= 512
                && token.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Ok(token.to_string())
            }
            200 => Err(ProcessorError::Retryable(
                "Converge session token unreadable".into(),
            )),
            429 | 500..=599 => Err(ProcessorError::Retryable(format!(
                "Converge answered {status}"
            ))),
            _ => Err(ProcessorError::Permanent(format!(
                "Converge refused the session ({status})"
            ))),
        }
    }

    async fn sale_of(&self, intent_id: &str) -> Result<Option<Txn>, ProcessorError> {
        Ok(self
            .query("ssl_invoice_number", intent_id)
            .await?
            .into_iter()
            .find(|t| t.approved() && transformers::is_sale(t)))
    }
}

impl PaymentProcessor for Converge {
    fn name(&self) -> &'static str {
        NAME
    }

    fn takes_digit_tokens(&self) -> bool {
        true
    }

    fn resend_after(&self) -> Option<Duration> {
        // The question before the sale, the sale, and the questions after it, each bounded by
        // the timeout; then a margin.
        let calls = self.settings.attempts.max(1) * 2 + 1;
        Some(self.settings.timeout * calls + Duration::from_secs(2))
    }

    fn lists_activity(&self) -> bool {
        true
    }

    fn currencies(&self) -> Option<Vec<Currency>> {
        Some(vec![self.settings.currency])
    }

    fn client_config(&self) -> serde_json::Value {
        json!({
            "hostedPaymentsUrl": self.settings.hosted_url,
            "lightboxScript": format!("{}/PayWithConverge.js", self.settings.hosted_url.trim_end_matches('/')),
            "paymentMethods": ["card"],
        })
    }

    fn create_intent(&self, req: CreateIntent) -> BoxFuture<'_, Result<Intent, ProcessorError>> {
        Box::pin(async move {
            Ok(Intent {
                intent_id: transformers::invoice(&req.payment_id)?,
                client_secret: Some(self.session().await?),
            })
        })
    }

    fn fresh_client_secret(
        &self,
        _intent_id: &str,
    ) -> BoxFuture<'_, Result<Option<String>, ProcessorError>> {
        // Lightbox sessions are single-use and short-lived: every opening of the form gets one.
        Box::pin(async move { Ok(Some(self.session().await?)) })
    }

    fn confirm(&self, req: Confirm) -> BoxFuture<'_, Result<Outcome, ProcessorError>> {
        Box::pin(async move {
            let currency = req.amount.currency();
            let amount = transformers::to_decimal(req.amount);
            let description = format!("Cadence order {}", req.order_id);
            let fields = [
                ("ssl_transaction_type", "ccsale"),
                ("ssl_token", req.payment_method.as_str()),
                ("ssl_amount", amount.as_str()),
                ("ssl_invoice_number", req.intent_id.as_str()),
                ("ssl_transaction_currency", currency.code()),
                ("ssl_description", description.as_str()),
            ];
            // Only an approval stops a new sale: a declined one leaves the learner free to try
            // again (this attempt is such a try).
            let t = self
                .once(&req.intent_id, &fields, |txns| {
                    txns.iter()
                        .find(|t| t.approved() && transformers::is_sale(t))
                        .cloned()
                })
                .await?;
            let outcome = transformers::sale_outcome(&t, currency)?;
            // An approval of another amount (a partial approval, a sale made elsewhere under our
            // invoice) is not this payment's capture: left for a person and reconciliation.
            if let Outcome::Succeeded { .. } = outcome
                && transformers::amount(&t, currency)? != req.amount
            {
                return Err(ProcessorError::Permanent(format!(
                    "Converge approved {} under invoice {}, not {}",
                    t.get("ssl_amount").unwrap_or("?"),
                    req.intent_id,
                    req.amount
                )));
            }
            Ok(outcome)
        })
    }

    fn retrieve(&self, intent_id: &str) -> BoxFuture<'_, Result<IntentState, ProcessorError>> {
        let id = intent_id.to_string();
        Box::pin(async move {
            let txns = self.query("ssl_invoice_number", &id).await?;
            transformers::state_of(&txns, self.settings.currency)
        })
    }

    fn refund(&self, req: Refund) -> BoxFuture<'_, Result<ProcessorRefund, ProcessorError>> {
        Box::pin(async move {
            let currency = req.amount.currency();
            let invoice = transformers::invoice(&req.idempotency_key)?;
            let sale = match &req.transaction_id {
                Some(id) => self
                    .query("ssl_txn_id", id)
                    .await?
                    .into_iter()
                    .find(|t| t.approved()),
                None => self.sale_of(&req.intent_id).await?,
            }
            .ok_or_else(|| {
                ProcessorError::Permanent(format!("{} has no approved sale", req.intent_id))
            })?;
            let sale_id = sale.txn_id()?.to_string();
            let sale_amount = transformers::amount(&sale, currency)?;
            let amount = transformers::to_decimal(req.amount);
            let settled = sale
                .get("ssl_trans_status")
                .is_some_and(|s| s.eq_ignore_ascii_case("STL"));
            let kind = if settled {
                "ccreturn"
            } else if req.amount == sale_amount {
                "ccvoid"
            } else {
                // A sale in today's batch can only be voided whole; a part of it is returned
                // once the batch settles (the sweeper asks again).
                return Err(ProcessorError::Retryable(format!(
                    "partial refund of {sale_id} waits for Converge's batch to settle"
                )));
            };
            let fields = [
                ("ssl_transaction_type", kind),
                ("ssl_txn_id", sale_id.as_str()),
                ("ssl_amount", amount.as_str()),
                ("ssl_invoice_number", invoice.as_str()),
            ];
            let t = self
                .once(&invoice, &fields, |txns| {
                    txns.iter().find(|t| t.approved()).cloned()
                })
                .await?;
            if let Some((code, message)) = t.error() {
                let what = format!("Converge refused the refund: {code} {message}");
                // The batch settled between the look and the void (or not yet for a return):
                // asked again later, the other one is sent.
                return Err(if matches!(code.as_str(), "5091" | "5093") {
                    ProcessorError::Retryable(what)
                } else {
                    ProcessorError::Permanent(what)
                });
            }
            transformers::refund(&t, &req.intent_id, Some(&req.idempotency_key), currency)
        })
    }

    fn find_refund(
        &self,
        intent_id: &str,
        _transaction_id: Option<&str>,
        refund_id: &str,
    ) -> BoxFuture<'_, Result<Option<ProcessorRefund>, ProcessorError>> {
        let (intent, ours) = (intent_id.to_string(), refund_id.to_string());
        Box::pin(async move {
            let invoice = transformers::invoice(&ours)?;
            let txns = self.query("ssl_invoice_number", &invoice).await?;
            txns.iter()
                .find(|t| t.approved())
                .map(|t| transformers::refund(t, &intent, Some(&ours), self.settings.currency))
                .transpose()
        })
    }

    fn retrieve_refund(
        &self,
        processor_refund_id: &str,
    ) -> BoxFuture<'_, Result<ProcessorRefund, ProcessorError>> {
        let id = processor_refund_id.to_string();
        Box::pin(async move {
            let t = self
                .query("ssl_txn_id", &id)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| ProcessorError::Permanent(format!("Converge has no {id}")))?;
            transformers::refund(&t, "", None, self.settings.currency)
        })
    }

    fn activity(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'_, Result<Vec<Activity>, ProcessorError>> {
        Box::pin(async move {
            // Converge searches whole days; the period's own bounds are applied here.
            let day = |t: chrono::DateTime<chrono::Utc>| t.format("%m/%d/%Y").to_string();
            let (start, end) = (day(from), day(to));
            let txns = self
                .post(&[
                    ("ssl_transaction_type", "txnquery"),
                    ("ssl_search_start_date", start.as_str()),
                    ("ssl_search_end_date", end.as_str()),
                ])
                .await
                .and_then(|b| transformers::parse_list(&b))?;
            let mut out = Vec::new();
            for t in &txns {
                let a = transformers::activity(t, self.settings.currency)?;
                if a.at >= from && a.at < to {
                    out.push(a);
                }
            }
            Ok(out)
        })
    }

    fn verify_webhook(&self, _webhook: &RelayedWebhook<'_>) -> Result<(), ProcessorError> {
        Err(ProcessorError::InvalidWebhook(
            "Converge sends no webhooks; anything claiming to be one is refused".into(),
        ))
    }

    fn parse_webhook(&self, _body: &[u8]) -> Result<WebhookEvent, ProcessorError> {
        Err(ProcessorError::InvalidWebhook(
            "Converge sends no webhooks".into(),
        ))
    }
}
