//! Checkout as a pipeline of pure steps; the route only fetches, calls these in order, and
//! persists the plan:
//!
//! ```text
//!  lines ──reprice(catalog now)──▶ unchanged? ──owned?──▶ plan(currency, rate) ──▶ OrderPlan
//!            │ changed: 409 price_changed       │ 422 already_owned   │ 422 mixed_currency / no_exchange_rate
//! ```

use super::CartOrderError;
use super::display::{Displayed, LineAmounts};
use crate::model::{CatalogItem, CatalogPrice};
use chrono::{DateTime, Utc};
use kernel::{Currency, Money, Rate};
use uuid::Uuid;

/// The item can be bought now, or why not.
pub fn sellable(item: &CatalogItem) -> Result<&CatalogPrice, CartOrderError> {
    if !item.published || !item.available {
        return Err(CartOrderError::ItemUnavailable(format!(
            "`{}` is not available for purchase",
            item.name
        )));
    }
    if item.item_type == "program" && item.courses.is_empty() {
        return Err(CartOrderError::ItemUnavailable(format!(
            "`{}` has no courses",
            item.name
        )));
    }
    item.price.as_ref().ok_or_else(|| {
        CartOrderError::ItemUnavailable(format!("`{}` has no current price", item.name))
    })
}

/// Splits a line's `amount` over the item's courses, weighted by their own prices (equally when
/// any is unknown), so the parts sum exactly to the line. An amount that cannot be allocated is
/// an error, never a row of zeros.
pub fn allocate(item: &CatalogItem, amount: i64) -> Result<Vec<i64>, kernel::MoneyError> {
    if item.courses.is_empty() {
        return Ok(vec![]);
    }
    let weights: Vec<u64> = match item
        .courses
        .iter()
        .map(|c| c.own_price.filter(|p| *p > 0))
        .collect::<Option<Vec<_>>>()
    {
        Some(prices) => prices.into_iter().map(|p| p.unsigned_abs()).collect(),
        None => vec![1; item.courses.len()],
    };
    kernel::allocate(amount, &weights)
}

/// A cart line as checkout sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PricedLine {
    pub id: Uuid,
    pub name: String,
    pub price: Money,
}

/// A line whose catalog price moved since it was added.
#[derive(Debug, Clone, PartialEq)]
pub struct Repriced {
    pub line: Uuid,
    pub item: CatalogItem,
    pub price: CatalogPrice,
}

/// Step 1: each line against what the catalog sells now (`None`: no longer sold). Returns the
/// lines whose price or currency moved; an unsellable item refuses the checkout.
pub fn reprice(
    lines: &[PricedLine],
    fresh: Vec<Option<CatalogItem>>,
) -> Result<Vec<Repriced>, CartOrderError> {
    let mut changed = Vec::new();
    for (line, item) in lines.iter().zip(fresh) {
        let item = item.ok_or_else(|| {
            CartOrderError::ItemUnavailable(format!("`{}` is no longer sold", line.name))
        })?;
        let price = sellable(&item)?.clone();
        if price.amount != line.price.amount_minor()
            || price.currency != line.price.currency().code()
        {
            changed.push(Repriced {
                line: line.id,
                item,
                price,
            });
        }
    }
    Ok(changed)
}

/// The order's money, frozen at checkout (ADR-0003).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPlan {
    /// Each line's price in the order's currency, in the cart's order.
    pub line_prices: Vec<i64>,
    pub subtotal: Money,
    /// What the discount code takes off, per line (in the cart's order) and in all.
    pub line_discounts: Vec<i64>,
    pub discount: Money,
    /// The tax on each line (after its discount) and in all; zero until [`OrderPlan::with_tax`].
    pub line_taxes: Vec<i64>,
    pub tax: Money,
    pub total: Money,
    pub settlement_total: Money,
    pub rate: Rate,
    /// Set when the order is in a display currency: each line in the settlement currency, and
    /// until when the quote holds.
    pub settlement_lines: Option<Vec<LineAmounts>>,
    pub quote_expires_at: Option<DateTime<Utc>>,
}

