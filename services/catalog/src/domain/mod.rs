//! Pure catalog rules: what a course, program, price, department or exchange rate must be to be
//! accepted, when an item is for sale and a price in effect, how a price is shown in a display
//! currency, and the service's error enum with its stable problem codes. No I/O: unit-tested
//! without Postgres.

pub mod course;
pub mod department;
pub mod error;
pub mod exchange_rate;
pub mod price;
pub mod program;
pub mod rules;
pub mod split;

pub use course::ValidCourse;
pub use department::ValidDepartment;
pub use error::CatalogError;
pub use price::{Interval, PriceTarget, PriceType, ValidPrice};
pub use program::ValidProgram;

use chrono::{DateTime, Utc};
use kernel::Window;

/// Whether a course or program can be bought at `now`: published, and `now` inside its
/// availability window.
pub fn available(published: bool, availability: Window, now: DateTime<Utc>) -> bool {
    published && availability.contains(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn available_means_published_and_inside_the_window() {
        let t = |s: i64| Utc.timestamp_opt(s, 0).single().unwrap();
        let w = Window::new(Some(t(10)), Some(t(20))).unwrap();
        assert!(available(true, w, t(10)));
        assert!(!available(false, w, t(10)));
        assert!(!available(true, w, t(9)));
        assert!(!available(true, w, t(20)));
        assert!(available(true, Window::always(), t(0)));
    }
}
