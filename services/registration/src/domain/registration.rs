//! A registration's life: created `pending` (approval required) or `approved`; an
//! enrollment-admin approves or rejects a pending one; the LMS then enrolls or rejects an
//! approved one. Duplicate and out-of-order signals are illegal moves and change nothing.
//!
//! ```text
//!  pending ──approve──▶ approved ──lms enrolled──▶ enrolled
//!     └────reject───▶ rejected ◀──lms rejected──┘
//!  pending | approved | enrolled ──full refund──▶ cancelled (the LMS is told to unenroll)
//! ```

use kernel::{IllegalTransition, Lifecycle, Transition};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationStatus {
    Pending,
    Approved,
    Rejected,
    Enrolled,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationEvent {
    /// An enrollment-admin approved it.
    Approve,
    /// An enrollment-admin rejected it.
    Reject,
    /// The LMS enrolled the learner.
    LmsEnrolled,
    /// The LMS refused the enrollment.
    LmsRejected,
    /// The course was fully refunded.
    Refunded,
    /// The subscription it was enrolled in through gives no more access.
    AccessEnded,
}

impl Transition for RegistrationEvent {
    fn name(&self) -> &'static str {
        match self {
            RegistrationEvent::Approve => "approve",
            RegistrationEvent::Reject => "reject",
            RegistrationEvent::LmsEnrolled => "enroll",
            RegistrationEvent::LmsRejected => "have the LMS reject",
            RegistrationEvent::Refunded => "cancel for a refund",
            RegistrationEvent::AccessEnded => "cancel as its subscription ended",
        }
    }
}

impl RegistrationEvent {
    /// Whether the move records a reviewer (an admin decision).
    pub fn is_review(self) -> bool {
        matches!(self, RegistrationEvent::Approve | RegistrationEvent::Reject)
    }
}

impl Lifecycle for RegistrationStatus {
    type Event = RegistrationEvent;
    const AGGREGATE: &'static str = "registration";
    const ALL: &'static [RegistrationStatus] = &[
        RegistrationStatus::Pending,
        RegistrationStatus::Approved,
        RegistrationStatus::Rejected,
        RegistrationStatus::Enrolled,
        RegistrationStatus::Cancelled,
    ];

    fn as_str(self) -> &'static str {
        match self {
            RegistrationStatus::Pending => "pending",
            RegistrationStatus::Approved => "approved",
            RegistrationStatus::Rejected => "rejected",
            RegistrationStatus::Enrolled => "enrolled",
            RegistrationStatus::Cancelled => "cancelled",
        }
    }

    fn apply(self, event: &RegistrationEvent) -> Result<RegistrationStatus, IllegalTransition> {
        use RegistrationEvent::*;
        use RegistrationStatus::*;
        match (self, event) {
            (Pending, Approve) => Ok(Approved),
            (Pending, Reject) => Ok(Rejected),
            (Approved, LmsEnrolled) => Ok(Enrolled),
            (Approved, LmsRejected) => Ok(Rejected),
            (Pending | Approved | Enrolled, Refunded | AccessEnded) => Ok(Cancelled),
            _ => Err(self.illegal(event)),
        }
    }
}

impl RegistrationStatus {
    /// The state a new registration starts in.
    pub fn initial(approval_required: bool) -> RegistrationStatus {
        if approval_required {
            RegistrationStatus::Pending
        } else {
            RegistrationStatus::Approved
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RegistrationEvent::*;
    use RegistrationStatus::*;

    #[test]
    fn the_whole_transition_table() {
        let table: &[(RegistrationStatus, RegistrationEvent, RegistrationStatus)] = &[
            (Pending, Approve, Approved),
            (Pending, Reject, Rejected),
            (Approved, LmsEnrolled, Enrolled),
            (Approved, LmsRejected, Rejected),
            (Pending, Refunded, Cancelled),
            (Approved, Refunded, Cancelled),
            (Enrolled, Refunded, Cancelled),
            (Pending, AccessEnded, Cancelled),
            (Approved, AccessEnded, Cancelled),
            (Enrolled, AccessEnded, Cancelled),
        ];
        for s in RegistrationStatus::ALL {
            for e in [
                Approve,
                Reject,
                LmsEnrolled,
                LmsRejected,
                Refunded,
                AccessEnded,
            ] {
                let expected = table
                    .iter()
                    .find(|(from, ev, _)| from == s && *ev == e)
                    .map(|(_, _, to)| *to);
                assert_eq!(s.apply(&e).ok(), expected, "{s:?} + {e:?}");
            }
        }
    }

    #[test]
    fn starts_by_approval_and_refuses_duplicates() {
        assert_eq!(RegistrationStatus::initial(true), Pending);
        assert_eq!(RegistrationStatus::initial(false), Approved);
        // A second LMS webhook for an enrolled learner changes nothing.
        let e = Enrolled.apply(&LmsEnrolled).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot enroll this registration: it is enrolled"
        );
        assert_eq!(RegistrationStatus::sources(&Approve), ["pending"]);
        assert_eq!(RegistrationStatus::sources(&LmsRejected), ["approved"]);
        assert!(Approve.is_review() && !LmsEnrolled.is_review());
    }
}
