//! Tax (ADR-002): the learner's billing address, manual rates per department and region, the
//! exact split of a quoted tax over the order's lines, and the exact conversion between integer
//! minor units and the decimal amounts tax services speak. Pure: the calculators in
//! [`crate::tax`] fetch, these rules decide.

use rust_decimal::Decimal;
use rust_decimal::prelude::*;
use serde::{Deserialize, Serialize};

/// Where the learner is billed: tax is decided by it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BillingAddress {
    /// ISO 3166-1 alpha-2, upper case (`US`, `DE`).
    pub country: String,
    /// Required in the US.
    #[serde(default)]
    pub postal_code: Option<String>,
    /// State or province code; required in the US and Canada (`CA`, `ON`).
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub street: Option<String>,
}

/// A field of an address that cannot decide tax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadAddress {
    pub field: &'static str,
    pub reason: &'static str,
}

fn bad(field: &'static str, reason: &'static str) -> BadAddress {
    BadAddress { field, reason }
}

/// Absent, or 1 to `max` characters without control characters.
pub fn short_text(v: &Option<String>, max: usize) -> bool {
    v.as_ref()
        .is_none_or(|s| !s.trim().is_empty() && s.len() <= max && !s.chars().any(char::is_control))
}

const COUNTRY: &str = "two upper-case letters (ISO 3166-1)";
const REGION: &str = "a region code of 1 to 3 upper-case letters or digits";

/// A place as rates, exemptions and nexus name it: a country and, optionally, a region. The
/// wrong part, if any: `("country" | "region", why)`.
pub fn place_error(country: &str, region: Option<&str>) -> Option<(&'static str, &'static str)> {
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Some(("country", COUNTRY));
    }
    match region {
        Some(r)
            if r.is_empty()
                || r.len() > 3
                || !r
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) =>
        {
            Some(("region", REGION))
        }
        _ => None,
    }
}

impl BillingAddress {
    pub fn validate(&self) -> Result<(), BadAddress> {
        if let Some((part, why)) = place_error(&self.country, self.region.as_deref()) {
            let field = if part == "country" {
                "billingAddress.country"
            } else {
                "billingAddress.region"
            };
            return Err(bad(field, why));
        }
        if self.country == "US" && self.postal_code.is_none() {
            return Err(bad("billingAddress.postalCode", "required in the US"));
        }
        if matches!(self.country.as_str(), "US" | "CA") && self.region.is_none() {
            return Err(bad(
                "billingAddress.region",
                "required in the US and Canada",
            ));
        }
        if !short_text(&self.postal_code, 16) {
            return Err(bad("billingAddress.postalCode", "1 to 16 characters"));
        }
        if !short_text(&self.city, 100) || !short_text(&self.street, 200) {
            return Err(bad(
                "billingAddress",
                "city and street: 1 to 100 / 200 characters",
            ));
        }
        Ok(())
    }
}

/// A manual rate: a department (or every department) in a country (or one of its regions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualRate {
    pub department_id: Option<String>,
    pub country: String,
    pub region: Option<String>,
    /// A fraction: `0.0725` is 7.25 %.
    pub rate: Decimal,
}

/// The most specific rate for a line of `department` billed to `address`: department and region
/// first, then department and country, then every department's region, then its country. `None`:
/// no rate is configured there, so no tax is collected there.
pub fn pick_rate<'a>(
    rates: &'a [ManualRate],
    department: &str,
    address: &BillingAddress,
) -> Option<&'a ManualRate> {
    let score = |r: &ManualRate| -> Option<u8> {
        if r.country != address.country {
            return None;
        }
        let dept = match &r.department_id {
            Some(d) if d == department => 2,
            Some(_) => return None,
            None => 0,
        };
        let region = match &r.region {
            Some(x) if Some(x) == address.region.as_ref() => 1,
            Some(_) => return None,
            None => 0,
        };
        Some(dept + region)
    };
    rates
        .iter()
        .filter_map(|r| score(r).map(|s| (s, r)))
        .max_by_key(|(s, _)| *s)
        .map(|(_, r)| r)
}

/// A rate is a fraction from 0 to 1 with at most 6 decimals.
pub fn valid_rate(rate: Decimal) -> bool {
    rate >= Decimal::ZERO && rate <= Decimal::ONE && rate.scale() <= 6
}

/// `amount × rate` in minor units, rounded half to even.
pub fn tax_on(amount: i64, rate: Decimal) -> Result<i64, TaxMathError> {
    Decimal::from(amount)
        .checked_mul(rate)
        .ok_or(TaxMathError::Overflow)?
        .round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven)
        .to_i64()
        .ok_or(TaxMathError::Overflow)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaxMathError {
    #[error("an amount beyond what can be represented")]
    Overflow,
    #[error("`{0}` has more decimals than the currency has minor units")]
    TooPrecise(String),
    #[error("a negative tax: `{0}`")]
    Negative(String),
    #[error("nothing to split the tax over")]
    NoWeights,
}

/// Minor units as the decimal a tax service reads: `1234` cents → `12.34`.
pub fn to_decimal(minor: i64, exponent: u8) -> Decimal {
    Decimal::new(minor, u32::from(exponent))
}

