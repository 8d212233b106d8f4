//! The payment-processor abstraction (the spec's `IPaymentProcessor`): one trait with a method
//! per flow, one type per provider, chosen by configuration per department. Amounts cross this
//! boundary in minor units; providers convert at their own edge.

pub mod sandbox;

use async_nats::HeaderMap;
use futures_util::future::BoxFuture;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProcessorError {
    #[error("processor unavailable: {0}")]
    Unavailable(String),
    #[error("invalid webhook: {0}")]
    InvalidWebhook(String),
}

#[derive(Debug, Clone)]
pub struct CreateIntent {
    pub amount_minor: i64,
    pub currency: String,
    pub order_id: String,
    pub payment_id: String,
    /// Our idempotency key for the provider call (one per payment).
    pub idempotency_key: String,
}

#[derive(Debug, Clone)]
pub struct Intent {
    pub intent_id: String,
    pub client_secret: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Confirm {
    pub intent_id: String,
    pub payment_method: String,
    pub amount_minor: i64,
    pub currency: String,
    pub order_id: String,
    pub payment_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded { transaction_id: String },
    Failed { reason: String },
    RequiresAction { next_action: String },
}

#[derive(Debug, Clone)]
pub struct Refund {
    pub intent_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub idempotency_key: String,
}

/// A provider event, reduced to what the platform acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    PaymentSucceeded {
        event_id: String,
        intent_id: String,
        amount_minor: i64,
        currency: String,
    },
    PaymentFailed {
        event_id: String,
        intent_id: String,
        reason: String,
    },
    Ignored {
        event_id: String,
        kind: String,
    },
}

pub trait PaymentProcessor: Send + Sync {
    fn name(&self) -> &'static str;
    fn create_intent(&self, req: CreateIntent) -> BoxFuture<'_, Result<Intent, ProcessorError>>;
    fn confirm(&self, req: Confirm) -> BoxFuture<'_, Result<Outcome, ProcessorError>>;
    fn refund(&self, req: Refund) -> BoxFuture<'_, Result<String, ProcessorError>>;
    /// Checks the provider's signature over the raw body; `headers` are the relayed HTTP headers
    /// and `received_at` (unix seconds) is when the gateway took the webhook in, so a consumer
    /// catching up after an outage does not refuse genuine webhooks as stale.
    fn verify_webhook(
        &self,
        body: &[u8],
        headers: &HeaderMap,
        received_at: i64,
    ) -> Result<(), ProcessorError>;
    fn parse_webhook(&self, body: &[u8]) -> Result<WebhookEvent, ProcessorError>;
}

/// Chooses a processor per department, falling back to the default.
#[derive(Clone)]
pub struct Processors {
    default: String,
    by_department: BTreeMap<String, String>,
    instances: HashMap<&'static str, Arc<dyn PaymentProcessor>>,
}

impl Processors {
    pub fn new(
        default: &str,
        by_department: BTreeMap<String, String>,
        instances: Vec<Arc<dyn PaymentProcessor>>,
    ) -> Result<Self, String> {
        let instances: HashMap<_, _> = instances.into_iter().map(|p| (p.name(), p)).collect();
        for name in std::iter::once(default).chain(by_department.values().map(String::as_str)) {
            if !instances.contains_key(name) {
                return Err(format!(
                    "payment processor `{name}` is not available in this build"
                ));
            }
        }
        Ok(Processors {
            default: default.to_string(),
            by_department,
            instances,
        })
    }

    pub fn for_department(&self, department: Option<&str>) -> Option<Arc<dyn PaymentProcessor>> {
        let name = department
            .and_then(|d| self.by_department.get(d))
            .unwrap_or(&self.default);
        self.instances.get(name.as_str()).cloned()
    }

    pub fn by_name(&self, name: &str) -> Option<Arc<dyn PaymentProcessor>> {
        self.instances.get(name).cloned()
    }
}
