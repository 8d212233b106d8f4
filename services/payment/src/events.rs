//! The events payment publishes, built from rows; they leave through the outbox.

use crate::storage::PaymentRow;
use chrono::{DateTime, Utc};
use events::commerce::v1 as ev;

pub fn payment_succeeded(
    p: &PaymentRow,
    transaction_id: &str,
    fee: kernel::Money,
    method: crate::processor::MethodType,
    now: DateTime<Utc>,
) -> ev::PaymentSucceeded {
    ev::PaymentSucceeded {
        payment_id: p.id.to_string(),
        order_id: p.order_id.to_string(),
        user_id: p.user_id.clone(),
        processor: p.processor.clone(),
        processor_transaction_id: transaction_id.to_string(),
        amount_minor: p.amount_minor,
        currency: p.currency.clone(),
        processor_fee_minor: fee.amount_minor(),
        succeeded_at: now.to_rfc3339(),
        payment_method_type: method.as_str().to_string(),
    }
}

/// `refund.issued` for one line of a refund the processor completed: the line's share, whether
/// the line is now wholly refunded, and `full` when the whole payment is.
pub fn refund_issued(
    r: &crate::storage::refunds::RefundRow,
    p: &PaymentRow,
    line: &crate::storage::lines::IssuedLine,
    full: bool,
    now: DateTime<Utc>,
) -> ev::RefundIssued {
    ev::RefundIssued {
        refund_id: r.id.to_string(),
        refund_request_id: String::new(),
        payment_id: p.id.to_string(),
        order_id: p.order_id.to_string(),
        user_id: p.user_id.clone(),
        amount_minor: line.amount_minor,
        currency: r.currency.clone(),
        full,
        processor_refund_id: r.processor_refund_id.clone().unwrap_or_default(),
        approved_by: r.approved_by.clone(),
        issued_at: now.to_rfc3339(),
        order_item_id: line.order_item_id.to_string(),
        line_full: line.line_full,
        reason: r.reason.clone(),
    }
}

pub fn refund_rejected(
    r: &crate::storage::refund_requests::RequestRow,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> ev::RefundRejected {
    ev::RefundRejected {
        refund_request_id: r.id.to_string(),
        payment_id: r.payment_id.to_string(),
        order_id: r.order_id.to_string(),
        user_id: r.user_id.clone(),
        reason: reason.to_string(),
        rejected_by: by.to_string(),
        rejected_at: now.to_rfc3339(),
    }
}

pub fn payment_disputed(
    p: &PaymentRow,
    dispute_id: &str,
    amount: kernel::Money,
    reason: &str,
    now: DateTime<Utc>,
) -> ev::PaymentDisputed {
    ev::PaymentDisputed {
        payment_id: p.id.to_string(),
        order_id: p.order_id.to_string(),
        user_id: p.user_id.clone(),
        processor: p.processor.clone(),
        dispute_id: dispute_id.to_string(),
        amount_minor: amount.amount_minor(),
        currency: amount.currency().code().to_string(),
        reason: reason.to_string(),
        disputed_at: now.to_rfc3339(),
    }
}

pub fn payment_failed(p: &PaymentRow, reason: &str, now: DateTime<Utc>) -> ev::PaymentFailed {
    ev::PaymentFailed {
        payment_id: p.id.to_string(),
        order_id: p.order_id.to_string(),
        user_id: p.user_id.clone(),
        processor: p.processor.clone(),
        failure_reason: reason.to_string(),
        failed_at: now.to_rfc3339(),
    }
}

pub fn payment_cancelled(p: &PaymentRow, reason: &str, now: DateTime<Utc>) -> ev::PaymentCancelled {
    ev::PaymentCancelled {
        payment_id: p.id.to_string(),
        order_id: p.order_id.to_string(),
        user_id: p.user_id.clone(),
        processor: p.processor.clone(),
        reason: reason.to_string(),
        cancelled_at: now.to_rfc3339(),
    }
}

/// `subscription.<event>`: the subscription as it now stands.
pub fn subscription_changed(
    s: &crate::storage::subscriptions::SubscriptionRow,
    event: &str,
    reason: Option<&str>,
    access: bool,
    now: DateTime<Utc>,
) -> ev::SubscriptionChanged {
    ev::SubscriptionChanged {
        subscription_id: s.id.to_string(),
        user_id: s.user_id.clone(),
        department_id: s.department_id.clone(),
        plan_type: s.plan_type.clone(),
        status: s.status.clone(),
        current_period_start: s.current_period_start.to_rfc3339(),
        current_period_end: s.current_period_end.to_rfc3339(),
        changed_at: now.to_rfc3339(),
        plan_id: s.plan_id.to_string(),
        event: event.to_string(),
        period: s.period,
        cancel_at_period_end: s.cancel_at_period_end,
        grace_until: s.grace_until.map(|g| g.to_rfc3339()).unwrap_or_default(),
        reason: reason.unwrap_or_default().to_string(),
        access,
    }
}
