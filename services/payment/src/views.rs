//! API response shapes of payments.

use crate::storage::PaymentRow;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    pub id: Uuid,
    pub order_id: Uuid,
    pub processor: String,
    pub intent_id: String,
    /// Only for the owner, to confirm on the client with the processor's SDK.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// With the client secret: the processor's public key for its SDK (Stripe.js).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publishable_key: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub failure_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_action: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    /// What the processor kept of the capture, in minor units of `currency`.
    pub processor_fee: Option<i64>,
    /// How the learner paid (`card`, `google_pay`), once captured.
    pub method_type: Option<String>,
    /// The chargeback, when the cardholder disputed the payment: `{id, reason, at}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub dispute: Option<serde_json::Value>,
    /// The payment's refunds, newest first (in the history).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunds: Option<Vec<RefundView>>,
}

impl PaymentRow {
    pub fn view(&self, with_secret: bool) -> PaymentView {
        PaymentView {
            id: self.id,
            order_id: self.order_id,
            processor: self.processor.clone(),
            intent_id: self.processor_intent_id.clone(),
            client_secret: if with_secret {
                self.client_secret.clone()
            } else {
                None
            },
            amount: self.amount_minor,
            currency: self.currency.clone(),
            status: self.status.clone(),
            failure_reason: self.failure_reason.clone(),
            next_action: None,
            publishable_key: None,
            created_at: self.created_at,
            updated_at: self.updated_at,
            processed_at: self.processed_at,
            processor_fee: self.processor_fee_minor,
            method_type: self.method_type.clone(),
            refunds: None,
            dispute: self.dispute_id.as_ref().map(|id| {
                serde_json::json!({"id": id, "reason": self.dispute_reason, "at": self.disputed_at})
            }),
        }
    }
}

/// A refund as billing-admins and the payment's owner see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundView {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub reason: String,
    pub approved_by: String,
    pub processor_refund_id: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl crate::storage::refunds::RefundRow {
    pub fn view(&self) -> RefundView {
        RefundView {
            id: self.id,
            payment_id: self.payment_id,
            amount: self.amount_minor,
            currency: self.currency.clone(),
            status: self.status.clone(),
            reason: self.reason.clone(),
            approved_by: self.approved_by.clone(),
            processor_refund_id: self.processor_refund_id.clone(),
            failure_reason: self.failure_reason.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// A refund request in the billing-admins' queue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundRequestView {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub order_id: Uuid,
    pub user_id: String,
    pub amount: i64,
    pub currency: String,
    pub reason: String,
    pub status: String,
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
    pub refund_id: Option<Uuid>,
    /// The rejected registration that asked for this line's refund, if any.
    pub registration_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl crate::storage::refund_requests::RequestRow {
    pub fn view(&self) -> RefundRequestView {
        RefundRequestView {
            id: self.id,
            payment_id: self.payment_id,
            order_id: self.order_id,
            user_id: self.user_id.clone(),
            amount: self.amount_minor,
            currency: self.currency.clone(),
            reason: self.reason.clone(),
            status: self.status.clone(),
            requested_by: self.requested_by.clone(),
            decided_by: self.decided_by.clone(),
            decision_reason: self.decision_reason.clone(),
            refund_id: self.refund_id,
            registration_id: self.registration_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}
