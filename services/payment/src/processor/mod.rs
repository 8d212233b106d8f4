//! The payment-processor abstraction (the spec's `IPaymentProcessor`): one trait with a method
//! per flow, one type per provider, chosen by configuration per department. Amounts cross this
//! boundary as `kernel::Money`; providers convert at their own edge.
//!
//! Each provider is a folder: `<provider>/mod.rs` (the trait's flows) and
//! `<provider>/transformers.rs` (its wire types and the one mapping of its statuses to ours).

pub mod sandbox;

use futures_util::future::BoxFuture;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What went wrong talking to a processor, so callers know whether to retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessorError {
    /// The processor refused the card or the operation for a business reason.
    #[error("declined: {0}")]
    Declined(String),
    /// A timeout, a 5xx or a rate limit: the same request (same idempotency key) may succeed later.
    #[error("processor unavailable: {0}")]
    Retryable(String),
    /// The request can never succeed as sent (bad credentials, invalid parameters).
    #[error("processor refused the request: {0}")]
    Permanent(String),
    /// A webhook whose signature, timestamp or body does not hold.
    #[error("invalid webhook: {0}")]
    InvalidWebhook(String),
}

/// A provider webhook as the gateway relayed it, free of any transport type: header names in
/// lower case, the raw body, and when the gateway received it (unix seconds), so a consumer
/// catching up after an outage does not refuse genuine webhooks as stale.
#[derive(Debug, Clone)]
pub struct RelayedWebhook<'a> {
    pub headers: BTreeMap<String, String>,
    pub body: &'a [u8],
    pub received_at: i64,
}

impl RelayedWebhook<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

#[derive(Debug, Clone)]
pub struct CreateIntent {
    pub amount: kernel::Money,
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
    pub amount: kernel::Money,
    pub order_id: String,
    pub payment_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Captured; `fee` is what the processor keeps of it (the revenue ledger needs it).
    Succeeded {
        transaction_id: String,
        fee: kernel::Money,
    },
    Failed {
        reason: String,
    },
    RequiresAction {
        next_action: String,
    },
}

#[derive(Debug, Clone)]
pub struct Refund {
    pub intent_id: String,
    pub amount: kernel::Money,
    pub idempotency_key: String,
}

/// A provider event, reduced to what the platform acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    PaymentSucceeded {
        event_id: String,
        intent_id: String,
        amount: kernel::Money,
        fee: kernel::Money,
    },
    PaymentFailed {
        event_id: String,
        intent_id: String,
        reason: String,
    },
    /// The cardholder disputed the charge (a chargeback).
    Disputed {
        event_id: String,
        intent_id: String,
        dispute_id: String,
        amount: kernel::Money,
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
    /// What the UI needs to show this processor's payment form (public: no secret here).
    fn client_config(&self) -> serde_json::Value;
    /// Checks the provider's signature over the raw body.
    fn verify_webhook(&self, webhook: &RelayedWebhook<'_>) -> Result<(), ProcessorError>;
    /// The provider's event in our terms; a body that breaks the provider's contract is an error.
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
