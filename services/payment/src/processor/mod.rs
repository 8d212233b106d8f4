//! The payment-processor abstraction (the spec's `IPaymentProcessor`): one trait with a method
//! per flow, one type per provider, chosen by configuration per department. Amounts cross this
//! boundary as `kernel::Money`; providers convert at their own edge.
//!
//! Each provider is a folder: `<provider>/mod.rs` (the trait's flows) and
//! `<provider>/transformers.rs` (its wire types and the one mapping of its statuses to ours).

pub mod converge;
pub mod sandbox;
pub mod signature;
pub mod square;
pub mod stripe;

use futures_util::future::BoxFuture;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// An HTTP client for a processor's API, each request bounded by `timeout`.
pub fn http_client(
    name: &str,
    timeout: std::time::Duration,
) -> Result<reqwest::Client, ProcessorError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| ProcessorError::Permanent(format!("{name} client: {e}")))
}

/// Runs `call` up to `attempts` times while it fails with what may pass later (`Retryable`),
/// waiting a little longer each time; the last failure is the answer. The call must be one a
/// retry cannot double (an idempotency key, or a question).
pub async fn retried<T, F, Fut>(name: &str, attempts: u32, mut call: F) -> Result<T, ProcessorError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProcessorError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(ProcessorError::Retryable(m)) if attempt < attempts.max(1) => {
                tracing::warn!(processor = name, attempt, error = %m, "processor call retried");
                tokio::time::sleep(std::time::Duration::from_millis(100 * u64::from(attempt)))
                    .await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

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
    /// The learner's customer at the processor, when it keeps customers.
    pub customer: Option<String>,
}

/// A learner to be known to the processor as one customer.
#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
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
    /// One per confirmation attempt of the payment: a retry of the same attempt never charges
    /// twice, and a new attempt (another card after a decline) is a new request.
    pub idempotency_key: String,
    /// How the method is used: by the learner now, by the learner now and kept for renewals
    /// (a subscription's first charge), or by us without the learner (a renewal).
    pub usage: MethodUse,
}

/// Whether the learner is present, and whether the method is kept for later charges (Stripe:
/// `setup_future_usage=off_session` on the first, `off_session=recurring` on the renewals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MethodUse {
    #[default]
    OnSession,
    SaveForRenewals,
    Renewal,
}

/// How the learner paid, as the processor's charge says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodType {
    Card,
    GooglePay,
}

impl MethodType {
    pub fn as_str(self) -> &'static str {
        match self {
            MethodType::Card => "card",
            MethodType::GooglePay => "google_pay",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Captured; `fee` is what the processor keeps of it (the revenue ledger needs it).
    Succeeded {
        transaction_id: String,
        fee: kernel::Money,
        method: MethodType,
    },
    Failed {
        reason: String,
        /// The card's fingerprint at the processor, when it gives one (the velocity check
        /// counts declines per card).
        fingerprint: Option<String>,
    },
    RequiresAction {
        next_action: String,
    },
    /// Accepted; the processor settles it later (a webhook tells).
    Processing,
    /// The processor cancelled the intent: nothing was or will be captured.
    Cancelled {
        reason: String,
    },
}

/// What a processor says of an intent when asked (not told): a settled answer, or that it has
/// none yet (no attempt, or an attempt still in flight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentState {
    Outcome(Outcome),
    Open,
}

#[derive(Debug, Clone)]
pub struct Refund {
    pub intent_id: String,
    /// The processor's id of the capture, when the payment succeeded (Square and Converge refund
    /// a capture, not an intent).
    pub transaction_id: Option<String>,
    pub amount: kernel::Money,
    /// Our refund id: the processor's idempotency key and its metadata `refundId`.
    pub idempotency_key: String,
    pub reason: Option<String>,
}

