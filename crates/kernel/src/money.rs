//! Money in integer minor units with an ISO 4217 currency. Never floats.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Errors of money arithmetic. Each one is a caller mistake, never a rounding decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency `{0}` (expected an ISO 4217 code such as USD)")]
    UnknownCurrency(String),
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(String, String),
    #[error("amount overflow")]
    Overflow,
    #[error("allocation needs at least one part with a positive weight")]
    NoWeights,
}

/// An ISO 4217 currency and the number of digits of its minor unit.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

/// The currencies the platform accepts, with their minor-unit exponents (ISO 4217).
const CURRENCIES: &[(&str, u8)] = &[
    ("USD", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("CAD", 2),
    ("AUD", 2),
    ("NZD", 2),
    ("CHF", 2),
    ("SEK", 2),
    ("NOK", 2),
    ("DKK", 2),
    ("PLN", 2),
    ("CZK", 2),
    ("HUF", 2),
    ("RON", 2),
    ("INR", 2),
    ("BRL", 2),
    ("MXN", 2),
    ("ZAR", 2),
    ("SGD", 2),
    ("HKD", 2),
    ("CNY", 2),
    ("TWD", 2),
    ("THB", 2),
    ("MYR", 2),
    ("PHP", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("AED", 2),
    ("SAR", 2),
    ("TRY", 2),
    ("EGP", 2),
    ("NGN", 2),
    ("KES", 2),
    ("COP", 2),
    ("ARS", 2),
    ("PEN", 2),
    ("JPY", 0),
    ("KRW", 0),
    ("CLP", 0),
    ("VND", 0),
    ("ISK", 0),
    ("UGX", 0),
    ("KWD", 3),
    ("BHD", 3),
    ("OMR", 3),
    ("JOD", 3),
    ("TND", 3),
];

impl Currency {
    /// The ISO 4217 codes the platform knows, upper case.
    pub fn codes() -> impl Iterator<Item = &'static str> {
        CURRENCIES.iter().map(|(c, _)| *c)
    }

    /// Parses an ISO 4217 code, case-insensitively.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let upper = code.trim().to_ascii_uppercase();
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == upper)
            .map(|(c, e)| Currency {
                code: c,
                exponent: *e,
            })
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_string()))
    }

    pub const USD: Currency = Currency {
        code: "USD",
        exponent: 2,
    };

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Digits after the decimal point of the minor unit (2 for USD, 0 for JPY, 3 for KWD).
    pub fn exponent(&self) -> u8 {
        self.exponent
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An amount in the minor units of its currency (cents for USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Money {
    amount_minor: i64,
    currency: Currency,
}

impl Money {
    pub fn new(amount_minor: i64, currency: Currency) -> Self {
        Money {
            amount_minor,
            currency,
        }
    }

    pub fn zero(currency: Currency) -> Self {
        Money::new(0, currency)
    }

    pub fn amount_minor(&self) -> i64 {
        self.amount_minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(
                self.currency.code.to_string(),
                other.currency.code.to_string(),
            ))
        }
    }

    pub fn checked_add(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let sum = self
            .amount_minor
            .checked_add(other.amount_minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(sum, self.currency))
    }

    pub fn checked_sub(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let diff = self
            .amount_minor
            .checked_sub(other.amount_minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(diff, self.currency))
    }

    pub fn checked_mul(&self, factor: i64) -> Result<Money, MoneyError> {
        let product = self
            .amount_minor
            .checked_mul(factor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(product, self.currency))
    }

    /// Sums amounts of one currency; an empty list sums to zero in `currency`.
    pub fn sum<'a>(
        currency: Currency,
        items: impl IntoIterator<Item = &'a Money>,
    ) -> Result<Money, MoneyError> {
        items
            .into_iter()
            .try_fold(Money::zero(currency), |acc, m| acc.checked_add(m))
    }

    /// Splits this amount over `weights` so the parts sum exactly to it (largest remainder).
    pub fn allocate(&self, weights: &[u64]) -> Result<Vec<Money>, MoneyError> {
        Ok(allocate(self.amount_minor, weights)?
            .into_iter()
            .map(|a| Money::new(a, self.currency))
            .collect())
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = u32::from(self.currency.exponent);
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        let abs = self.amount_minor.unsigned_abs();
        if exp == 0 {
            return write!(f, "{sign}{abs} {}", self.currency);
        }
        let unit = 10u64.pow(exp);
        write!(
            f,
            "{sign}{}.{:0width$} {}",
            abs / unit,
            abs % unit,
            self.currency,
            width = exp as usize
        )
    }
}

