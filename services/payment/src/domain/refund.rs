//! A refund's life and its one rule: never more than was captured. A billing-admin's refund is
//! recorded `processing` (holding its share of the captured amount), sent to the processor with
//! no transaction open, then settled `succeeded` or `failed` (a failed refund frees its share and
//! can be tried again).

use super::PaymentError;
use kernel::{IllegalTransition, Lifecycle, Money, Transition};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    Processing,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundEvent {
    /// The processor refunded the money.
    Refunded,
    /// The processor refused or could not refund.
    Refused,
}

impl Transition for RefundEvent {
    fn name(&self) -> &'static str {
        match self {
            RefundEvent::Refunded => "complete",
            RefundEvent::Refused => "fail",
        }
    }
}

impl Lifecycle for RefundStatus {
    type Event = RefundEvent;
    const AGGREGATE: &'static str = "refund";
    const ALL: &'static [RefundStatus] = &[
        RefundStatus::Processing,
        RefundStatus::Succeeded,
        RefundStatus::Failed,
    ];

    fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Processing => "processing",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }

    fn apply(self, event: &RefundEvent) -> Result<RefundStatus, IllegalTransition> {
        match (self, event) {
            (RefundStatus::Processing, RefundEvent::Refunded) => Ok(RefundStatus::Succeeded),
            (RefundStatus::Processing, RefundEvent::Refused) => Ok(RefundStatus::Failed),
            _ => Err(self.illegal(event)),
        }
    }
}

impl RefundStatus {
    /// Whether the refund holds part of the captured amount (in flight or done).
    pub fn holds_amount(self) -> bool {
        matches!(self, RefundStatus::Processing | RefundStatus::Succeeded)
    }
}

/// The amount of a new refund: `requested`, or everything that remains when none is given.
/// Refused when it is not positive or exceeds what remains of the capture.
pub fn refund_amount(
    captured: Money,
    held: Money,
    requested: Option<i64>,
) -> Result<Money, PaymentError> {
    let remaining = captured
        .checked_sub(&held)
        .map_err(|e| PaymentError::Corrupt(format!("refunds of the payment: {e}")))?;
    let amount = Money::new(
        requested.unwrap_or(remaining.amount_minor()),
        captured.currency(),
    );
    if amount.amount_minor() <= 0 {
        return Err(if remaining.amount_minor() <= 0 {
            PaymentError::RefundExceedsCaptured { remaining }
        } else {
            PaymentError::InvalidRefund("a refund amount must be positive".into())
        });
    }
    if amount.amount_minor() > remaining.amount_minor() {
        return Err(PaymentError::RefundExceedsCaptured { remaining });
    }
    Ok(amount)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::Currency;

    fn usd(m: i64) -> Money {
        Money::new(m, Currency::USD)
    }

    #[test]
    fn the_whole_transition_table() {
        use RefundEvent::*;
        use RefundStatus::*;
        for s in RefundStatus::ALL {
            for e in [Refunded, Refused] {
                let expected = match (s, e) {
                    (Processing, Refunded) => Some(Succeeded),
                    (Processing, Refused) => Some(Failed),
                    _ => None,
                };
                assert_eq!(s.apply(&e).ok(), expected, "{s:?} + {e:?}");
            }
        }
        assert!(Processing.holds_amount() && Succeeded.holds_amount() && !Failed.holds_amount());
        assert_eq!(RefundStatus::sources(&Refunded), ["processing"]);
    }

    #[test]
    fn never_more_than_captured() {
        assert_eq!(
            refund_amount(usd(1000), usd(0), Some(333)).unwrap(),
            usd(333)
        );
        assert_eq!(refund_amount(usd(1000), usd(666), None).unwrap(), usd(334));
        assert_eq!(
            refund_amount(usd(1000), usd(1000), Some(1))
                .unwrap_err()
                .code(),
            "refund_exceeds_captured"
        );
        assert_eq!(
            refund_amount(usd(1000), usd(1000), None)
                .unwrap_err()
                .code(),
            "refund_exceeds_captured"
        );
        assert_eq!(
            refund_amount(usd(1000), usd(0), Some(1001))
                .unwrap_err()
                .code(),
            "refund_exceeds_captured"
        );
        assert_eq!(
            refund_amount(usd(1000), usd(0), Some(0))
                .unwrap_err()
                .code(),
            "invalid_refund"
        );
    }
}