/// A refund as the processor states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorRefund {
    pub id: String,
    pub intent_id: String,
    pub amount: kernel::Money,
    pub status: RefundState,
    /// Our refund id, when we asked for it (absent for a refund made at the processor itself).
    pub refund_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundState {
    Succeeded,
    /// Accepted; the processor settles it later (a webhook tells).
    Pending,
    Failed(String),
}

/// One charge or refund as the processor lists it, for reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub kind: ActivityKind,
    /// The processor's id: of the capture (our `transaction_id`) or of the refund (our
    /// `processor_refund_id`).
    pub id: String,
    /// Our intent id the charge carries (Square's `reference_id`, Converge's invoice number).
    pub intent_id: Option<String>,
    /// For a refund: the processor's id of the capture it refunds.
    pub charge_id: Option<String>,
    pub amount: kernel::Money,
    /// What the processor kept, when it says per transaction.
    pub fee: Option<kernel::Money>,
    pub status: ActivityStatus,
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityKind {
    Charge,
    Refund,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityStatus {
    Succeeded,
    Pending,
    /// Declined, voided before capture, refused: no money moved.
    Failed,
}

impl ActivityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityStatus::Succeeded => "succeeded",
            ActivityStatus::Pending => "pending",
            ActivityStatus::Failed => "failed",
        }
    }
}

/// A processor failure in an event handler: what may pass is retried, the rest dead-lettered.
impl From<ProcessorError> for bus::HandlerError {
    fn from(e: ProcessorError) -> Self {
        match e {
            ProcessorError::Retryable(m) => bus::HandlerError::transient(m),
            other => bus::HandlerError::permanent(other.to_string()),
        }
    }
}

