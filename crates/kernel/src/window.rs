//! Time windows: `[from, until)`, either end open. The one rule for "available now" and
//! "effective now" everywhere.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the window ends before it starts")]
pub struct InvalidWindow;

/// A half-open interval of time; `None` ends are unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Window {
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

impl Window {
    /// A window; `until` must be after `from` when both are set.
    pub fn new(
        from: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Window, InvalidWindow> {
        match (from, until) {
            (Some(f), Some(u)) if u <= f => Err(InvalidWindow),
            _ => Ok(Window { from, until }),
        }
    }

    /// Always open.
    pub fn always() -> Window {
        Window::default()
    }

    pub fn from(&self) -> Option<DateTime<Utc>> {
        self.from
    }

    pub fn until(&self) -> Option<DateTime<Utc>> {
        self.until
    }

    /// `from <= at < until`.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from.is_none_or(|f| f <= at) && self.until.is_none_or(|u| at < u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(s, 0).single().unwrap()
    }

    #[test]
    fn half_open() {
        let w = Window::new(Some(t(10)), Some(t(20))).unwrap();
        assert!(!w.contains(t(9)));
        assert!(w.contains(t(10)));
        assert!(w.contains(t(19)));
        assert!(!w.contains(t(20)));
        assert!(Window::always().contains(t(0)));
        assert_eq!(Window::new(Some(t(5)), Some(t(5))), Err(InvalidWindow));
    }

    proptest! {
        #[test]
        fn contains_matches_the_definition(
            a in 0i64..1000,
            b in 0i64..1000,
            at in 0i64..1000,
            open_from: bool,
            open_until: bool,
        ) {
            let from = (!open_from).then(|| t(a));
            let until = (!open_until).then(|| t(b));
            match Window::new(from, until) {
                Ok(w) => {
                    let expected =
                        from.is_none_or(|f| f <= t(at)) && until.is_none_or(|u| t(at) < u);
                    prop_assert_eq!(w.contains(t(at)), expected);
                }
                Err(_) => prop_assert!(b <= a && !open_from && !open_until),
            }
        }
    }
}
