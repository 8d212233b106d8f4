//! Report periods (`?start=&end=`, the last 12 months by default) and their monthly buckets, in
//! UTC.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

/// A half-open period `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

fn month_start(year: i32, month: u32) -> Option<DateTime<Utc>> {
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single()
}

/// `2026-11-28T00:00:00Z` or `2026-11-28` (midnight UTC).
fn parse_instant(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| Utc.from_utc_datetime(&d))
}

/// Why a period is refused: dates that do not read (the query is malformed) or a period that
/// breaks a rule (reversed, longer than ten years).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeriodError {
    Unreadable(String),
    Invalid(String),
}

impl Period {
    /// The caller's period; without one, the twelve calendar months up to `now` (this month
    /// included). An unreadable or empty period is an error, never a default.
    pub fn from_query(
        start: Option<&str>,
        end: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Period, PeriodError> {
        let end = match end {
            Some(raw) => parse_instant(raw)
                .ok_or_else(|| PeriodError::Unreadable(format!("end: `{raw}` is not a date")))?,
            None => now,
        };
        let start = match start {
            Some(raw) => parse_instant(raw)
                .ok_or_else(|| PeriodError::Unreadable(format!("start: `{raw}` is not a date")))?,
            None => {
                let months = end.year() * 12 + end.month0() as i32 - 11;
                month_start(months.div_euclid(12), months.rem_euclid(12) as u32 + 1)
                    .ok_or_else(|| PeriodError::Invalid("no such month".into()))?
            }
        };
        if start >= end {
            return Err(PeriodError::Invalid("start must be before end".into()));
        }
        if (end - start).num_days() > 3660 {
            return Err(PeriodError::Invalid(
                "a report covers at most ten years".into(),
            ));
        }
        Ok(Period { start, end })
    }

    /// Every month the period touches, `YYYY-MM`, in order.
    pub fn months(&self) -> Vec<String> {
        let mut out = Vec::new();
        let (mut y, mut m) = (self.start.year(), self.start.month());
        let last = self.end - chrono::Duration::nanoseconds(1);
        while (y, m) <= (last.year(), last.month()) {
            out.push(format!("{y:04}-{m:02}"));
            (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_default_is_twelve_months_up_to_now() {
        let p = Period::from_query(None, None, t("2026-11-28T10:00:00Z")).unwrap();
        assert_eq!(p.start, t("2025-12-01T00:00:00Z"));
        assert_eq!(p.months().len(), 12);
        assert_eq!(p.months()[0], "2025-12");
        assert_eq!(p.months()[11], "2026-11");
        let jan = Period::from_query(None, None, t("2027-01-05T00:00:00Z")).unwrap();
        assert_eq!(jan.start, t("2026-02-01T00:00:00Z"));
    }

    #[test]
    fn dates_and_instants_are_read_and_bad_ones_refused() {
        let now = t("2026-11-28T10:00:00Z");
        let p = Period::from_query(Some("2026-01-01"), Some("2026-03-01"), now).unwrap();
        assert_eq!(p.months(), vec!["2026-01", "2026-02"]);
        assert!(Period::from_query(Some("yesterday"), None, now).is_err());
        assert!(Period::from_query(Some("2026-03-01"), Some("2026-01-01"), now).is_err());
        assert!(Period::from_query(Some("2000-01-01"), Some("2026-01-01"), now).is_err());
        let p = Period::from_query(Some("2026-01-15T12:00:00+02:00"), None, now).unwrap();
        assert_eq!(p.start, t("2026-01-15T10:00:00Z"));
    }
}