/// A provider event, reduced to what the platform acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    PaymentSucceeded {
        event_id: String,
        intent_id: String,
        amount: kernel::Money,
        fee: kernel::Money,
        transaction_id: String,
        method: MethodType,
    },
    PaymentFailed {
        event_id: String,
        intent_id: String,
        reason: String,
        /// The confirmation attempt it answers (its idempotency key), when the event says: a
        /// decline of an earlier attempt never undoes a later one.
        confirm_key: Option<String>,
    },
    /// Something changed on the intent and the processor must be asked what (Stripe's events
    /// arrive in any order; its current object is the truth). Resolved before any transaction
    /// opens by [`PaymentProcessor::resolve_webhook`].
    IntentChanged {
        event_id: String,
        intent_id: String,
        /// The processor's own id of the object that changed, when the event names one the
        /// intent id alone does not find (Square's payment id).
        object_id: Option<String>,
    },
    /// The intent as the processor states it now, with every refund it holds.
    IntentState {
        event_id: String,
        intent_id: String,
        state: IntentState,
        refunds: Vec<ProcessorRefund>,
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
    /// Whether the processor keeps customers (then each learner is created there once).
    fn keeps_customers(&self) -> bool {
        false
    }
    /// The account customers belong to: several processor names may share one (`gpay` is
    /// Stripe's account too).
    fn account(&self) -> &'static str {
        self.name()
    }
    /// Creates the learner's customer; the same `user_id` always gives the same customer.
    fn create_customer(&self, req: NewCustomer) -> BoxFuture<'_, Result<String, ProcessorError>> {
        Box::pin(async move {
            Err(ProcessorError::Permanent(format!(
                "{} keeps no customers ({})",
                self.name(),
                req.user_id
            )))
        })
    }
    fn create_intent(&self, req: CreateIntent) -> BoxFuture<'_, Result<Intent, ProcessorError>>;
    /// A new client secret for an intent still waiting for money, when the processor's secrets
    /// are single-use sessions (Converge's Lightbox): asked when the learner opens the payment
    /// form again. `None`: the recorded one stays valid.
    fn fresh_client_secret(
        &self,
        _intent_id: &str,
    ) -> BoxFuture<'_, Result<Option<String>, ProcessorError>> {
        Box::pin(async { Ok(None) })
    }
    fn confirm(&self, req: Confirm) -> BoxFuture<'_, Result<Outcome, ProcessorError>>;
    /// The intent as the processor states it now (a confirmation made by the client itself, or
    /// one whose answer was lost).
    fn retrieve(&self, intent_id: &str) -> BoxFuture<'_, Result<IntentState, ProcessorError>>;
    /// Cancels an intent nothing was captured for; answers the intent's state after it (a
    /// capture that got there first stays a capture). By default the processor holds nothing
    /// before a capture (Square, Converge): nothing is sent, and what was not captured will not
    /// be.
    fn cancel(&self, intent_id: &str) -> BoxFuture<'_, Result<IntentState, ProcessorError>> {
        let id = intent_id.to_string();
        Box::pin(async move {
            Ok(match self.retrieve(&id).await? {
                captured @ IntentState::Outcome(Outcome::Succeeded { .. }) => captured,
                _ => IntentState::Outcome(Outcome::Cancelled {
                    reason: "abandoned".into(),
                }),
            })
        })
    }
    fn refund(&self, req: Refund) -> BoxFuture<'_, Result<ProcessorRefund, ProcessorError>>;
    /// The refund the processor made for our `refund_id` on an intent, if it made one (asked
    /// before sending a refund again, as its idempotency key may have expired).
    fn find_refund(
        &self,
        _intent_id: &str,
        _transaction_id: Option<&str>,
        _refund_id: &str,
    ) -> BoxFuture<'_, Result<Option<ProcessorRefund>, ProcessorError>> {
        Box::pin(async { Ok(None) })
    }
    /// A refund as the processor states it now (for refunds left pending).
    fn retrieve_refund(
        &self,
        processor_refund_id: &str,
    ) -> BoxFuture<'_, Result<ProcessorRefund, ProcessorError>>;
    /// Whether [`PaymentProcessor::activity`] lists the processor's charges and refunds (the
    /// sandbox keeps no records to compare).
    fn lists_activity(&self) -> bool {
        false
    }
    /// Every charge and refund the processor made in `[from, to)`, for reconciliation; asked
    /// only of a processor that [`PaymentProcessor::lists_activity`].
    fn activity(
        &self,
        _from: chrono::DateTime<chrono::Utc>,
        _to: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'_, Result<Vec<Activity>, ProcessorError>> {
        let name = self.name();
        Box::pin(async move {
            Err(ProcessorError::Permanent(format!(
                "{name} cannot list its charges and refunds"
            )))
        })
    }
    /// Turns an event that names a change into the state it leads to, asking the processor.
    /// Called before any transaction opens; other events pass through.
    fn resolve_webhook(
        &self,
        event: WebhookEvent,
    ) -> BoxFuture<'_, Result<WebhookEvent, ProcessorError>> {
        Box::pin(async move { Ok(event) })
    }
    /// The currencies the processor's account takes; `None`: any it knows (Stripe's, the
    /// sandbox's). A payment in another currency is refused before the processor is asked.
    fn currencies(&self) -> Option<Vec<kernel::Currency>> {
        None
    }
    /// `None` when confirming the same attempt again is the same request to the processor (an
    /// idempotency key). Otherwise (Converge) how long after an attempt began it may be sent
    /// again: by then whatever it sent has shown up at the processor (its call and its retries
    /// are over), so asking before sending cannot miss it.
    fn resend_after(&self) -> Option<std::time::Duration> {
        None
    }
    /// Whether `cancel` stops an attempt still under way (Stripe cancels the intent); by
    /// default a payment being confirmed is left to finish and settle (Square, Converge).
    fn cancels_in_flight(&self) -> bool {
        false
    }
    /// Whether the processor's payment-method tokens are runs of digits (Converge's `ssl_token`
    /// keeps a card's length and last four): then only a Luhn-valid number is refused as card
    /// data, not every run of twelve digits.
    fn takes_digit_tokens(&self) -> bool {
        false
    }
    /// Whether a payment method confirmed once can be charged again without the learner
    /// (subscription renewals): the sandbox's test methods, a Stripe customer's saved method.
    fn saves_payment_methods(&self) -> bool {
        false
    }
    /// What the UI needs to show this processor's payment form (public: no secret here).
    fn client_config(&self) -> serde_json::Value;
    /// The public key the UI's SDK needs with a client secret, if the processor has one.
    fn publishable_key(&self) -> Option<String> {
        None
    }
    /// Checks the provider's signature over the raw body.
    fn verify_webhook(&self, webhook: &RelayedWebhook<'_>) -> Result<(), ProcessorError>;
    /// The provider's event in our terms; a body that breaks the provider's contract is an error.
    fn parse_webhook(&self, body: &[u8]) -> Result<WebhookEvent, ProcessorError>;
}