impl OrderPlan {
    /// Each line's price, discount and tax in the order's currency.
    pub fn lines(&self) -> Vec<LineAmounts> {
        self.line_prices
            .iter()
            .zip(&self.line_discounts)
            .zip(&self.line_taxes)
            .map(|((p, d), t)| LineAmounts {
                price: *p,
                discount: *d,
                tax: *t,
            })
            .collect()
    }

    /// The plan (in the settlement currency) shown and charged in `display`'s currency: the
    /// converted lines become the order's, the settlement total stays exactly what it was, and
    /// the quote holds until `expires_at`.
    pub fn in_display(
        self,
        display: Displayed,
        expires_at: DateTime<Utc>,
    ) -> Result<OrderPlan, CartOrderError> {
        if self.subtotal.currency() != self.settlement_total.currency() {
            return Err(CartOrderError::Corrupt(
                "a display currency needs a cart in the settlement currency".into(),
            ));
        }
        let base = self.lines();
        let c = display.currency;
        Ok(OrderPlan {
            line_prices: display.lines.iter().map(|l| l.price).collect(),
            line_discounts: display.lines.iter().map(|l| l.discount).collect(),
            line_taxes: display.lines.iter().map(|l| l.tax).collect(),
            subtotal: Money::new(display.subtotal, c),
            discount: Money::new(display.discount, c),
            tax: Money::new(display.tax, c),
            total: Money::new(display.total, c),
            settlement_total: self.total,
            rate: display.rate,
            settlement_lines: Some(base),
            quote_expires_at: Some(expires_at),
        })
    }

    /// The plan with the quoted tax of each line added: total = subtotal − discount + tax, and
    /// the settlement total converted again from it.
    pub fn with_tax(self, line_taxes: Vec<i64>) -> Result<OrderPlan, CartOrderError> {
        if line_taxes.len() != self.line_discounts.len() || line_taxes.iter().any(|t| *t < 0) {
            return Err(CartOrderError::Corrupt(
                "one non-negative tax per line".into(),
            ));
        }
        let currency = self.subtotal.currency();
        let tax = Money::new(
            line_taxes
                .iter()
                .try_fold(0i64, |a, t| a.checked_add(*t))
                .ok_or_else(|| CartOrderError::Corrupt("tax overflow".into()))?,
            currency,
        );
        let total = self
            .subtotal
            .checked_sub(&self.discount)
            .and_then(|t| t.checked_add(&tax))
            .map_err(|e| CartOrderError::Corrupt(format!("order total: {e}")))?;
        let settlement_total =
            kernel::fx::to_settlement(total, self.settlement_total.currency(), self.rate)
                .map_err(|e| CartOrderError::Corrupt(format!("settlement conversion: {e}")))?;
        Ok(OrderPlan {
            line_taxes,
            tax,
            total,
            settlement_total,
            ..self
        })
    }
}

/// The cart's currency: every line must share it.
pub fn cart_currency(lines: &[PricedLine]) -> Result<Currency, CartOrderError> {
    let first = lines
        .first()
        .ok_or(CartOrderError::EmptyCart)?
        .price
        .currency();
    if let Some(other) = lines.iter().find(|l| l.price.currency() != first) {
        return Err(CartOrderError::MixedCurrency {
            cart: first.code().to_string(),
            item: other.name.clone(),
            price: other.price.currency().code().to_string(),
        });
    }
    Ok(first)
}

/// Whether checkout must look up a rate: only when the cart is not in the settlement currency.
pub fn needs_rate(display: Currency, settlement: Currency) -> bool {
    display != settlement
}

