//! Stripe, the default processor (ADR-005), through async-stripe. The UI confirms with Stripe.js
//! (card data never reaches us); `/payments/confirm` then asks Stripe for the PaymentIntent and
//! settles from Stripe's answer. A server-side confirm with a `pm_…` id is accepted too.
//!
//! Every POST carries our idempotency key (the payment id, the confirmation attempt, the refund
//! id), so a retry after a timeout or a 5xx is the same request to Stripe and charges once. Each
//! call is retried a few times on such errors before the client hears 503.
//!
//! Google Pay goes through Stripe too: the same adapter registered as `gpay` also hands the UI
//! its Google Pay merchant settings; the charge's wallet tells which method paid.

pub mod transformers;

use super::*;
use ::stripe::{
    Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest,
};
use std::time::Duration;
use stripe_core::customer::CreateCustomer;
use stripe_core::payment_intent::ListPaymentIntent;
use stripe_core::payment_intent::{
    CancelPaymentIntent, CancelPaymentIntentCancellationReason, ConfirmPaymentIntent,
    ConfirmPaymentIntentOffSession, CreatePaymentIntent,
    CreatePaymentIntentAutomaticPaymentMethods, RetrievePaymentIntent,
};
use stripe_core::refund::{CreateRefund, CreateRefundReason, ListRefund, RetrieveRefund};
use stripe_shared::PaymentIntentSetupFutureUsage;
use stripe_types::{RangeBoundsTs, RangeQueryTs};

pub const NAME: &str = "stripe";
/// Google Pay, processed by Stripe.
pub const GPAY: &str = "gpay";
/// The charge and its fee come back with every intent we read.
const EXPAND: &str = "latest_charge.balance_transaction";

/// A Stripe error in our terms, except that an answer we could not read may hide work Stripe
/// did: it is retried (same key) rather than taken as a refusal.
fn unknown_if_unreadable(e: StripeError) -> ProcessorError {
    match e {
        StripeError::JSONDeserialize(m) => {
            ProcessorError::Retryable(format!("unreadable Stripe answer: {m}"))
        }
        other => transformers::error(other),
    }
}

/// Stripe's settings (the `[payment]` section's `stripe_*` keys).
#[derive(Debug, Clone)]
pub struct StripeSettings {
    pub secret_key: kernel::Secret,
    pub publishable_key: String,
    pub webhook_secret: kernel::Secret,
    /// `https://api.stripe.com/` in production; the fake's URL offline.
    pub api_base: String,
    /// Per attempt; a timed-out attempt is retried with the same idempotency key.
    pub timeout: Duration,
    /// Attempts per call on a timeout, 5xx, 429 or 409 (at least 1).
    pub attempts: u32,
}

/// The Google Pay button's settings (PAY-002).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GooglePay {
    pub merchant_id: String,
    pub merchant_name: String,
    /// `TEST` or `PRODUCTION`.
    pub environment: String,
}

pub struct Stripe {
    name: &'static str,
    client: Client,
    settings: StripeSettings,
    google_pay: Option<GooglePay>,
}

impl Stripe {
    pub fn new(settings: StripeSettings) -> Result<Self, ProcessorError> {
        let mut base = settings.api_base.clone();
        if !base.ends_with('/') {
            base.push('/');
        }
        let client = ClientBuilder::new(settings.secret_key.expose())
            .url(base)
            .timeout(settings.timeout)
            .build()
            .map_err(transformers::error)?;
        Ok(Stripe {
            name: NAME,
            client,
            settings,
            google_pay: None,
        })
    }

    /// The same account serving Google Pay payments under the name `gpay`.
    pub fn google_pay(
        settings: StripeSettings,
        google_pay: GooglePay,
    ) -> Result<Self, ProcessorError> {
        Ok(Stripe {
            name: GPAY,
            google_pay: Some(google_pay),
            ..Stripe::new(settings)?
        })
    }

