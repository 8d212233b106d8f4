//! Currency conversion (ADR-0003): one rate type and one rounding rule for the catalog's display
//! prices and the order's settlement amount. A rate is how many display units one settlement unit
//! buys (0.92 EUR per USD); results round half to even at the target currency's minor unit.

use crate::money::{Currency, Money};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FxError {
    #[error("an exchange rate must be a positive decimal, got `{0}`")]
    InvalidRate(String),
    #[error("{0} is neither side of this conversion")]
    WrongCurrency(Currency),
    #[error("the converted amount does not fit")]
    Overflow,
}

/// Display units per one settlement unit; always positive.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(Decimal);

impl Rate {
    pub const ONE: Rate = Rate(Decimal::ONE);

    pub fn new(value: Decimal) -> Result<Rate, FxError> {
        if value > Decimal::ZERO {
            Ok(Rate(value.normalize()))
        } else {
            Err(FxError::InvalidRate(value.to_string()))
        }
    }

    pub fn value(&self) -> Decimal {
        self.0
    }
}

impl FromStr for Rate {
    type Err = FxError;
    fn from_str(s: &str) -> Result<Rate, FxError> {
        Decimal::from_str(s.trim())
            .map_err(|_| FxError::InvalidRate(s.to_string()))
            .and_then(Rate::new)
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rate({})", self.0)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// `value` (in `from`'s minor units) expressed in `to`'s minor units, rounded half to even.
fn rescale(value: Decimal, from: Currency, to: Currency) -> Result<i64, FxError> {
    let diff = i32::from(to.exponent()) - i32::from(from.exponent());
    let mut v = value;
    let ten = Decimal::from(10);
    for _ in 0..diff.abs() {
        v = if diff > 0 {
            v.checked_mul(ten)
        } else {
            v.checked_div(ten)
        }
        .ok_or(FxError::Overflow)?;
    }
    v.round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven)
        .to_i64()
        .ok_or(FxError::Overflow)
}

/// A settlement amount shown in `display` at `rate`.
pub fn to_display(amount: Money, display: Currency, rate: Rate) -> Result<Money, FxError> {
    if amount.currency() == display {
        return Ok(amount);
    }
    let v = Decimal::from(amount.amount_minor())
        .checked_mul(rate.0)
        .ok_or(FxError::Overflow)?;
    Ok(Money::new(rescale(v, amount.currency(), display)?, display))
}

/// A display amount converted back to `settlement` at `rate`.
pub fn to_settlement(amount: Money, settlement: Currency, rate: Rate) -> Result<Money, FxError> {
    if amount.currency() == settlement {
        return Ok(amount);
    }
    let v = Decimal::from(amount.amount_minor())
        .checked_div(rate.0)
        .ok_or(FxError::Overflow)?;
    Ok(Money::new(
        rescale(v, amount.currency(), settlement)?,
        settlement,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn converts_both_ways_half_even_with_exponents() {
        let r = |s: &str| Rate::from_str(s).unwrap();
        let usd = Currency::USD;
        // $92.00 at 0.92 EUR per USD is €84.64, and back.
        assert_eq!(
            to_display(Money::new(9200, usd), c("EUR"), r("0.92")).unwrap(),
            Money::new(8464, c("EUR"))
        );
        assert_eq!(
            to_settlement(Money::new(8464, c("EUR")), usd, r("0.92")).unwrap(),
            Money::new(9200, usd)
        );
        // Half a cent rounds to even.
        assert_eq!(
            to_display(Money::new(1, usd), c("EUR"), r("0.5"))
                .unwrap()
                .amount_minor(),
            0
        );
        assert_eq!(
            to_display(Money::new(3, usd), c("EUR"), r("0.5"))
                .unwrap()
                .amount_minor(),
            2
        );
        // Exponent 0: $10.00 at 150 JPY per USD is ¥1500, and back.
        assert_eq!(
            to_display(Money::new(1000, usd), c("JPY"), r("150"))
                .unwrap()
                .amount_minor(),
            1500
        );
        assert_eq!(
            to_settlement(Money::new(1500, c("JPY")), usd, r("150"))
                .unwrap()
                .amount_minor(),
            1000
        );
        assert_eq!(
            to_settlement(Money::new(777, usd), usd, r("3"))
                .unwrap()
                .amount_minor(),
            777
        );
    }

    #[test]
    fn refuses_bad_rates() {
        assert!(Rate::from_str("0").is_err());
        assert!(Rate::from_str("-1.2").is_err());
        assert!(Rate::from_str("abc").is_err());
        assert!(Rate::from_str("").is_err());
    }

    proptest! {
        /// Rounding never moves the result by more than half a minor unit of the exact value.
        #[test]
        fn error_is_at_most_half_a_minor_unit(
            amount in -10_000_000i64..10_000_000,
            milli in 1u32..5_000_000,
        ) {
            let rate = Rate::new(Decimal::new(i64::from(milli), 3)).unwrap();
            let eur = c("EUR");
            let shown = to_display(Money::new(amount, Currency::USD), eur, rate).unwrap();
            let exact = Decimal::from(amount) * rate.value();
            let err = (Decimal::from(shown.amount_minor()) - exact).abs();
            prop_assert!(err <= Decimal::new(5, 1));
            let back = to_settlement(shown, Currency::USD, rate).unwrap();
            let exact_back = Decimal::from(shown.amount_minor()) / rate.value();
            let back_err = (Decimal::from(back.amount_minor()) - exact_back).abs();
            prop_assert!(back_err <= Decimal::new(5, 1));
        }
    }
}
