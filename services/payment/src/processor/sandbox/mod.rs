//! The offline processor. It follows Stripe's test conventions so the whole platform runs
//! without a network: `pm_card_visa` succeeds, `pm_card_visa_chargeDeclined` declines,
//! `pm_card_authenticationRequired` needs action; anything else is declined as unknown. After a
//! confirmation it sends its own webhook, signed like Stripe's (`Stripe-Signature: t=…,v1=…`).

pub mod transformers;

use super::*;
use std::time::Duration;

pub const NAME: &str = "sandbox";
pub use super::signature::{SIGNATURE_HEADER, sign, verify};

pub struct Sandbox {
    secret: kernel::Secret,
    /// The processor's own clock (its webhook timestamps and event times).
    clock: Arc<dyn kernel::Clock>,
    fees: transformers::FeePolicy,
    webhook_url: String,
    http: reqwest::Client,
}

impl Sandbox {
    pub fn new(
        secret: kernel::Secret,
        webhook_url: &str,
        clock: Arc<dyn kernel::Clock>,
        fees: transformers::FeePolicy,
    ) -> Result<Self, reqwest::Error> {
        Ok(Sandbox {
            secret,
            clock,
            fees,
            webhook_url: webhook_url.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
        })
    }
}

impl PaymentProcessor for Sandbox {
    fn name(&self) -> &'static str {
        NAME
    }

    fn client_config(&self) -> serde_json::Value {
        serde_json::json!({
            "testPaymentMethods": {
                "pm_card_visa": "succeeds",
                "pm_card_mastercard": "succeeds",
                "pm_card_visa_chargeDeclined": "declined (the payment stays payable)",
                "pm_card_authenticationRequired": "requires action; settles by webhook",
            }
        })
    }

    fn create_intent(&self, req: CreateIntent) -> BoxFuture<'_, Result<Intent, ProcessorError>> {
        Box::pin(async move {
            let id = format!("pi_sbx_{}", uuid::Uuid::now_v7().simple());
            Ok(Intent {
                // A secret, not an id: fully random rather than time-ordered.
                #[allow(clippy::disallowed_methods)]
                client_secret: Some(format!("{id}_secret_{}", uuid::Uuid::new_v4().simple())),
                intent_id: id,
            })
            .inspect(|_| tracing::debug!(order = %req.order_id, "sandbox intent"))
        })
    }

    fn confirm(&self, req: Confirm) -> BoxFuture<'_, Result<Outcome, ProcessorError>> {
        Box::pin(async move {
            let outcome = match req.payment_method.as_str() {
                "pm_card_visa" | "pm_card_mastercard" | "pm_card_amex" => Outcome::Succeeded {
                    transaction_id: format!("ch_sbx_{}", uuid::Uuid::now_v7().simple()),
                    fee: self.fees.fee_for(req.amount)?,
                    method: MethodType::Card,
                },
                "pm_card_visa_chargeDeclined" | "pm_card_chargeDeclined" => Outcome::Failed {
                    fingerprint: None,
                    reason: "card_declined: Your card was declined.".into(),
                },
                "pm_card_authenticationRequired" => Outcome::RequiresAction {
                    next_action: "use_stripe_sdk".into(),
                },
                other => Outcome::Failed {
                    fingerprint: None,
                    reason: format!("invalid_payment_method: unknown test method `{other}`"),
                },
            };
            let event_id = format!("evt_sbx_{}", uuid::Uuid::now_v7().simple());
            if let Some(event) =
                transformers::event_for(&req, &outcome, event_id, self.clock.now().timestamp())
            {
                let body = serde_json::to_vec(&event)
                    .map_err(|e| ProcessorError::Permanent(e.to_string()))?;
                let (http, url, secret, clock) = (
                    self.http.clone(),
                    self.webhook_url.clone(),
                    self.secret.clone(),
                    self.clock.clone(),
                );
                // Like a real processor, the webhook arrives on its own schedule.
                tokio::spawn(async move {
                    let bytes = body;
                    for attempt in 0..3u64 {
                        let sig = sign(secret.expose(), clock.now().timestamp(), &bytes);
                        let r = http
                            .post(&url)
                            .header("content-type", "application/json")
                            .header(SIGNATURE_HEADER, sig)
                            .body(bytes.clone())
                            .send()
                            .await;
                        if r.as_ref().is_ok_and(|r| r.status().is_success()) {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
                    }
                    tracing::warn!(%url, "sandbox webhook not delivered");
                });
            }
            Ok(outcome)
        })
    }

    fn retrieve(&self, _intent_id: &str) -> BoxFuture<'_, Result<IntentState, ProcessorError>> {
        // The sandbox keeps no intents: its answer came with the confirmation and its webhook.
        Box::pin(async { Ok(IntentState::Open) })
    }

    fn saves_payment_methods(&self) -> bool {
        true
    }

    fn cancels_in_flight(&self) -> bool {
        true
    }

    fn cancel(&self, _intent_id: &str) -> BoxFuture<'_, Result<IntentState, ProcessorError>> {
        Box::pin(async {
            Ok(IntentState::Outcome(Outcome::Cancelled {
                reason: "abandoned".into(),
            }))
        })
    }

    fn refund(&self, req: Refund) -> BoxFuture<'_, Result<ProcessorRefund, ProcessorError>> {
        Box::pin(async move {
            // Counted like a real processor's side effect, so tests can say "exactly one refund".
            metrics::counter!("processor_refunds_total", "processor" => NAME).increment(1);
            tracing::info!(intent = %req.intent_id, amount = %req.amount, "sandbox refund");
            Ok(ProcessorRefund {
                id: format!("re_sbx_{}", req.idempotency_key),
                intent_id: req.intent_id,
                amount: req.amount,
                status: RefundState::Succeeded,
                refund_id: Some(req.idempotency_key),
            })
        })
    }

    fn retrieve_refund(
        &self,
        processor_refund_id: &str,
    ) -> BoxFuture<'_, Result<ProcessorRefund, ProcessorError>> {
        let id = processor_refund_id.to_string();
        Box::pin(async move {
            Err(ProcessorError::Permanent(format!(
                "the sandbox settles refunds at once and keeps none ({id})"
            )))
        })
    }

    fn verify_webhook(&self, webhook: &RelayedWebhook<'_>) -> Result<(), ProcessorError> {
        super::signature::verify_relayed(self.secret.expose(), webhook)
    }

    fn parse_webhook(&self, body: &[u8]) -> Result<WebhookEvent, ProcessorError> {
        transformers::parse(body, &self.fees)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn follows_stripe_test_payment_methods() {
        telemetry::install_crypto_provider();
        let s = Sandbox::new(
            kernel::Secret::new("whsec_test"),
            "http://127.0.0.1:9/unused",
            Arc::new(kernel::SystemClock),
            transformers::FeePolicy {
                bps: 290,
                fixed_minor: 30,
            },
        )
        .unwrap();
        let req = |pm: &str| Confirm {
            intent_id: "pi_1".into(),
            payment_method: pm.into(),
            amount: kernel::Money::new(100, kernel::Currency::USD),
            order_id: "o".into(),
            payment_id: "p".into(),
            idempotency_key: "p-1".into(),
            usage: Default::default(),
        };
        assert!(matches!(
            s.confirm(req("pm_card_visa")).await.unwrap(),
            Outcome::Succeeded { .. }
        ));
        assert!(matches!(
            s.confirm(req("pm_card_visa_chargeDeclined")).await.unwrap(),
            Outcome::Failed { .. }
        ));
        assert!(matches!(
            s.confirm(req("pm_card_authenticationRequired"))
                .await
                .unwrap(),
            Outcome::RequiresAction { .. }
        ));
        let event = transformers::event_for(
            &req("pm_card_visa"),
            &Outcome::Succeeded {
                transaction_id: "ch".into(),
                fee: kernel::Money::new(33, kernel::Currency::USD),
                method: MethodType::Card,
            },
            "evt_1".into(),
            1,
        )
        .unwrap();
        let parsed = s
            .parse_webhook(&serde_json::to_vec(&event).unwrap())
            .unwrap();
        assert!(
            matches!(parsed, WebhookEvent::PaymentSucceeded { amount, fee, .. }
                if amount == kernel::Money::new(100, kernel::Currency::USD)
                    && fee == kernel::Money::new(33, kernel::Currency::USD))
        );
    }
}