/// A decimal amount back in minor units, exactly: `12.34` → `1234`; more decimals than the
/// currency has is an error, never a rounding.
pub fn from_decimal(d: Decimal, exponent: u8) -> Result<i64, TaxMathError> {
    let scaled = d
        .checked_mul(Decimal::from(10i64.pow(u32::from(exponent))))
        .ok_or(TaxMathError::Overflow)?;
    if scaled.fract() != Decimal::ZERO {
        return Err(TaxMathError::TooPrecise(d.to_string()));
    }
    if scaled < Decimal::ZERO {
        return Err(TaxMathError::Negative(d.to_string()));
    }
    scaled.to_i64().ok_or(TaxMathError::Overflow)
}

/// Splits a quoted `total` over lines exactly: by each line's own quoted tax when there is any,
/// else by its taxable amount (largest remainder either way).
pub fn split_total(
    total: i64,
    per_line: &[i64],
    taxable: &[i64],
) -> Result<Vec<i64>, TaxMathError> {
    if total == 0 {
        return Ok(vec![0; per_line.len()]);
    }
    let weights = |v: &[i64]| -> Vec<u64> { v.iter().map(|x| x.max(&0).unsigned_abs()).collect() };
    let by_tax = weights(per_line);
    let w = if by_tax.iter().any(|x| *x > 0) {
        by_tax
    } else {
        weights(taxable)
    };
    kernel::allocate(total, &w).map_err(|_| TaxMathError::NoWeights)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(region: &str) -> BillingAddress {
        BillingAddress {
            country: "US".into(),
            postal_code: Some("94103".into()),
            region: Some(region.into()),
            city: None,
            street: None,
        }
    }

    fn rate(dept: Option<&str>, country: &str, region: Option<&str>, r: &str) -> ManualRate {
        ManualRate {
            department_id: dept.map(str::to_string),
            country: country.into(),
            region: region.map(str::to_string),
            rate: Decimal::from_str(r).unwrap(),
        }
    }

    #[test]
    fn the_most_specific_rate_wins() {
        let rates = [
            rate(None, "US", None, "0.05"),
            rate(None, "US", Some("CA"), "0.0725"),
            rate(Some("cs"), "US", None, "0.01"),
            rate(Some("cs"), "US", Some("NY"), "0.02"),
            rate(Some("math"), "US", Some("CA"), "0.09"),
        ];
        let pick =
            |d: &str, a: &BillingAddress| pick_rate(&rates, d, a).map(|r| r.rate.to_string());
        assert_eq!(pick("cs", &us("NY")).as_deref(), Some("0.02"));
        assert_eq!(pick("cs", &us("CA")).as_deref(), Some("0.01"));
        assert_eq!(pick("art", &us("CA")).as_deref(), Some("0.0725"));
        assert_eq!(pick("art", &us("TX")).as_deref(), Some("0.05"));
        let de = BillingAddress {
            country: "DE".into(),
            postal_code: None,
            region: None,
            city: None,
            street: None,
        };
        assert_eq!(pick("cs", &de), None);
    }

    #[test]
    fn addresses_are_checked_field_by_field() {
        assert!(us("CA").validate().is_ok());
        let mut a = us("CA");
        a.country = "us".into();
        assert_eq!(a.validate().unwrap_err().field, "billingAddress.country");
        let mut a = us("CA");
        a.postal_code = None;
        assert_eq!(a.validate().unwrap_err().field, "billingAddress.postalCode");
        let mut a = us("CA");
        a.region = None;
        assert_eq!(a.validate().unwrap_err().field, "billingAddress.region");
        let de = BillingAddress {
            country: "DE".into(),
            postal_code: None,
            region: None,
            city: None,
            street: None,
        };
        assert!(de.validate().is_ok());
    }

    #[test]
    fn decimals_convert_exactly_or_not_at_all() {
        assert_eq!(to_decimal(1234, 2).to_string(), "12.34");
        assert_eq!(to_decimal(500, 0).to_string(), "500");
        assert_eq!(
            from_decimal(Decimal::from_str("12.34").unwrap(), 2),
            Ok(1234)
        );
        assert_eq!(
            from_decimal(Decimal::from_str("12.3").unwrap(), 2),
            Ok(1230)
        );
        assert_eq!(from_decimal(Decimal::from_str("500").unwrap(), 0), Ok(500));
        assert!(matches!(
            from_decimal(Decimal::from_str("12.345").unwrap(), 2),
            Err(TaxMathError::TooPrecise(_))
        ));
        assert!(matches!(
            from_decimal(Decimal::from_str("-1").unwrap(), 2),
            Err(TaxMathError::Negative(_))
        ));
        assert_eq!(tax_on(4900, Decimal::from_str("0.0725").unwrap()), Ok(355)); // 355.25
        assert_eq!(tax_on(1000, Decimal::from_str("0.00125").unwrap()), Ok(1)); // 1.25
        assert_eq!(tax_on(1400, Decimal::from_str("0.00125").unwrap()), Ok(2)); // 1.75
        assert_eq!(tax_on(200, Decimal::from_str("0.0125").unwrap()), Ok(2)); // 2.5 → 2
    }

    #[test]
    fn a_quoted_total_is_split_exactly() {
        assert_eq!(split_total(356, &[355, 0], &[4900, 0]), Ok(vec![356, 0]));
        assert_eq!(split_total(101, &[0, 0], &[1, 1]), Ok(vec![51, 50]));
        assert_eq!(split_total(0, &[0, 0], &[0, 0]), Ok(vec![0, 0]));
        assert_eq!(split_total(5, &[0], &[0]), Err(TaxMathError::NoWeights));
    }
}