    /// Sends `req` with `key` (when given), retrying what may succeed later with the same key.
    async fn send<R>(&self, req: &R, key: Option<&str>) -> Result<R::Output, StripeError>
    where
        R: StripeRequest,
        R::Output: miniserde::Deserialize,
    {
        let strategy = match key {
            Some(k) => RequestStrategy::Idempotent(
                IdempotencyKey::new(k).map_err(|e| StripeError::ConfigError(e.to_string()))?,
            ),
            None => RequestStrategy::Once,
        };
        let mut attempt = 1;
        loop {
            let r = req
                .customize()
                .request_strategy(strategy.clone())
                .send(&self.client)
                .await;
            match r {
                Err(e)
                    if attempt < self.settings.attempts.max(1) && transformers::retryable(&e) =>
                {
                    tracing::warn!(processor = self.name, attempt, error = %e, "Stripe call retried");
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn intent(
        &self,
        intent_id: &str,
    ) -> Result<stripe_shared::PaymentIntent, ProcessorError> {
        let req = RetrievePaymentIntent::new(intent_id).expand(vec![EXPAND.to_string()]);
        self.send(&req, None).await.map_err(transformers::error)
    }

    async fn refunds_of(&self, intent_id: &str) -> Result<Vec<ProcessorRefund>, ProcessorError> {
        let req = ListRefund::new().payment_intent(intent_id).limit(100);
        let list = self.send(&req, None).await.map_err(transformers::error)?;
        list.data.iter().map(transformers::refund).collect()
    }
}

impl PaymentProcessor for Stripe {
    fn name(&self) -> &'static str {
        self.name
    }

    fn keeps_customers(&self) -> bool {
        true
    }

    fn saves_payment_methods(&self) -> bool {
        true
    }

    fn account(&self) -> &'static str {
        NAME
    }

    fn cancels_in_flight(&self) -> bool {
        true
    }

    fn lists_activity(&self) -> bool {
        true
    }

    fn publishable_key(&self) -> Option<String> {
        Some(self.settings.publishable_key.clone())
    }

    fn client_config(&self) -> serde_json::Value {
        let mut c = serde_json::json!({
            "publishableKey": self.settings.publishable_key,
            "paymentMethods": if self.google_pay.is_some() { vec!["google_pay"] } else { vec!["card", "google_pay"] },
        });
        if let (Some(g), Some(o)) = (&self.google_pay, c.as_object_mut()) {
            o.insert(
                "googlePay".into(),
                serde_json::json!({
                    "merchantId": g.merchant_id,
                    "merchantName": g.merchant_name,
                    "environment": g.environment,
                    "gateway": "stripe",
                    "gatewayPublishableKey": self.settings.publishable_key,
                }),
            );
        }
        c
    }

    fn create_customer(&self, req: NewCustomer) -> BoxFuture<'_, Result<String, ProcessorError>> {
        Box::pin(async move {
            let mut c = CreateCustomer::new().metadata(std::collections::HashMap::from([(
                "userId".to_string(),
                req.user_id.clone(),
            )]));
            if let Some(email) = &req.email {
                c = c.email(email.clone());
            }
            if let Some(name) = &req.name {
                c = c.name(name.clone());
            }
            // One key per learner: concurrent first purchases create one customer.
            let key = format!("customer-{}", req.user_id);
            let customer = self
                .send(&c, Some(&key))
                .await
                .map_err(transformers::error)?;
            Ok(customer.id.as_str().to_string())
        })
    }

    fn create_intent(&self, req: CreateIntent) -> BoxFuture<'_, Result<Intent, ProcessorError>> {
        Box::pin(async move {
            let amount = transformers::to_stripe(req.amount)?;
            let mut c = CreatePaymentIntent::new(amount, transformers::currency(req.amount)?)
                .automatic_payment_methods(CreatePaymentIntentAutomaticPaymentMethods::new(true))
                .description(format!("Cadence order {}", req.order_id))
                .metadata(std::collections::HashMap::from([
                    ("orderId".to_string(), req.order_id.clone()),
                    ("paymentId".to_string(), req.payment_id.clone()),
                ]));
            if let Some(customer) = &req.customer {
                c = c.customer(customer.clone());
            }
            let pi = self
                .send(&c, Some(&req.idempotency_key))
                .await
                .map_err(transformers::error)?;
            Ok(Intent {
                intent_id: pi.id.as_str().to_string(),
                client_secret: pi.client_secret,
            })
        })
    }