/// `x × num / den` in minor units, rounded half to even (a fee from basis points, an amount at
/// a ratio). A zero `den` or a result beyond `i64` is an overflow.
pub fn mul_div_half_even(x: i64, num: i64, den: i64) -> Result<i64, MoneyError> {
    if den == 0 {
        return Err(MoneyError::Overflow);
    }
    let (n, d) = (i128::from(x) * i128::from(num), i128::from(den));
    let negative = (n < 0) != (d < 0);
    let (n, d) = (n.abs(), d.abs());
    let (q, r) = (n / d, n % d);
    let q = if 2 * r > d || (2 * r == d && q % 2 == 1) {
        q + 1
    } else {
        q
    };
    i64::try_from(if negative { -q } else { q }).map_err(|_| MoneyError::Overflow)
}

/// Allocates `total` over `weights` with the largest-remainder method: each part gets the floor of
/// its exact share, and the units left over go to the parts with the largest remainders (ties to
/// the earlier part). The parts always sum exactly to `total`; a zero weight always gets zero.
pub fn allocate(total: i64, weights: &[u64]) -> Result<Vec<i64>, MoneyError> {
    let weight_sum: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    if weight_sum == 0 {
        return Err(MoneyError::NoWeights);
    }
    let negative = total < 0;
    let magnitude = u128::from(total.unsigned_abs());
    let mut parts: Vec<u128> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = magnitude * u128::from(*w);
        parts.push(exact / weight_sum);
        remainders.push((exact % weight_sum, i));
    }
    let allocated: u128 = parts.iter().sum();
    let mut left = magnitude - allocated;
    // Largest remainder first; among equal remainders the earlier part wins (stable order).
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (rem, i) in remainders {
        if left == 0 {
            break;
        }
        if rem > 0 {
            parts[i] += 1;
            left -= 1;
        }
    }
    parts
        .into_iter()
        .map(|p| {
            let v = i64::try_from(p).map_err(|_| MoneyError::Overflow)?;
            Ok(if negative { -v } else { v })
        })
        .collect()
}

#[cfg(test)]
mod tests {

    #[test]
    fn mul_div_rounds_half_to_even_both_ways() {
        assert_eq!(mul_div_half_even(1500, 290, 10_000), Ok(44)); // 43.5 → 44
        assert_eq!(mul_div_half_even(1250, 290, 10_000), Ok(36)); // 36.25 → 36
        assert_eq!(mul_div_half_even(25, 1, 10), Ok(2)); // 2.5 → 2
        assert_eq!(mul_div_half_even(35, 1, 10), Ok(4)); // 3.5 → 4
        assert_eq!(mul_div_half_even(-35, 1, 10), Ok(-4));
        assert_eq!(mul_div_half_even(59, 400, 1001), Ok(24)); // 23.58 → 24
        assert_eq!(mul_div_half_even(7, 3, 3), Ok(7));
        assert_eq!(mul_div_half_even(1, 1, 0), Err(MoneyError::Overflow));
        assert_eq!(mul_div_half_even(i64::MAX, 4, 2), Err(MoneyError::Overflow));
    }
    use super::*;
    use proptest::prelude::*;

    fn usd(a: i64) -> Money {
        Money::new(a, Currency::USD)
    }

