//! Exchange rates of display currencies (ADR-0003) and how a price is shown in one. The
//! conversion itself is the kernel's one rule ([`kernel::fx`]): half to even at the minor unit.

use super::CatalogError;
use super::rules::number_text;
use crate::model::ExchangeRateInput;
use kernel::fx::{FxError, to_display};
use kernel::{Currency, Money, Rate};
use rust_decimal::Decimal;
use std::str::FromStr;

/// Most decimals a rate may have (the column is `NUMERIC(20, 10)`).
pub const MAX_RATE_SCALE: u32 = 10;

/// The currency of `PUT /exchange-rates/{currency}`: a known one, other than the settlement
/// currency (which has no rate).
pub fn rated_currency(code: &str, settlement: Currency) -> Result<Currency, CatalogError> {
    let currency = Currency::parse(code).map_err(|e| CatalogError::UnknownCurrency {
        field: None,
        detail: e.to_string(),
    })?;
    if currency == settlement {
        return Err(CatalogError::InvalidExchangeRate {
            field: None,
            detail: "the settlement currency has no exchange rate",
        });
    }
    Ok(currency)
}

/// The rate a request sets: positive, at most 10 decimals, at most one billion.
pub fn parse_rate(input: &ExchangeRateInput) -> Result<Rate, CatalogError> {
    let not_a_decimal = || CatalogError::InvalidBody {
        field: "rate",
        detail: "`rate` must be a decimal".into(),
    };
    let text = number_text(&input.rate).ok_or_else(not_a_decimal)?;
    let out_of_range = CatalogError::InvalidExchangeRate {
        field: Some("rate"),
        detail: "`rate` must be positive with at most 10 decimals",
    };
    let d = match Decimal::from_str(&text).or_else(|_| Decimal::from_scientific(&text)) {
        Ok(d) => d,
        // A number beyond what a decimal holds is a number out of range.
        Err(_) if input.rate.is_number() => return Err(out_of_range),
        Err(_) => return Err(not_a_decimal()),
    };
    if d <= Decimal::ZERO || d.scale() > MAX_RATE_SCALE || d > Decimal::from(1_000_000_000) {
        return Err(out_of_range);
    }
    Rate::new(d).map_err(|_| out_of_range)
}

/// `amount` as shown in `display`: itself when it is already in `display`; converted at `rate`
/// when it is in the settlement currency and a rate is known; `None` when the catalog has no
/// rate for its pair (a price in another non-settlement currency).
pub fn display_amount(
    amount: Money,
    settlement: Currency,
    display: Currency,
    rate: Option<Rate>,
) -> Result<Option<Money>, FxError> {
    if amount.currency() == display {
        return Ok(Some(amount));
    }
    match rate {
        Some(rate) if amount.currency() == settlement => {
            to_display(amount, display, rate).map(Some)
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(s: &str) -> Option<Rate> {
        Some(Rate::from_str(s).unwrap())
    }

    fn shown(amount: i64, display: &str, r: Option<Rate>) -> Option<i64> {
        let usd = Currency::USD;
        let display = Currency::parse(display).unwrap();
        display_amount(Money::new(amount, usd), usd, display, r)
            .unwrap()
            .map(|m| {
                assert_eq!(m.currency(), display);
                m.amount_minor()
            })
    }

    #[test]
    fn converts_with_half_even_rounding_and_exponents() {
        assert_eq!(shown(9200, "EUR", rate("0.92")), Some(8464));
        // 0.5 cent rounds to even.
        assert_eq!(shown(1, "EUR", rate("0.5")), Some(0));
        assert_eq!(shown(3, "EUR", rate("0.5")), Some(2));
        // $10.00 at 150 JPY per USD is 1500 yen (exponent 0).
        assert_eq!(
            shown(1000, "JPY", Some(Rate::new(Decimal::from(150)).unwrap())),
            Some(1500)
        );
    }

    #[test]
    fn shows_what_it_can_and_nothing_else() {
        let usd = Currency::USD;
        let eur = Currency::parse("EUR").unwrap();
        let gbp = Currency::parse("GBP").unwrap();
        // Already in the display currency: as is, no rate needed.
        assert_eq!(shown(4900, "USD", None), Some(4900));
        let in_eur = Money::new(700, eur);
        assert_eq!(display_amount(in_eur, usd, eur, None), Ok(Some(in_eur)));
        // No rate, or a price in a third currency: nothing to show.
        assert_eq!(shown(4900, "EUR", None), None);
        assert_eq!(display_amount(in_eur, usd, gbp, rate("0.8")), Ok(None));
        // Too large to convert is an error, not a made-up amount.
        assert_eq!(
            display_amount(Money::new(i64::MAX, usd), usd, eur, rate("2")),
            Err(FxError::Overflow)
        );
    }

    #[test]
    fn rates_are_positive_bounded_decimals() {
        let parse = |v: serde_json::Value| parse_rate(&ExchangeRateInput { rate: v });
        assert_eq!(parse("0.9200".into()).unwrap().to_string(), "0.92");
        assert_eq!(parse(150.into()).unwrap().to_string(), "150");
        for bad in ["0", "-1", "0.12345678901", "1000000001"] {
            let e = parse(bad.into()).unwrap_err();
            assert_eq!(
                (e.code(), e.field()),
                ("invalid_exchange_rate", Some("rate"))
            );
        }
        for bad in [serde_json::json!("abc"), serde_json::json!(true)] {
            let e = parse(bad).unwrap_err();
            assert_eq!((e.code(), e.field()), ("invalid_body", Some("rate")));
        }
    }

    #[test]
    fn the_settlement_currency_has_no_rate() {
        let usd = Currency::USD;
        assert_eq!(rated_currency("eur", usd).unwrap().code(), "EUR");
        let e = rated_currency("USD", usd).unwrap_err();
        assert_eq!((e.code(), e.field()), ("invalid_exchange_rate", None));
        let e = rated_currency("XYZ", usd).unwrap_err();
        assert_eq!((e.code(), e.field()), ("unknown_currency", None));
    }
}
