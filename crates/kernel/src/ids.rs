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
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
