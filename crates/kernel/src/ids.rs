//! Identifiers and time, behind seams so tests can be deterministic.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A new time-ordered id (UUID v7): sorts by creation time, so it doubles as a keyset cursor.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// Where "now" comes from. Services take a clock instead of calling `Utc::now()` directly.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one place the wall clock is read.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to (tests of expiry and time windows).
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock(std::sync::Mutex::new(start))
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The wall clock moved forward by an offset an operator sets (a development deployment shows a
/// month of renewals in a minute); never configured in production.
#[derive(Debug, Default)]
pub struct OffsetClock(std::sync::Mutex<chrono::Duration>);

impl OffsetClock {
    pub fn advance(&self, by: chrono::Duration) {
        let mut offset = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *offset += by;
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        SystemClock.now() + *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_clock_runs_ahead_by_what_it_was_told() {
        let c = OffsetClock::default();
        c.advance(chrono::Duration::days(30));
        let ahead = c.now() - SystemClock.now();
        assert!(ahead > chrono::Duration::days(30) - chrono::Duration::seconds(5));
        assert!(ahead <= chrono::Duration::days(30));
    }
}
