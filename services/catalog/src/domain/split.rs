//! Revenue splits: shares given as fractions of one (`0.30`) become exact basis points, and a
//! split read back from storage is checked, never defaulted.

use super::CatalogError;
use super::rules::number_text;
use crate::model::SplitInput;
use kernel::RevenueSplit;
use rust_decimal::Decimal;
use std::str::FromStr;

fn share_bps(field: &'static str, v: &serde_json::Value) -> Result<u32, CatalogError> {
    let not_a_number = || CatalogError::InvalidBody {
        field,
        detail: format!("`{field}` must be a number"),
    };
    let text = number_text(v).ok_or_else(not_a_number)?;
    let out_of_range = || CatalogError::InvalidRevenueSplit {
        field: Some(field),
        detail: format!("`{field}` must be between 0 and 1 with at most 4 decimal places"),
    };
    let d = match Decimal::from_str(&text).or_else(|_| Decimal::from_scientific(&text)) {
        Ok(d) => d,
        // A number beyond what a decimal holds (`1e-300`, `5e255`) is a number out of range.
        Err(_) if v.is_number() => return Err(out_of_range()),
        Err(_) => return Err(not_a_number()),
    };
    // In range first: a share above one could overflow the multiplication.
    if d < Decimal::ZERO || d > Decimal::ONE {
        return Err(out_of_range());
    }
    let bps = d * Decimal::from(10_000);
    if bps.fract() != Decimal::ZERO {
        return Err(out_of_range());
    }
    u32::try_from(bps.mantissa() / 10i128.pow(bps.scale())).map_err(|_| {
        CatalogError::InvalidRevenueSplit {
            field: None,
            detail: "share out of range".into(),
        }
    })
}

/// The split a request asks for; its shares must sum to one.
pub fn parse(input: &SplitInput) -> Result<RevenueSplit, CatalogError> {
    let p = share_bps("revenueSplit.platform", &input.platform)?;
    let c = share_bps("revenueSplit.creator", &input.creator)?;
    let i = share_bps("revenueSplit.instructor", &input.instructor)?;
    RevenueSplit::new(p, c, i).map_err(|e| CatalogError::InvalidRevenueSplit {
        field: Some("revenueSplit"),
        detail: e.to_string(),
    })
}

/// Why a stored split cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoredSplitError {
    #[error("negative share {0} bps")]
    Negative(i32),
    #[error(transparent)]
    NotWhole(#[from] kernel::SplitError),
}

/// A split as stored (basis points per share). A negative share or shares that do not sum to
/// the whole are corrupt data: an error, never the default 30/40/30.
pub fn from_stored(
    platform_bps: i32,
    creator_bps: i32,
    instructor_bps: i32,
) -> Result<RevenueSplit, StoredSplitError> {
    let u = |v: i32| u32::try_from(v).map_err(|_| StoredSplitError::Negative(v));
    Ok(RevenueSplit::new(
        u(platform_bps)?,
        u(creator_bps)?,
        u(instructor_bps)?,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(
        p: serde_json::Value,
        c: serde_json::Value,
        i: serde_json::Value,
    ) -> Result<RevenueSplit, CatalogError> {
        parse(&SplitInput {
            platform: p,
            creator: c,
            instructor: i,
        })
    }

    fn status(e: CatalogError) -> u16 {
        web::ApiError::from(e).status.as_u16()
    }

    #[test]
    fn parses_shares_exactly() {
        let s = split(0.3.into(), 0.4.into(), "0.30".into()).unwrap();
        assert_eq!(
            (s.platform_bps(), s.creator_bps(), s.instructor_bps()),
            (3000, 4000, 3000)
        );
        assert_eq!(
            status(split(0.3.into(), 0.3.into(), 0.3.into()).unwrap_err()),
            422
        );
        assert_eq!(
            status(split(0.33333.into(), 0.3.into(), 0.3.into()).unwrap_err()),
            422
        );
        assert_eq!(
            status(split((-0.1).into(), 0.6.into(), 0.5.into()).unwrap_err()),
            422
        );
    }

    #[test]
    fn a_share_that_is_no_number_is_a_bad_body() {
        let e = split(true.into(), 0.4.into(), 0.3.into()).unwrap_err();
        assert_eq!(e.code(), "invalid_body");
        assert_eq!(e.field(), Some("revenueSplit.platform"));
        let e = split(0.3.into(), "lots".into(), 0.3.into()).unwrap_err();
        assert_eq!(e.code(), "invalid_body");
        assert_eq!(e.field(), Some("revenueSplit.creator"));
        let e = split(0.3.into(), 0.3.into(), 0.3.into()).unwrap_err();
        assert_eq!(e.field(), Some("revenueSplit"));
        assert!(split("3e-1".into(), "4E-1".into(), 0.3.into()).is_ok());
    }

    #[test]
    fn a_stored_split_is_read_exactly_or_refused() {
        let s = from_stored(2000, 5000, 3000).unwrap();
        assert_eq!(
            (s.platform_bps(), s.creator_bps(), s.instructor_bps()),
            (2000, 5000, 3000)
        );
        // Once these became 30/40/30 without a word.
        assert_eq!(
            from_stored(-1, 5000, 5001),
            Err(StoredSplitError::Negative(-1))
        );
        assert!(matches!(
            from_stored(3000, 3000, 3000),
            Err(StoredSplitError::NotWhole(_))
        ));
    }
}
