//! Typed state machines. An aggregate's status is an enum whose legal moves are one pure
//! function, [`Lifecycle::apply`]; storage persists only its result, with a guarded update whose
//! `WHERE status = ANY(…)` comes from [`Lifecycle::sources`], so the table and the database agree
//! on what may move.

use std::fmt;

/// A move the state machine does not allow from the current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {event} this {aggregate}: it is {from}")]
pub struct IllegalTransition {
    pub aggregate: &'static str,
    pub from: &'static str,
    pub event: &'static str,
}

/// A status string that names no state of the aggregate (a corrupt row or a newer schema).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a {aggregate} status")]
pub struct UnknownState {
    pub aggregate: &'static str,
    pub value: String,
}

/// The events an aggregate reacts to; their names appear in errors and audit rows.
pub trait Transition: fmt::Debug {
    fn name(&self) -> &'static str;
}

pub trait Lifecycle: Copy + Eq + fmt::Debug + Sized + 'static {
    type Event: Transition;
    /// The aggregate's name in errors (`order`, `payment`).
    const AGGREGATE: &'static str;
    /// Every state, for parsing and for deriving guards.
    const ALL: &'static [Self];

    fn as_str(self) -> &'static str;

    /// The state after `event`, or why the event does not apply here.
    fn apply(self, event: &Self::Event) -> Result<Self, IllegalTransition>;

    fn parse(value: &str) -> Result<Self, UnknownState> {
        Self::ALL
            .iter()
            .copied()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| UnknownState {
                aggregate: Self::AGGREGATE,
                value: value.to_string(),
            })
    }

    /// The states from which `event` is legal: the guard of the update that persists it.
    fn sources(event: &Self::Event) -> Vec<String> {
        Self::ALL
            .iter()
            .filter(|s| s.apply(event).is_ok())
            .map(|s| s.as_str().to_string())
            .collect()
    }

    /// The error for `event` from `self` (for `apply` implementations).
    fn illegal(self, event: &Self::Event) -> IllegalTransition {
        IllegalTransition {
            aggregate: Self::AGGREGATE,
            from: self.as_str(),
            event: event.name(),
        }
    }
}
