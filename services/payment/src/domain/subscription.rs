//! Department subscriptions: their states, their periods, and what a renewal, a decline, a
//! cancellation or a pause does to them. Pure: storage applies these decisions under a guard.
//!
//! ```text
//!   incomplete ──paid──▶ active ◀──paid── past_due ──grace over──▶ cancelled | paused
//!   trialing ───paid──▶ active ──declined──▶ past_due
//!   trialing | active ──pause──▶ paused ──resume──▶ (the state it left)
//!   any but cancelled ──cancel now──▶ cancelled;  cancel at period end: active until then
//! ```
//!
//! Periods are numbered: 0 is the trial, period `n ≥ 1` runs from `end(n - 1)` to
//! `end(n) = anchor + (n − from) × interval`, so month lengths never drift the billing day; a
//! resumption moves the anchor to the current period's new end.

use chrono::{DateTime, Duration, Months, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Created without a trial; its first charge has not succeeded yet (no access).
    Incomplete,
    Trialing,
    Active,
    /// A renewal was declined: retried on a schedule, with access until `grace_until`.
    PastDue,
    /// Neither billed nor giving access until resumed.
    Paused,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Incomplete => "incomplete",
            Status::Trialing => "trialing",
            Status::Active => "active",
            Status::PastDue => "past_due",
            Status::Paused => "paused",
            Status::Cancelled => "cancelled",
        }
    }

    /// Every status as written.
    pub const NAMES: &'static [&'static str] = &[
        "incomplete",
        "trialing",
        "active",
        "past_due",
        "paused",
        "cancelled",
    ];

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "incomplete" => Status::Incomplete,
            "trialing" => Status::Trialing,
            "active" => Status::Active,
            "past_due" => Status::PastDue,
            "paused" => Status::Paused,
            "cancelled" => Status::Cancelled,
            _ => return None,
        })
    }

    /// The states a renewal job works on.
    pub fn billed(self) -> bool {
        matches!(self, Status::Trialing | Status::Active | Status::PastDue)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Monthly,
    Quarterly,
    Annual,
}

impl Interval {
    pub fn parse(s: &str) -> Option<Interval> {
        Some(match s {
            "monthly" => Interval::Monthly,
            "quarterly" => Interval::Quarterly,
            "annual" => Interval::Annual,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Monthly => "monthly",
            Interval::Quarterly => "quarterly",
            Interval::Annual => "annual",
        }
    }

    fn months(self) -> u32 {
        match self {
            Interval::Monthly => 1,
            Interval::Quarterly => 3,
            Interval::Annual => 12,
        }
    }
}

/// When period `n` ends, counted from the anchor: the end of period `from` (the trial's end or
/// the start of billing, `from = 0`; a resumption moves both).
pub fn period_end(
    anchor: DateTime<Utc>,
    from: i32,
    interval: Interval,
    n: i32,
) -> Option<DateTime<Utc>> {
    let k = u32::try_from(n.checked_sub(from)?).ok()?;
    anchor.checked_add_months(Months::new(interval.months().checked_mul(k)?))
}

/// When period `n > from` starts: where the one before it ends.
pub fn period_start(
    anchor: DateTime<Utc>,
    from: i32,
    interval: Interval,
    n: i32,
) -> Option<DateTime<Utc>> {
    period_end(anchor, from, interval, n.checked_sub(1)?)
}

/// What happens to a subscription when the renewal is declined and after its grace period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub grace: Duration,
    pub retry_every: Duration,
    pub after_grace: AfterGrace,
    /// A pause longer than this ends the subscription (access does not wait forever).
    pub max_pause: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterGrace {
    Cancel,
    Pause,
}

impl AfterGrace {
    pub fn parse(s: &str) -> Option<AfterGrace> {
        match s {
            "cancel" => Some(AfterGrace::Cancel),
            "pause" => Some(AfterGrace::Pause),
            _ => None,
        }
    }
}

/// The facts the decisions read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub status: Status,
    /// The period the subscription is in (the one being charged, while past due).
    pub period: i32,
    pub current_period_end: DateTime<Utc>,
    pub cancel_at_period_end: bool,
    pub grace_until: Option<DateTime<Utc>>,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub paused_at: Option<DateTime<Utc>>,
}