    #[test]
    fn parses_known_currencies_with_exponents() {
        assert_eq!(Currency::parse("usd").map(|c| c.exponent()), Ok(2));
        assert_eq!(Currency::parse("JPY").map(|c| c.exponent()), Ok(0));
        assert_eq!(Currency::parse("KWD").map(|c| c.exponent()), Ok(3));
        assert!(matches!(
            Currency::parse("XYZ"),
            Err(MoneyError::UnknownCurrency(_))
        ));
    }

    #[test]
    fn refuses_mixed_currencies() {
        let eur = Money::new(100, Currency::parse("EUR").unwrap_or(Currency::USD));
        assert!(matches!(
            usd(100).checked_add(&eur),
            Err(MoneyError::CurrencyMismatch(_, _))
        ));
        assert!(matches!(
            usd(100).checked_sub(&eur),
            Err(MoneyError::CurrencyMismatch(_, _))
        ));
    }

    #[test]
    fn refuses_overflow() {
        assert_eq!(
            usd(i64::MAX).checked_add(&usd(1)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(usd(i64::MAX).checked_mul(2), Err(MoneyError::Overflow));
    }

    #[test]
    fn displays_with_exponent() {
        assert_eq!(usd(1999).to_string(), "19.99 USD");
        assert_eq!(usd(-5).to_string(), "-0.05 USD");
        let jpy = Currency::parse("JPY").unwrap_or(Currency::USD);
        assert_eq!(Money::new(1200, jpy).to_string(), "1200 JPY");
    }

    #[test]
    fn allocates_default_revenue_split_exactly() {
        assert_eq!(allocate(10_000, &[30, 40, 30]), Ok(vec![3000, 4000, 3000]));
        // 1 cent over three equal parts: the first part gets it.
        assert_eq!(allocate(1, &[1, 1, 1]), Ok(vec![1, 0, 0]));
        assert_eq!(allocate(100, &[1, 1, 1]), Ok(vec![34, 33, 33]));
        assert_eq!(allocate(-100, &[1, 1, 1]), Ok(vec![-34, -33, -33]));
        assert_eq!(allocate(999, &[3000, 4000, 3000]), Ok(vec![300, 399, 300]));
        assert_eq!(allocate(5, &[0, 0]), Err(MoneyError::NoWeights));
    }

    proptest! {
        #[test]
        fn allocation_parts_sum_to_total(total in -1_000_000_000_000i64..1_000_000_000_000i64,
                                         weights in proptest::collection::vec(0u64..100_000, 1..12),
        ) {
            prop_assume!(weights.iter().any(|w| *w > 0));
            let parts = allocate(total, &weights).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(parts.len(), weights.len());
            prop_assert_eq!(parts.iter().sum::<i64>(), total);
            let wsum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
            for (p, w) in parts.iter().zip(&weights) {
                if *w == 0 { prop_assert_eq!(*p, 0); }
                // Each part is within one unit of its exact share.
                let exact = i128::from(total) * i128::from(*w);
                let diff = (i128::from(*p) * wsum - exact).abs();
                prop_assert!(diff < wsum, "part {} too far from exact share", p);
                // Every part has the sign of the total.
                prop_assert!(*p == 0 || (*p > 0) == (total > 0));
            }
        }

        #[test]
        fn add_then_sub_round_trips(a in -1_000_000_000_000i64..1_000_000_000_000i64,
                                    b in -1_000_000_000_000i64..1_000_000_000_000i64) {
            let sum = usd(a).checked_add(&usd(b)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(sum.checked_sub(&usd(b)), Ok(usd(a)));
            prop_assert_eq!(usd(a).checked_add(&usd(b)), usd(b).checked_add(&usd(a)));
        }

        #[test]
        fn money_allocation_keeps_currency_and_total(
            total in 0i64..10_000_000,
            w in proptest::collection::vec(1u64..10, 1..6),
        ) {
            let parts = usd(total).allocate(&w).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(Money::sum(Currency::USD, &parts), Ok(usd(total)));
        }
    }
}