/// Step 3: the order's amounts: the lines less their `discounts` (one per line, none for no
/// code). `rate` is display units per settlement unit (1 when the currencies agree).
pub fn plan(
    lines: &[PricedLine],
    discounts: Option<&[i64]>,
    settlement: Currency,
    rate: Rate,
) -> Result<OrderPlan, CartOrderError> {
    let currency = cart_currency(lines)?;
    let prices: Vec<Money> = lines.iter().map(|l| l.price).collect();
    let subtotal = Money::sum(currency, &prices)
        .map_err(|e| CartOrderError::Corrupt(format!("cart subtotal: {e}")))?;
    let line_discounts = match discounts {
        None => vec![0; lines.len()],
        Some(d) if d.len() == lines.len() => d.to_vec(),
        Some(_) => return Err(CartOrderError::Corrupt("one discount per line".into())),
    };
    if let Some(l) = lines
        .iter()
        .zip(&line_discounts)
        .find(|(l, d)| **d < 0 || **d > l.price.amount_minor())
    {
        return Err(CartOrderError::Corrupt(format!(
            "a discount beyond the price of `{}`",
            l.0.name
        )));
    }
    let discount = Money::new(
        line_discounts
            .iter()
            .try_fold(0i64, |a, d| a.checked_add(*d))
            .ok_or_else(|| CartOrderError::Corrupt("discount overflow".into()))?,
        currency,
    );
    let total = subtotal
        .checked_sub(&discount)
        .map_err(|e| CartOrderError::Corrupt(format!("cart total: {e}")))?;
    let rate = if needs_rate(currency, settlement) {
        rate
    } else {
        Rate::ONE
    };
    let settlement_total = kernel::fx::to_settlement(total, settlement, rate)
        .map_err(|e| CartOrderError::Corrupt(format!("settlement conversion: {e}")))?;
    Ok(OrderPlan {
        line_prices: prices.iter().map(Money::amount_minor).collect(),
        settlement_lines: None,
        quote_expires_at: None,
        subtotal,
        line_taxes: vec![0; lines.len()],
        tax: Money::zero(currency),
        line_discounts,
        discount,
        total,
        settlement_total,
        rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CatalogPrice;
    use std::str::FromStr;

    fn line(amount: i64, currency: &str) -> PricedLine {
        PricedLine {
            id: Uuid::now_v7(),
            name: "Rust".into(),
            price: Money::new(amount, Currency::parse(currency).unwrap()),
        }
    }

    fn item(amount: i64, currency: &str, sellable: bool) -> CatalogItem {
        CatalogItem {
            item_type: "course".into(),
            item_id: Uuid::now_v7(),
            name: "Rust".into(),
            department_id: "d".into(),
            published: sellable,
            available: true,
            price: Some(CatalogPrice {
                id: Uuid::now_v7(),
                price_type: "one_time".into(),
                currency: currency.into(),
                amount,
                interval: None,
                trial_days: None,
            }),
            courses: vec![],
        }
    }

    fn course(price: Option<i64>) -> crate::model::CatalogCourse {
        crate::model::CatalogCourse {
            course_id: Uuid::now_v7(),
            lms_course_id: "l".into(),
            title: "t".into(),
            department_id: "d".into(),
            creator_id: "c".into(),
            instructor_id: "i".into(),
            approval_required: false,
            platform_bps: 3000,
            creator_bps: 4000,
            instructor_bps: 3000,
            own_price: price,
        }
    }

    #[test]
    fn allocates_a_bundle_by_member_prices_exactly() {
        let mut program = item(14_900, "USD", true);
        program.item_type = "program".into();
        program.courses = vec![course(Some(4900)), course(Some(5900)), course(Some(7900))];
        let parts = allocate(&program, 14_900).unwrap();
        assert_eq!(parts.iter().sum::<i64>(), 14_900);
        assert!(parts[2] > parts[1] && parts[1] > parts[0]);
        program.courses[1].own_price = None;
        assert_eq!(allocate(&program, 100).unwrap(), vec![34, 33, 33]);
        program.courses.clear();
        assert_eq!(sellable(&program).unwrap_err().code(), "item_unavailable");
    }

    #[test]
    fn reprice_reports_moved_prices_and_refuses_gone_items() {
        let lines = [line(4900, "USD"), line(5900, "USD")];
        let same = reprice(
            &lines,
            vec![Some(item(4900, "USD", true)), Some(item(5900, "USD", true))],
        );
        assert_eq!(same.unwrap(), vec![]);
        let moved = reprice(
            &lines,
            vec![Some(item(4900, "USD", true)), Some(item(6900, "USD", true))],
        )
        .unwrap();
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].line, lines[1].id);
        assert_eq!(moved[0].price.amount, 6900);
        let gone = reprice(&lines, vec![Some(item(4900, "USD", true)), None]).unwrap_err();
        assert_eq!(gone.code(), "item_unavailable");
        let unpublished = reprice(
            &lines,
            vec![
                Some(item(4900, "USD", false)),
                Some(item(5900, "USD", true)),
            ],
        );
        assert_eq!(unpublished.unwrap_err().code(), "item_unavailable");
    }

    #[test]
    fn plans_amounts_exactly_and_converts_to_settlement() {
        let p = plan(
            &[line(4900, "USD"), line(5900, "USD")],
            None,
            Currency::USD,
            Rate::from_str("7").unwrap(),
        )
        .unwrap();
        assert_eq!(p.total.amount_minor(), 10_800);
        assert_eq!(
            p.settlement_total.amount_minor(),
            10_800,
            "same currency ignores the rate"
        );
        assert_eq!(p.rate, Rate::ONE);
        let eur = plan(
            &[line(8464, "EUR")],
            None,
            Currency::USD,
            Rate::from_str("0.92").unwrap(),
        )
        .unwrap();
        assert_eq!(eur.settlement_total, Money::new(9200, Currency::USD));
        let discounted = plan(
            &[line(4900, "USD"), line(5900, "USD")],
            Some(&[490, 590]),
            Currency::USD,
            Rate::ONE,
        )
        .unwrap();
        assert_eq!(discounted.discount.amount_minor(), 1080);
        assert_eq!(discounted.total.amount_minor(), 9720);
        assert_eq!(discounted.settlement_total.amount_minor(), 9720);
        let taxed = discounted.with_tax(vec![355, 0]).unwrap();
        assert_eq!(taxed.tax.amount_minor(), 355);
        assert_eq!(taxed.total.amount_minor(), 9720 + 355);
        assert_eq!(taxed.settlement_total.amount_minor(), 9720 + 355);
        let eur_taxed = eur.with_tax(vec![1608]).unwrap();
        assert_eq!(eur_taxed.total.amount_minor(), 8464 + 1608);
        assert_eq!(
            eur_taxed.settlement_total,
            Money::new(10_948, Currency::USD)
        );
        let shown = crate::domain::display::convert(
            &taxed.lines(),
            Currency::USD,
            Currency::parse("EUR").unwrap(),
            Rate::from_str("0.92").unwrap(),
        )
        .unwrap();
        let at = chrono::DateTime::UNIX_EPOCH;
        let eur_order = taxed.clone().in_display(shown, at).unwrap();
        assert_eq!(eur_order.total.currency().code(), "EUR");
        assert_eq!(
            eur_order.settlement_total, taxed.total,
            "settlement stays exact"
        );
        assert_eq!(eur_order.line_prices, vec![4508, 5428]);
        assert_eq!(eur_order.settlement_lines.as_ref().unwrap(), &taxed.lines());
        assert_eq!(eur_order.quote_expires_at, Some(at));
        let beyond = plan(&[line(100, "USD")], Some(&[101]), Currency::USD, Rate::ONE);
        assert_eq!(beyond.unwrap_err().code(), "internal");
    }

    #[test]
    fn refuses_mixed_currencies_and_empty_carts() {
        let e = plan(
            &[line(100, "USD"), line(100, "EUR")],
            None,
            Currency::USD,
            Rate::ONE,
        )
        .unwrap_err();
        assert_eq!(e.code(), "mixed_currency");
        assert_eq!(
            plan(&[], None, Currency::USD, Rate::ONE)
                .unwrap_err()
                .code(),
            "empty_cart"
        );
        let overflow = plan(
            &[line(i64::MAX, "USD"), line(1, "USD")],
            None,
            Currency::USD,
            Rate::ONE,
        );
        assert_eq!(overflow.unwrap_err().code(), "internal");
    }
}
