//! A cart shown in a display currency (ADR-003): every line's price, discount and tax converted
//! from the cart's currency at the catalog's rate, half to even at the display currency's minor
//! unit (JPY has none), and the totals summed from the converted lines, so the display figures
//! add up exactly. Each converted figure is within half a display minor unit of the exact
//! product, so converting a display total back differs from the cart's total by at most
//! `3 × lines × ½` display minor units at the rate, plus half a cart minor unit.

use kernel::fx::{FxError, to_display};
use kernel::{Currency, Money, Rate};

/// One line's money in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineAmounts {
    pub price: i64,
    pub discount: i64,
    pub tax: i64,
}

impl LineAmounts {
    pub fn total(&self) -> Option<i64> {
        self.price.checked_sub(self.discount)?.checked_add(self.tax)
    }
}

/// A cart's figures in a display currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Displayed {
    pub currency: Currency,
    pub rate: Rate,
    pub lines: Vec<LineAmounts>,
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub total: i64,
}

fn conv(amount: i64, from: Currency, to: Currency, rate: Rate) -> Result<i64, FxError> {
    Ok(to_display(Money::new(amount, from), to, rate)?.amount_minor())
}

/// Converts each line (in `from`, the settlement currency `rate` is quoted against) to
/// `display`; a discount never ends above its converted price.
pub fn convert(
    lines: &[LineAmounts],
    from: Currency,
    display: Currency,
    rate: Rate,
) -> Result<Displayed, FxError> {
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        let price = conv(l.price, from, display, rate)?;
        let discount = conv(l.discount, from, display, rate)?.min(price);
        let tax = conv(l.tax, from, display, rate)?;
        out.push(LineAmounts {
            price,
            discount,
            tax,
        });
    }
    let sum = |f: fn(&LineAmounts) -> i64| {
        out.iter()
            .try_fold(0i64, |a, l| a.checked_add(f(l)))
            .ok_or(FxError::Overflow)
    };
    let (subtotal, discount, tax) = (sum(|l| l.price)?, sum(|l| l.discount)?, sum(|l| l.tax)?);
    let total = subtotal
        .checked_sub(discount)
        .and_then(|t| t.checked_add(tax))
        .ok_or(FxError::Overflow)?;
    Ok(Displayed {
        currency: display,
        rate,
        lines: out,
        subtotal,
        discount,
        tax,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::discount::{self, Applicable, Discount, DiscountKind, DiscountLine, Uses};
    use crate::domain::tax::tax_on;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn cur(c: &str) -> Currency {
        Currency::parse(c).unwrap()
    }

    #[test]
    fn a_zero_decimal_currency_rounds_half_even_per_line() {
        let lines = [
            LineAmounts {
                price: 4900,
                discount: 490,
                tax: 320,
            },
            LineAmounts {
                price: 1,
                discount: 0,
                tax: 0,
            },
        ];
        let jpy = convert(
            &lines,
            Currency::USD,
            cur("JPY"),
            Rate::from_str("151.5").unwrap(),
        )
        .unwrap();
        // 49.00 × 151.5 = 7423.5 → 7424; 4.90 × 151.5 = 742.35 → 742; 3.20 × 151.5 = 484.8 → 485
        assert_eq!(
            jpy.lines[0],
            LineAmounts {
                price: 7424,
                discount: 742,
                tax: 485
            }
        );
        // 0.01 × 151.5 = 1.515 → 2
        assert_eq!(jpy.lines[1].price, 2);
        assert_eq!(jpy.total, 7424 - 742 + 485 + 2);
        let same = convert(&lines, Currency::USD, Currency::USD, Rate::ONE).unwrap();
        assert_eq!(same.lines, lines.to_vec());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// Random carts through the whole pricing: a percentage or fixed code, a manual tax rate
        /// on what is left, then a display currency (a zero-decimal one among them). The order's
        /// total is always Σ lines − discounts + tax exactly, in the cart and in the display
        /// currency; every per-line split sums to its whole; and the display total converted
        /// back never drifts beyond the documented rounding.
        #[test]
        fn carts_price_exactly_in_every_currency(
            prices in proptest::collection::vec(1i64..2_000_000, 1..=10),
            is_fixed in any::<bool>(),
            percent in 0i64..=100,
            fixed in 1i64..3_000_000,
            rate_micros in 0u32..=250_000,
            display in 0usize..3,
            fx_milli in 1u32..200_000,
        ) {
            let now = chrono::Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
            let lines: Vec<DiscountLine> = prices.iter().map(|p| DiscountLine {
                item_type: "course".into(), item_id: uuid::Uuid::now_v7(),
                department_id: "cs".into(), price: *p,
            }).collect();
            let code = Discount {
                code: "P".into(), department_id: None,
                kind: if is_fixed { DiscountKind::Fixed } else { DiscountKind::Percentage },
                value: if is_fixed { fixed } else { percent },
                currency: Some(Currency::USD), max_uses: None, max_uses_per_user: None,
                valid_from: now - chrono::Duration::days(1), valid_until: None, is_active: true,
                applicable_to: Applicable::All, course_ids: vec![], program_ids: vec![],
                min_purchase: None,
            };
            let off = discount::apply(&code, &lines, Currency::USD, Uses::default(), now).unwrap();
            let rate = Decimal::new(i64::from(rate_micros), 6);
            let amounts: Vec<LineAmounts> = lines
                .iter()
                .zip(&off.per_line)
                .map(|(l, d)| LineAmounts {
                    price: l.price, discount: *d, tax: tax_on(l.price - d, rate).unwrap(),
                })
                .collect();
            let subtotal: i64 = prices.iter().sum();
            let tax: i64 = amounts.iter().map(|a| a.tax).sum();
            let total: i64 = amounts.iter().map(|a| a.total().unwrap()).sum();
            prop_assert_eq!(off.per_line.iter().sum::<i64>(), off.total);
            prop_assert_eq!(total, subtotal - off.total + tax);
            prop_assert!(amounts.iter().all(|a| a.total().unwrap() >= 0));

            let code_of = ["EUR", "JPY", "GBP"][display];
            let fx = Rate::new(Decimal::new(i64::from(fx_milli), 3)).unwrap();
            let d = convert(&amounts, Currency::USD, cur(code_of), fx).unwrap();
            prop_assert_eq!(d.total, d.subtotal - d.discount + d.tax);
            prop_assert_eq!(d.total, d.lines.iter().map(|l| l.total().unwrap()).sum::<i64>());
            prop_assert!(d.lines.iter().all(|l| l.discount <= l.price && l.total().unwrap() >= 0));
            // Back in USD cents: |display total / rate − total| ≤ (3n × ½ display unit) / rate + ½.
            let scale = Decimal::from(10i64.pow(u32::from(2 - cur(code_of).exponent().min(2))));
            let back = Decimal::from(d.total) * scale / fx.value();
            let half = Decimal::new(5, 1);
            let bound = Decimal::from(3 * prices.len() as i64) * half * scale / fx.value() + half;
            prop_assert!((back - Decimal::from(total)).abs() <= bound,
                "back {} vs {} (bound {})", back, total, bound);
        }
    }
}
