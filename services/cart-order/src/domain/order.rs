//! The order's life: `pending → completed | failed`, and `failed → completed` when money was
//! captured after all (the unpaid-order expiry racing a slow confirmation). A declined card does
//! not fail the order (PAY-006): it stays payable, with another method, until it expires. Every
//! other move is illegal, so a duplicate, late or reordered signal changes nothing.

use kernel::{IllegalTransition, Lifecycle, Transition};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    Pending,
    Completed,
    Failed,
    Refunded,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvent {
    /// The processor captured the order's total.
    PaymentCaptured,
    /// Nothing to pay: a free order completes at checkout.
    NothingToPay,
    /// Not paid within the pending-order time.
    Expired,
    /// Part of the captured money went back; the order stays completed.
    PartlyRefunded,
    /// All of it went back.
    FullyRefunded,
}

impl Transition for OrderEvent {
    fn name(&self) -> &'static str {
        match self {
            OrderEvent::PaymentCaptured => "capture a payment for",
            OrderEvent::NothingToPay => "complete for free",
            OrderEvent::Expired => "expire",
            OrderEvent::PartlyRefunded => "partly refund",
            OrderEvent::FullyRefunded => "fully refund",
        }
    }
}

impl Lifecycle for OrderStatus {
    type Event = OrderEvent;
    const AGGREGATE: &'static str = "order";
    const ALL: &'static [OrderStatus] = &[
        OrderStatus::Pending,
        OrderStatus::Completed,
        OrderStatus::Failed,
        OrderStatus::Refunded,
        OrderStatus::Cancelled,
    ];

    fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Completed => "completed",
            OrderStatus::Failed => "failed",
            OrderStatus::Refunded => "refunded",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    fn apply(self, event: &OrderEvent) -> Result<OrderStatus, IllegalTransition> {
        use OrderEvent::*;
        use OrderStatus::*;
        match (self, event) {
            (Pending, PaymentCaptured | NothingToPay) => Ok(Completed),
            // The money was taken: the learner gets what they paid for.
            (Failed, PaymentCaptured) => Ok(Completed),
            (Pending, Expired) => Ok(Failed),
            (Completed, PartlyRefunded) => Ok(Completed),
            (Completed, FullyRefunded) => Ok(Refunded),
            _ => Err(self.illegal(event)),
        }
    }
}

impl OrderStatus {
    /// The spec's `paymentStatus` of an order in this state, `refunded_minor` of it given back.
    pub fn payment_status(self, refunded_minor: i64) -> &'static str {
        match self {
            OrderStatus::Completed if refunded_minor > 0 => "partial-refund",
            OrderStatus::Completed | OrderStatus::Cancelled => "completed",
            OrderStatus::Failed => "failed",
            OrderStatus::Refunded => "refunded",
            OrderStatus::Pending => "pending",
        }
    }
}

/// What a captured payment means for an order in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capture {
    /// Complete the order.
    Complete,
    /// A duplicate or late signal: the order is already completed.
    AlreadyCompleted,
    /// Money arrived for an order that can no longer take it; someone must refund it.
    NeedsRefund,
}

pub fn on_capture(status: OrderStatus) -> Capture {
    match status.apply(&OrderEvent::PaymentCaptured) {
        Ok(_) => Capture::Complete,
        Err(_) if status == OrderStatus::Completed => Capture::AlreadyCompleted,
        Err(_) => Capture::NeedsRefund,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderEvent::*;
    use OrderStatus::*;

    #[test]
    fn the_whole_transition_table() {
        let events = [
            PaymentCaptured,
            NothingToPay,
            Expired,
            PartlyRefunded,
            FullyRefunded,
        ];
        let table: &[(OrderStatus, OrderEvent, Option<OrderStatus>)] = &[
            (Pending, PaymentCaptured, Some(Completed)),
            (Pending, NothingToPay, Some(Completed)),
            (Pending, Expired, Some(Failed)),
            (Failed, PaymentCaptured, Some(Completed)),
            (Completed, PartlyRefunded, Some(Completed)),
            (Completed, FullyRefunded, Some(Refunded)),
        ];
        for s in OrderStatus::ALL {
            for e in &events {
                let expected = table
                    .iter()
                    .find(|(from, ev, _)| from == s && ev == e)
                    .and_then(|(_, _, to)| *to);
                assert_eq!(s.apply(e).ok(), expected, "{s:?} + {e:?}");
            }
        }
    }

    #[test]
    fn guards_come_from_the_table() {
        assert_eq!(
            OrderStatus::sources(&PaymentCaptured),
            ["pending", "failed"]
        );
        assert_eq!(OrderStatus::sources(&NothingToPay), ["pending"]);
        assert_eq!(OrderStatus::sources(&Expired), ["pending"]);
    }

    #[test]
    fn parses_every_status_and_refuses_others() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Ok(*s));
        }
        assert!(OrderStatus::parse("shipped").is_err());
    }

    #[test]
    fn captures() {
        assert_eq!(on_capture(Pending), Capture::Complete);
        assert_eq!(on_capture(Failed), Capture::Complete);
        assert_eq!(on_capture(Completed), Capture::AlreadyCompleted);
        assert_eq!(on_capture(Refunded), Capture::NeedsRefund);
        assert_eq!(on_capture(Cancelled), Capture::NeedsRefund);
        assert_eq!(Cancelled.payment_status(0), "completed");
        assert_eq!(Completed.payment_status(1), "partial-refund");
        assert_eq!(Refunded.payment_status(1000), "refunded");
    }
}