/// Whether the learner may use the department's courses now. A period whose renewal could not
/// be charged at all (a processor down for days, a plan withdrawn) gives access for at most the
/// grace period after its end.
pub fn has_access(f: &Facts, now: DateTime<Utc>, grace: Duration) -> bool {
    match f.status {
        Status::Trialing | Status::Active => now < f.current_period_end + grace,
        Status::PastDue => f.grace_until.is_some_and(|g| now < g),
        Status::Incomplete | Status::Paused | Status::Cancelled => false,
    }
}

/// What a renewal job does with a subscription now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Nothing,
    /// Charge this period (the first one of an incomplete subscription, the next one at the end
    /// of the current, or the past-due one again).
    Charge(i32),
    /// Cancelled at the end of its period, which has come.
    EndAtPeriodEnd,
    /// Past due beyond its grace period.
    GraceOver(AfterGrace),
    /// Paused longer than a pause may last: it ends.
    PauseOver,
}

pub fn due(f: &Facts, now: DateTime<Utc>, policy: &Policy) -> Due {
    match f.status {
        Status::Incomplete => Due::Charge(1),
        // A renewal that could not be made (not a decline) waits for its next try.
        Status::Trialing | Status::Active
            if now >= f.current_period_end && f.next_retry_at.is_none_or(|r| now >= r) =>
        {
            if f.cancel_at_period_end {
                Due::EndAtPeriodEnd
            } else {
                Due::Charge(f.period + 1)
            }
        }
        Status::PastDue if f.grace_until.is_some_and(|g| now >= g) => {
            Due::GraceOver(policy.after_grace)
        }
        Status::PastDue if f.next_retry_at.is_none_or(|r| now >= r) => Due::Charge(f.period),
        Status::Paused if f.paused_at.is_some_and(|p| now >= p + policy.max_pause) => {
            Due::PauseOver
        }
        _ => Due::Nothing,
    }
}

/// A subscription's change and the event that tells it (`None`: no event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub status: Status,
    pub event: Option<&'static str>,
}

/// Period `period` was paid.
pub fn paid(from: Status, period: i32, charged: i32) -> Change {
    let event = match from {
        Status::Incomplete | Status::Trialing => "activated",
        Status::PastDue => "recovered",
        _ if charged > period => "renewed",
        _ => {
            return Change {
                status: Status::Active,
                event: None,
            };
        }
    };
    Change {
        status: Status::Active,
        event: Some(event),
    }
}

/// The charge of a period was declined: a first charge leaves the subscription incomplete; a
/// renewal makes it past due (once: a declined retry only waits for the next one).
pub fn declined(from: Status) -> Change {
    match from {
        Status::Trialing | Status::Active => Change {
            status: Status::PastDue,
            event: Some("past_due"),
        },
        other => Change {
            status: other,
            event: None,
        },
    }
}

/// Why a learner's or an admin's request cannot change the subscription.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the subscription is already cancelled")]
    Cancelled,
    #[error("only a trialing or active subscription can be paused; this one is {0}")]
    NotPausable(&'static str),
    #[error("only a paused subscription can be resumed; this one is {0}")]
    NotPaused(&'static str),
    #[error(
        "only a trialing or active subscription can be cancelled at its period's end; this one is {0}"
    )]
    NotActive(&'static str),
}

/// Cancel now (`at_period_end = false`) or at the end of the period.
pub fn cancel(from: Status, at_period_end: bool) -> Result<Change, Refusal> {
    match (from, at_period_end) {
        (Status::Cancelled, _) => Err(Refusal::Cancelled),
        (Status::Trialing | Status::Active, true) => Ok(Change {
            status: from,
            event: Some("cancel_scheduled"),
        }),
        (other, true) => Err(Refusal::NotActive(other.as_str())),
        (_, false) => Ok(Change {
            status: Status::Cancelled,
            event: Some("cancelled"),
        }),
    }
}

