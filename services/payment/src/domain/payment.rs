//! A payment's life: `pending → processing` when a confirmation starts; a capture then settles
//! it `succeeded`, while a decline returns it to `pending` with the reason (PAY-006: the learner
//! retries with another method on the same payment, and the order stays payable until it
//! expires). A confirmation and any number of webhooks race on these moves; only the first
//! applies, the rest are illegal and change nothing. "Requires action" (3-D Secure) leaves the
//! state as it is: the payment settles later by webhook.

use kernel::{IllegalTransition, Lifecycle, Transition};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    Pending,
    Processing,
    Succeeded,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentEvent {
    /// A client confirmation reached us and goes to the processor.
    ConfirmStarted,
    /// The processor captured the money.
    Captured,
    /// The processor declined this attempt; the payment can be confirmed again.
    Declined,
    /// The processor needs the customer (3-D Secure); nothing settles yet.
    ActionRequired,
    /// The processor cancelled the intent (the order expired, say): nothing will be captured.
    Cancel,
}

impl Transition for PaymentEvent {
    fn name(&self) -> &'static str {
        match self {
            PaymentEvent::ConfirmStarted => "start confirming",
            PaymentEvent::Captured => "capture",
            PaymentEvent::Declined => "decline",
            PaymentEvent::ActionRequired => "ask for action on",
            PaymentEvent::Cancel => "cancel",
        }
    }
}

impl Lifecycle for PaymentStatus {
    type Event = PaymentEvent;
    const AGGREGATE: &'static str = "payment";
    const ALL: &'static [PaymentStatus] = &[
        PaymentStatus::Pending,
        PaymentStatus::Processing,
        PaymentStatus::Succeeded,
        PaymentStatus::Failed,
        PaymentStatus::Cancelled,
    ];

    fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Processing => "processing",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Cancelled => "cancelled",
        }
    }

    fn apply(self, event: &PaymentEvent) -> Result<PaymentStatus, IllegalTransition> {
        use PaymentEvent::*;
        use PaymentStatus::*;
        match (self, event) {
            (Pending, ConfirmStarted) => Ok(Processing),
            (Pending | Processing, Captured) => Ok(Succeeded),
            // Only an attempt in flight can be declined: a late webhook for a decline already
            // recorded finds the payment pending again and changes nothing.
            (Processing, Declined) => Ok(Pending),
            (Pending | Processing, ActionRequired) => Ok(self),
            (Pending | Processing, Cancel) => Ok(Cancelled),
            _ => Err(self.illegal(event)),
        }
    }
}

impl PaymentStatus {
    /// Settled payments never change again (the database enforces it too).
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            PaymentStatus::Succeeded | PaymentStatus::Failed | PaymentStatus::Cancelled
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PaymentEvent::*;
    use PaymentStatus::*;

    #[test]
    fn the_whole_transition_table() {
        let table: &[(PaymentStatus, PaymentEvent, PaymentStatus)] = &[
            (Pending, ConfirmStarted, Processing),
            (Pending, Captured, Succeeded),
            (Processing, Captured, Succeeded),
            (Processing, Declined, Pending),
            (Pending, ActionRequired, Pending),
            (Processing, ActionRequired, Processing),
            (Pending, Cancel, Cancelled),
            (Processing, Cancel, Cancelled),
        ];
        for s in PaymentStatus::ALL {
            for e in [ConfirmStarted, Captured, Declined, ActionRequired, Cancel] {
                let expected = table
                    .iter()
                    .find(|(from, ev, _)| from == s && *ev == e)
                    .map(|(_, _, to)| *to);
                assert_eq!(s.apply(&e).ok(), expected, "{s:?} + {e:?}");
            }
        }
    }

    #[test]
    fn settled_payments_never_move_and_guards_follow_the_table() {
        for s in [Succeeded, Failed, Cancelled] {
            assert!(s.is_settled());
            assert!(s.apply(&Captured).is_err());
            assert!(s.apply(&Cancel).is_err(), "a capture is never cancelled");
        }
        assert_eq!(PaymentStatus::sources(&Captured), ["pending", "processing"]);
        assert_eq!(PaymentStatus::sources(&ConfirmStarted), ["pending"]);
        assert_eq!(PaymentStatus::sources(&Declined), ["processing"]);
        assert!(!Pending.is_settled(), "a declined payment stays payable");
        assert!(PaymentStatus::parse("refunded").is_err());
    }
}