    fn confirm(&self, req: Confirm) -> BoxFuture<'_, Result<Outcome, ProcessorError>> {
        Box::pin(async move {
            let mut c = ConfirmPaymentIntent::new(req.intent_id.as_str())
                .payment_method(req.payment_method.clone())
                .expand(vec![EXPAND.to_string()]);
            match req.usage {
                MethodUse::OnSession => {}
                // Kept on the learner's customer for the renewals, which the learner is not
                // present for.
                MethodUse::SaveForRenewals => {
                    c = c.setup_future_usage(PaymentIntentSetupFutureUsage::OffSession)
                }
                MethodUse::Renewal => c = c.off_session(ConfirmPaymentIntentOffSession::Recurring),
            }
            let pi = match self.send(&c, Some(&req.idempotency_key)).await {
                Ok(pi) => pi,
                // A decline: Stripe sends the intent with the error; the learner may retry.
                Err(e) if matches!(&e, StripeError::Stripe(_, 402)) => {
                    return match transformers::error(e) {
                        ProcessorError::Declined(reason) => Ok(Outcome::Failed {
                            reason,
                            fingerprint: None,
                        }),
                        other => Err(other),
                    };
                }
                // Past confirming (a webhook or Stripe.js got there first): Stripe's own state.
                Err(e) if transformers::is_unexpected_state(&e) => {
                    self.intent(&req.intent_id).await?
                }
                Err(e) => return Err(transformers::error(e)),
            };
            Ok(transformers::intent_state(&pi)?.into_outcome())
        })
    }

    fn retrieve(&self, intent_id: &str) -> BoxFuture<'_, Result<IntentState, ProcessorError>> {
        let id = intent_id.to_string();
        Box::pin(async move { transformers::intent_state(&self.intent(&id).await?) })
    }

    fn cancel(&self, intent_id: &str) -> BoxFuture<'_, Result<IntentState, ProcessorError>> {
        let id = intent_id.to_string();
        Box::pin(async move {
            let c = CancelPaymentIntent::new(id.as_str())
                .cancellation_reason(CancelPaymentIntentCancellationReason::Abandoned);
            let key = format!("{id}-cancel");
            match self.send(&c, Some(&key)).await {
                // The answer is the canceled intent; its state says so.
                Ok(_) => {}
                // Captured (or canceled) before we asked: Stripe's own state decides.
                Err(e) if transformers::is_unexpected_state(&e) => {}
                Err(e) => return Err(transformers::error(e)),
            }
            transformers::intent_state(&self.intent(&id).await?)
        })
    }

    fn refund(&self, req: Refund) -> BoxFuture<'_, Result<ProcessorRefund, ProcessorError>> {
        Box::pin(async move {
            let mut metadata = std::collections::HashMap::from([(
                "refundId".to_string(),
                req.idempotency_key.clone(),
            )]);
            if let Some(reason) = &req.reason {
                // Stripe keeps metadata values up to 500 characters.
                metadata.insert("reason".to_string(), reason.chars().take(500).collect());
            }
            let c = CreateRefund::new()
                .payment_intent(req.intent_id.clone())
                .amount(transformers::to_stripe(req.amount)?)
                .reason(CreateRefundReason::RequestedByCustomer)
                .metadata(metadata);
            let r = self
                .send(&c, Some(&req.idempotency_key))
                .await
                .map_err(unknown_if_unreadable)?;
            // Stripe made the refund: an answer we cannot map is not a refusal.
            transformers::refund(&r)
                .map_err(|e| ProcessorError::Retryable(format!("refund answer unusable: {e}")))
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
            Ok(self
                .refunds_of(&intent)
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
            let r = self
                .send(&RetrieveRefund::new(id.as_str()), None)
                .await
                .map_err(transformers::error)?;
            transformers::refund(&r)
        })
    }

    fn activity(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'_, Result<Vec<Activity>, ProcessorError>> {
        Box::pin(async move {
            let created = || {
                RangeQueryTs::Bounds(RangeBoundsTs {
                    gte: Some(from.timestamp()),
                    lt: Some(to.timestamp()),
                    ..Default::default()
                })
            };
            let mut out = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let mut req = ListPaymentIntent::new()
                    .created(created())
                    .limit(100)
                    .expand(vec![format!("data.{EXPAND}")]);
                if let Some(a) = &after {
                    req = req.starting_after(a.clone());
                }
                let page = self.send(&req, None).await.map_err(transformers::error)?;
                for pi in &page.data {
                    out.push(transformers::intent_activity(pi)?);
                }
                after = page.data.last().map(|pi| pi.id.as_str().to_string());
                if !page.has_more || after.is_none() {
                    break;
                }
            }
            let mut after: Option<String> = None;
            loop {
                let mut req = ListRefund::new().created(created()).limit(100);
                if let Some(a) = &after {
                    req = req.starting_after(a.clone());
                }
                let page = self.send(&req, None).await.map_err(transformers::error)?;
                for r in &page.data {
                    out.push(transformers::refund_activity(r)?);
                }
                after = page.data.last().map(|r| r.id.as_str().to_string());
                if !page.has_more || after.is_none() {
                    break;
                }
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
                intent_id,
                ..
            } = event
            else {
                return Ok(event);
            };
            // Both reads at once: the consumer waits for one round trip to Stripe, not two.
            let (intent, refunds) =
                futures_util::try_join!(self.intent(&intent_id), self.refunds_of(&intent_id))?;
            let state = transformers::intent_state(&intent)?;
            Ok(WebhookEvent::IntentState {
                event_id,
                intent_id,
                state,
                refunds,
            })
        })
    }

    fn verify_webhook(&self, webhook: &RelayedWebhook<'_>) -> Result<(), ProcessorError> {
        signature::verify_relayed(self.settings.webhook_secret.expose(), webhook)
    }

    fn parse_webhook(&self, body: &[u8]) -> Result<WebhookEvent, ProcessorError> {
        transformers::parse_event(body)
    }
}