impl IntentState {
    /// The state as a confirmation's answer: still open is still processing.
    pub fn into_outcome(self) -> Outcome {
        match self {
            IntentState::Outcome(o) => o,
            IntentState::Open => Outcome::Processing,
        }
    }
}

impl WebhookEvent {
    /// The processor's own id of the event, and what kind of event it is.
    pub fn id_and_kind(&self) -> (&str, &'static str) {
        match self {
            WebhookEvent::PaymentSucceeded { event_id, .. } => (event_id, "payment_succeeded"),
            WebhookEvent::PaymentFailed { event_id, .. } => (event_id, "payment_failed"),
            WebhookEvent::IntentChanged { event_id, .. }
            | WebhookEvent::IntentState { event_id, .. } => (event_id, "intent_changed"),
            WebhookEvent::Disputed { event_id, .. } => (event_id, "disputed"),
            WebhookEvent::Ignored { event_id, .. } => (event_id, "ignored"),
        }
    }
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

    /// The accounts whose processors list their activity, each once (`gpay` is Stripe's).
    pub fn listing_accounts(&self) -> std::collections::BTreeSet<&'static str> {
        self.instances
            .values()
            .filter(|p| p.lists_activity())
            .map(|p| p.account())
            .collect()
    }

    /// Every processor name whose payments go to the same account as `name` (`stripe` and
    /// `gpay`), `name` included.
    pub fn sharing_account(&self, name: &str) -> Vec<String> {
        let Some(account) = self.instances.get(name).map(|p| p.account()) else {
            return vec![name.to_string()];
        };
        let mut names: Vec<String> = self
            .instances
            .values()
            .filter(|p| p.account() == account)
            .map(|p| p.name().to_string())
            .collect();
        names.sort_unstable();
        names
    }

    pub fn by_name(&self, name: &str) -> Option<Arc<dyn PaymentProcessor>> {
        self.instances.get(name).cloned()
    }

    /// Cancels at its processor a payment still waiting for money, asked with no transaction
    /// open: `None` when it is already settled, otherwise the intent's state after the
    /// cancellation (cancelled, captured after all, or still under way). Record it with
    /// [`crate::storage::settle_state`].
    pub async fn cancel_open(
        &self,
        p: &crate::storage::PaymentRow,
        settled: bool,
    ) -> Result<Option<IntentState>, ProcessorError> {
        if settled {
            return Ok(None);
        }
        let processor = self.by_name(&p.processor).ok_or_else(|| {
            ProcessorError::Permanent(format!("processor {} unavailable", p.processor))
        })?;
        if !processor.cancels_in_flight() && p.status == "processing" {
            // Nothing can stop the attempt under way: a capture is kept, anything else waits.
            return Ok(Some(
                match processor.retrieve(&p.processor_intent_id).await? {
                    captured @ IntentState::Outcome(Outcome::Succeeded { .. }) => captured,
                    _ => IntentState::Open,
                },
            ));
        }
        Ok(Some(processor.cancel(&p.processor_intent_id).await?))
    }
}
