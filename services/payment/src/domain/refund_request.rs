//! A refund request (ADR-001): asked by a learner, decided by a billing-admin. Approving it makes
//! the refund; rejecting it keeps the reason. A decision is made once.

use kernel::{IllegalTransition, Lifecycle, Transition};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    Requested,
    Approved,
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestEvent {
    Approve,
    Reject,
    /// The approved refund could not even be recorded (nothing left to refund, say): the
    /// request goes back to the queue.
    Reopen,
}

impl Transition for RequestEvent {
    fn name(&self) -> &'static str {
        match self {
            RequestEvent::Approve => "approve",
            RequestEvent::Reject => "reject",
            RequestEvent::Reopen => "reopen",
        }
    }
}

impl Lifecycle for RequestStatus {
    type Event = RequestEvent;
    const AGGREGATE: &'static str = "refund request";
    const ALL: &'static [RequestStatus] = &[
        RequestStatus::Requested,
        RequestStatus::Approved,
        RequestStatus::Rejected,
    ];

    fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Requested => "requested",
            RequestStatus::Approved => "approved",
            RequestStatus::Rejected => "rejected",
        }
    }

    fn apply(self, event: &RequestEvent) -> Result<RequestStatus, IllegalTransition> {
        match (self, event) {
            (RequestStatus::Requested, RequestEvent::Approve) => Ok(RequestStatus::Approved),
            (RequestStatus::Requested, RequestEvent::Reject) => Ok(RequestStatus::Rejected),
            (RequestStatus::Approved, RequestEvent::Reopen) => Ok(RequestStatus::Requested),
            _ => Err(self.illegal(event)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decided_once() {
        use RequestEvent::*;
        use RequestStatus::*;
        for s in RequestStatus::ALL {
            for e in [Approve, Reject, Reopen] {
                let expected = match (s, e) {
                    (Requested, Approve) => Some(Approved),
                    (Requested, Reject) => Some(Rejected),
                    (Approved, Reopen) => Some(Requested),
                    _ => None,
                };
                assert_eq!(s.apply(&e).ok(), expected, "{s:?} + {e:?}");
            }
        }
        assert_eq!(RequestStatus::sources(&Approve), ["requested"]);
    }
}