pub fn pause(from: Status) -> Result<Change, Refusal> {
    match from {
        Status::Trialing | Status::Active => Ok(Change {
            status: Status::Paused,
            event: Some("paused"),
        }),
        other => Err(Refusal::NotPausable(other.as_str())),
    }
}

/// Resuming returns to the state the pause left (`resumed_to`): trialing, active, or past due
/// when the grace period ended in a pause.
pub fn resume(from: Status, resumed_to: Option<Status>) -> Result<Change, Refusal> {
    match from {
        Status::Paused => Ok(Change {
            status: match resumed_to {
                Some(Status::Trialing) => Status::Trialing,
                // Paused unpaid at the end of its grace: its period is charged again at once.
                Some(Status::PastDue) => Status::PastDue,
                _ => Status::Active,
            },
            event: Some("resumed"),
        }),
        other => Err(Refusal::NotPaused(other.as_str())),
    }
}

/// What a resumed subscription keeps: what was left of its period when it was paused is still
/// its own, counted from the resumption. Returns the period's new end (the new anchor).
pub fn resumed_end(
    period_end: DateTime<Utc>,
    paused_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    period_end + (now - paused_at).max(Duration::zero())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    fn policy() -> Policy {
        Policy {
            grace: Duration::days(7),
            retry_every: Duration::hours(24),
            after_grace: AfterGrace::Cancel,
            max_pause: Duration::days(90),
        }
    }

    fn facts(status: Status) -> Facts {
        Facts {
            status,
            period: 1,
            current_period_end: at(2026, 2, 28),
            cancel_at_period_end: false,
            grace_until: None,
            next_retry_at: None,
            paused_at: None,
        }
    }

    #[test]
    fn periods_keep_the_billing_day_across_short_months() {
        let anchor = at(2026, 1, 31);
        let m = Interval::Monthly;
        assert_eq!(period_end(anchor, 0, m, 1), Some(at(2026, 2, 28)));
        assert_eq!(period_end(anchor, 0, m, 2), Some(at(2026, 3, 31)));
        assert_eq!(period_start(anchor, 0, m, 3), Some(at(2026, 3, 31)));
        assert_eq!(
            period_end(anchor, 0, Interval::Quarterly, 1),
            Some(at(2026, 4, 30))
        );
        assert_eq!(
            period_end(anchor, 0, Interval::Annual, 1),
            Some(at(2027, 1, 31))
        );
        assert_eq!(period_end(anchor, 0, m, 0), Some(anchor));
        assert_eq!(period_start(anchor, 0, m, 0), None);
        assert_eq!(period_end(anchor, 0, m, -1), None);
        // Resumed in period 3: periods count from its new end.
        assert_eq!(period_end(anchor, 3, m, 4), Some(at(2026, 2, 28)));
        assert_eq!(period_end(anchor, 3, m, 2), None);
    }

    #[test]
    fn a_renewal_is_due_at_the_period_end_and_not_before() {
        let f = facts(Status::Active);
        assert_eq!(due(&f, at(2026, 2, 27), &policy()), Due::Nothing);
        assert_eq!(due(&f, at(2026, 2, 28), &policy()), Due::Charge(2));
        let trial = Facts {
            period: 0,
            ..facts(Status::Trialing)
        };
        assert_eq!(due(&trial, at(2026, 3, 1), &policy()), Due::Charge(1));
        let ending = Facts {
            cancel_at_period_end: true,
            ..facts(Status::Active)
        };
        assert_eq!(
            due(&ending, at(2026, 2, 28), &policy()),
            Due::EndAtPeriodEnd
        );
        assert_eq!(
            due(&facts(Status::Incomplete), at(2026, 1, 1), &policy()),
            Due::Charge(1)
        );
        for s in [Status::Paused, Status::Cancelled] {
            assert_eq!(due(&facts(s), at(2030, 1, 1), &policy()), Due::Nothing);
        }
        // A renewal that failed to be made waits for its retry time.
        let deferred = Facts {
            next_retry_at: Some(at(2026, 3, 2)),
            ..facts(Status::Active)
        };
        assert_eq!(due(&deferred, at(2026, 3, 1), &policy()), Due::Nothing);
        assert_eq!(due(&deferred, at(2026, 3, 2), &policy()), Due::Charge(2));
        let paused = Facts {
            paused_at: Some(at(2026, 1, 1)),
            ..facts(Status::Paused)
        };
        assert_eq!(due(&paused, at(2026, 3, 31), &policy()), Due::Nothing);
        assert_eq!(due(&paused, at(2026, 4, 1), &policy()), Due::PauseOver);
    }

    #[test]
    fn past_due_retries_on_schedule_until_its_grace_ends() {
        let f = Facts {
            period: 2,
            grace_until: Some(at(2026, 3, 7)),
            next_retry_at: Some(at(2026, 3, 2)),
            ..facts(Status::PastDue)
        };
        assert_eq!(due(&f, at(2026, 3, 1), &policy()), Due::Nothing);
        assert_eq!(due(&f, at(2026, 3, 2), &policy()), Due::Charge(2));
        assert_eq!(
            due(&f, at(2026, 3, 7), &policy()),
            Due::GraceOver(AfterGrace::Cancel)
        );
        let g = Duration::days(7);
        assert!(has_access(&f, at(2026, 3, 6), g));
        assert!(!has_access(&f, at(2026, 3, 7), g));
        // An active period that could not be renewed at all gives access for the grace only.
        let stuck = facts(Status::Active);
        assert!(has_access(&stuck, at(2026, 3, 6), g));
        assert!(!has_access(&stuck, at(2026, 3, 7), g));
    }

    #[test]
    fn payment_and_decline_move_the_state_once() {
        assert_eq!(paid(Status::Trialing, 0, 1).event, Some("activated"));
        assert_eq!(paid(Status::Incomplete, 0, 1).event, Some("activated"));
        assert_eq!(paid(Status::Active, 1, 2).event, Some("renewed"));
        assert_eq!(paid(Status::PastDue, 2, 2).event, Some("recovered"));
        assert_eq!(paid(Status::Active, 2, 2).event, None);
        assert_eq!(declined(Status::Active).status, Status::PastDue);
        assert_eq!(declined(Status::Trialing).event, Some("past_due"));
        assert_eq!(declined(Status::PastDue).event, None);
        assert_eq!(declined(Status::Incomplete).status, Status::Incomplete);
    }

    #[test]
    fn requests_are_refused_where_they_mean_nothing() {
        assert_eq!(cancel(Status::Cancelled, false), Err(Refusal::Cancelled));
        assert_eq!(
            cancel(Status::PastDue, true),
            Err(Refusal::NotActive("past_due"))
        );
        assert_eq!(cancel(Status::Active, true).unwrap().status, Status::Active);
        assert_eq!(
            cancel(Status::Paused, false).unwrap().status,
            Status::Cancelled
        );
        assert_eq!(pause(Status::Active).unwrap().status, Status::Paused);
        assert!(pause(Status::PastDue).is_err());
        assert_eq!(
            resume(Status::Paused, Some(Status::Trialing))
                .unwrap()
                .status,
            Status::Trialing
        );
        assert_eq!(resume(Status::Paused, None).unwrap().status, Status::Active);
        assert!(resume(Status::Active, None).is_err());
        assert_eq!(
            resume(Status::Paused, Some(Status::PastDue))
                .unwrap()
                .status,
            Status::PastDue
        );
        assert_eq!(
            resumed_end(at(2026, 1, 31), at(2026, 1, 10), at(2026, 1, 20)),
            at(2026, 2, 10)
        );
    }

    #[test]
    fn names_round_trip() {
        for s in [
            Status::Incomplete,
            Status::Trialing,
            Status::Active,
            Status::PastDue,
            Status::Paused,
            Status::Cancelled,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        for i in [Interval::Monthly, Interval::Quarterly, Interval::Annual] {
            assert_eq!(Interval::parse(i.as_str()), Some(i));
        }
        assert_eq!(Status::parse("canceled"), None);
        assert_eq!(AfterGrace::parse("pause"), Some(AfterGrace::Pause));
    }
}
