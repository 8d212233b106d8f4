//! Discount codes (CAT-004, CART-004): what a code is, whether it applies to a cart, and how
//! much it takes off each line. Pure: the routes fetch the code and the counters, these rules
//! decide, storage reserves.
//!
//! ```text
//!  code ──active?──▶ in its window? ──▶ cart's department/currency? ──▶ eligible lines?
//!        │ discount_inactive │ not_yet_valid / expired   │ not_found / not_applicable
//!   ──▶ subtotal ≥ minimum? ──▶ uses left (all / this learner)? ──▶ amount, allocated per line
//!        │ below_minimum          │ exhausted / already_used
//! ```
//!
//! A percentage takes `percent × eligible subtotal / 100`, rounded half to even; a fixed amount
//! takes at most the eligible subtotal. Either is split over the eligible lines by their prices
//! with the largest remainder, so the parts sum exactly to the discount and no line goes below
//! zero.

use chrono::{DateTime, Utc};
use kernel::Currency;
use uuid::Uuid;

/// The longest code a learner types.
pub const MAX_CODE_LEN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscountKind {
    /// `value` percent (0–100) of the eligible lines.
    Percentage,
    /// `value` minor units of the code's currency.
    Fixed,
}

impl DiscountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DiscountKind::Percentage => "percentage",
            DiscountKind::Fixed => "fixed",
        }
    }

    pub fn parse(s: &str) -> Option<DiscountKind> {
        match s {
            "percentage" => Some(DiscountKind::Percentage),
            "fixed" => Some(DiscountKind::Fixed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applicable {
    All,
    Courses,
    Programs,
    Subscriptions,
}

impl Applicable {
    pub fn as_str(self) -> &'static str {
        match self {
            Applicable::All => "all",
            Applicable::Courses => "courses",
            Applicable::Programs => "programs",
            Applicable::Subscriptions => "subscriptions",
        }
    }

    pub fn parse(s: &str) -> Option<Applicable> {
        match s {
            "all" => Some(Applicable::All),
            "courses" => Some(Applicable::Courses),
            "programs" => Some(Applicable::Programs),
            "subscriptions" => Some(Applicable::Subscriptions),
            _ => None,
        }
    }
}

/// A discount code's rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Discount {
    pub code: String,
    /// `None`: every department (only a billing-admin makes such a code).
    pub department_id: Option<String>,
    pub kind: DiscountKind,
    pub value: i64,
    /// Required for a fixed amount or a minimum; the code then applies to carts in it only.
    pub currency: Option<Currency>,
    pub max_uses: Option<i64>,
    pub max_uses_per_user: Option<i64>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub is_active: bool,
    pub applicable_to: Applicable,
    pub course_ids: Vec<Uuid>,
    pub program_ids: Vec<Uuid>,
    pub min_purchase: Option<i64>,
}

/// A field an admin sent that cannot make a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid {
        field,
        reason: reason.into(),
    }
}

/// The normalised form codes are unique and looked up by (codes are case-insensitive).
pub fn code_key(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

impl Discount {
    /// Every rule a code must satisfy to be saved; the first broken one names its field.
    pub fn validate(&self) -> Result<(), Invalid> {
        let code = self.code.trim();
        if code.is_empty()
            || code.len() > MAX_CODE_LEN
            || !code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                "code",
                format!("1 to {MAX_CODE_LEN} letters, digits, `-` or `_`"),
            ));
        }
        match self.kind {
            DiscountKind::Percentage if !(0..=100).contains(&self.value) => {
                return Err(invalid("discountValue", "a percentage is 0 to 100"));
            }
            DiscountKind::Fixed if self.value <= 0 => {
                return Err(invalid(
                    "discountValue",
                    "a fixed discount is a positive amount in minor units",
                ));
            }
            DiscountKind::Fixed if self.currency.is_none() => {
                return Err(invalid("currency", "a fixed discount needs its currency"));
            }
            _ => {}
        }
        if let Some(m) = self.min_purchase {
            if m < 0 {
                return Err(invalid("minPurchase", "must not be negative"));
            }
            if self.currency.is_none() {
                return Err(invalid("currency", "a minimum purchase needs its currency"));
            }
        }
        if self.max_uses.is_some_and(|m| m < 1) {
            return Err(invalid("maxUses", "at least 1 when given"));
        }
        if self.max_uses_per_user.is_some_and(|m| m < 1) {
            return Err(invalid("maxUsesPerUser", "at least 1 when given"));
        }
        if self.valid_until.is_some_and(|u| u <= self.valid_from) {
            return Err(invalid("validUntil", "must be after validFrom"));
        }
        if !self.course_ids.is_empty()
            && !matches!(self.applicable_to, Applicable::All | Applicable::Courses)
        {
            return Err(invalid(
                "courseIds",
                "only for codes applicable to `all` or `courses`",
            ));
        }
        if !self.program_ids.is_empty()
            && !matches!(self.applicable_to, Applicable::All | Applicable::Programs)
        {
            return Err(invalid(
                "programIds",
                "only for codes applicable to `all` or `programs`",
            ));
        }
        Ok(())
    }

    /// Whether the code takes anything off `line` (before dates, limits and minimum).
    pub fn covers(&self, line: &DiscountLine) -> bool {
        if self
            .department_id
            .as_ref()
            .is_some_and(|d| *d != line.department_id)
        {
            return false;
        }
        let kind_ok = match self.applicable_to {
            Applicable::All => true,
            Applicable::Courses => line.item_type == "course",
            Applicable::Programs => line.item_type == "program",
            Applicable::Subscriptions => line.item_type == "subscription",
        };
        if !kind_ok {
            return false;
        }
        if self.course_ids.is_empty() && self.program_ids.is_empty() {
            return true;
        }
        (line.item_type == "course" && self.course_ids.contains(&line.item_id))
            || (line.item_type == "program" && self.program_ids.contains(&line.item_id))
    }
}

/// A cart line as a code sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscountLine {
    pub item_type: String,
    pub item_id: Uuid,
    pub department_id: String,
    pub price: i64,
}

/// How often a code has been taken: reserved by pending orders plus used by completed ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Uses {
    pub total: i64,
    /// This learner's; `None` for an anonymous cart (checked again at checkout).
    pub by_user: Option<i64>,
}

/// Why a code does not apply, each with its stable problem code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Unknown, or of another department than anything in the cart: one answer for both, so
    /// codes cannot be probed.
    #[error("no such discount code")]
    NotFound,
    #[error("this code is no longer active")]
    Inactive,
    #[error("this code is valid from {0}")]
    NotYetValid(DateTime<Utc>),
    #[error("this code expired on {0}")]
    Expired(DateTime<Utc>),
    #[error("this code has been used as many times as it may be")]
    Exhausted,
    #[error("you have already used this code as many times as it allows")]
    AlreadyUsed,
    #[error("this code needs a cart of at least {minimum} (minor units of {currency})")]
    BelowMinimum { minimum: i64, currency: String },
    #[error("{0}")]
    NotApplicable(String),
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NotFound => "discount_not_found",
            Refusal::Inactive => "discount_inactive",
            Refusal::NotYetValid(_) => "discount_not_yet_valid",
            Refusal::Expired(_) => "discount_expired",
            Refusal::Exhausted => "discount_exhausted",
            Refusal::AlreadyUsed => "discount_already_used",
            Refusal::BelowMinimum { .. } => "discount_below_minimum",
            Refusal::NotApplicable(_) => "discount_not_applicable",
        }
    }
}

/// The code's amount on a cart: per line (0 for lines it does not cover), and their sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub per_line: Vec<i64>,
    pub total: i64,
}

/// Whether `discount` applies to a cart of `lines` in `currency` at `now`, given its `uses`,
/// and how much it takes off each line.
pub fn apply(
    discount: &Discount,
    lines: &[DiscountLine],
    currency: Currency,
    uses: Uses,
    now: DateTime<Utc>,
) -> Result<Applied, Refusal> {
    if let Some(d) = &discount.department_id
        && !lines.iter().any(|l| l.department_id == *d)
    {
        return Err(Refusal::NotFound);
    }
    if !discount.is_active {
        return Err(Refusal::Inactive);
    }
    if now < discount.valid_from {
        return Err(Refusal::NotYetValid(discount.valid_from));
    }
    if let Some(until) = discount.valid_until
        && now >= until
    {
        return Err(Refusal::Expired(until));
    }
    if let Some(c) = discount.currency
        && c != currency
    {
        return Err(Refusal::NotApplicable(format!(
            "this code is for carts in {}; this cart is in {}",
            c.code(),
            currency.code()
        )));
    }
    let covered: Vec<bool> = lines.iter().map(|l| discount.covers(l)).collect();
    if !covered.iter().any(|c| *c) {
        return Err(Refusal::NotApplicable(
            "this code does not apply to anything in the cart".into(),
        ));
    }
    let subtotal = checked_sum(lines.iter().map(|l| l.price))?;
    if let Some(min) = discount.min_purchase
        && subtotal < min
    {
        return Err(Refusal::BelowMinimum {
            minimum: min,
            currency: currency.code().to_string(),
        });
    }
    if discount.max_uses.is_some_and(|m| uses.total >= m) {
        return Err(Refusal::Exhausted);
    }
    if let (Some(m), Some(mine)) = (discount.max_uses_per_user, uses.by_user)
        && mine >= m
    {
        return Err(Refusal::AlreadyUsed);
    }
    let eligible = checked_sum(
        lines
            .iter()
            .zip(&covered)
            .filter(|(_, c)| **c)
            .map(|(l, _)| l.price),
    )?;
    let total = match discount.kind {
        DiscountKind::Percentage => kernel::mul_div_half_even(eligible, discount.value, 100)
            .map_err(|e| Refusal::NotApplicable(format!("cannot compute the discount: {e}")))?,
        DiscountKind::Fixed => discount.value.min(eligible),
    };
    let weights: Vec<u64> = lines
        .iter()
        .zip(&covered)
        .map(|(l, c)| if *c { l.price.unsigned_abs() } else { 0 })
        .collect();
    let per_line = if total == 0 {
        vec![0; lines.len()]
    } else {
        kernel::allocate(total, &weights)
            .map_err(|e| Refusal::NotApplicable(format!("cannot allocate the discount: {e}")))?
    };
    Ok(Applied { per_line, total })
}

fn checked_sum(prices: impl Iterator<Item = i64>) -> Result<i64, Refusal> {
    prices
        .into_iter()
        .try_fold(0i64, |a, p| a.checked_add(p))
        .ok_or_else(|| Refusal::NotApplicable("the cart total overflows".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 12, 0, 0).unwrap()
    }

    fn code(kind: DiscountKind, value: i64) -> Discount {
        Discount {
            code: "SUMMER-26".into(),
            department_id: Some("cs".into()),
            kind,
            value,
            currency: Some(Currency::USD),
            max_uses: None,
            max_uses_per_user: None,
            valid_from: at(1),
            valid_until: Some(at(30)),
            is_active: true,
            applicable_to: Applicable::All,
            course_ids: vec![],
            program_ids: vec![],
            min_purchase: None,
        }
    }

    fn line(kind: &str, price: i64) -> DiscountLine {
        DiscountLine {
            item_type: kind.into(),
            item_id: Uuid::now_v7(),
            department_id: "cs".into(),
            price,
        }
    }

    fn go(d: &Discount, lines: &[DiscountLine]) -> Result<Applied, Refusal> {
        apply(d, lines, Currency::USD, Uses::default(), at(15))
    }

    #[test]
    fn a_percentage_is_rounded_half_even_and_split_by_price() {
        let lines = [line("course", 4900), line("program", 11_000)];
        let a = go(&code(DiscountKind::Percentage, 15), &lines).unwrap();
        // 15 % of 159.00 = 23.85
        assert_eq!(a.total, 2385);
        assert_eq!(a.per_line.iter().sum::<i64>(), 2385);
        assert_eq!(a.per_line, vec![735, 1650]);
        let full = go(&code(DiscountKind::Percentage, 100), &lines).unwrap();
        assert_eq!(full.per_line, vec![4900, 11_000], "100 % frees every line");
    }

    #[test]
    fn a_fixed_amount_never_exceeds_what_it_covers() {
        let mut d = code(DiscountKind::Fixed, 10_000);
        d.applicable_to = Applicable::Courses;
        let lines = [line("course", 4900), line("program", 11_000)];
        let a = go(&d, &lines).unwrap();
        assert_eq!(a.per_line, vec![4900, 0]);
        d.value = 1001;
        let lines = [line("course", 1), line("course", 2), line("course", 3)];
        let a = go(&d, &lines).unwrap();
        assert_eq!(a.per_line, vec![1, 2, 3]);
    }

    #[test]
    fn each_refusal_has_its_reason() {
        let lines = [line("course", 4900)];
        let d = code(DiscountKind::Percentage, 10);
        let refusal = |d: &Discount, uses: Uses, now| {
            apply(d, &lines, Currency::USD, uses, now)
                .unwrap_err()
                .code()
        };
        let none = Uses::default();
        assert_eq!(
            refusal(&d, none, at(1) - chrono::Duration::seconds(1)),
            "discount_not_yet_valid"
        );
        assert_eq!(refusal(&d, none, at(30)), "discount_expired");
        let mut other = d.clone();
        other.department_id = Some("math".into());
        assert_eq!(refusal(&other, none, at(15)), "discount_not_found");
        let mut off = d.clone();
        off.is_active = false;
        assert_eq!(refusal(&off, none, at(15)), "discount_inactive");
        let mut limited = d.clone();
        limited.max_uses = Some(10);
        limited.max_uses_per_user = Some(1);
        let ten = Uses {
            total: 10,
            by_user: Some(0),
        };
        assert_eq!(refusal(&limited, ten, at(15)), "discount_exhausted");
        let mine = Uses {
            total: 3,
            by_user: Some(1),
        };
        assert_eq!(refusal(&limited, mine, at(15)), "discount_already_used");
        let anonymous = Uses {
            total: 3,
            by_user: None,
        };
        assert!(apply(&limited, &lines, Currency::USD, anonymous, at(15)).is_ok());
        let mut min = d.clone();
        min.min_purchase = Some(5000);
        assert_eq!(refusal(&min, none, at(15)), "discount_below_minimum");
        let mut programs = d.clone();
        programs.applicable_to = Applicable::Programs;
        assert_eq!(refusal(&programs, none, at(15)), "discount_not_applicable");
        let mut listed = d.clone();
        listed.course_ids = vec![Uuid::now_v7()];
        assert_eq!(refusal(&listed, none, at(15)), "discount_not_applicable");
        listed.course_ids.push(lines[0].item_id);
        assert!(go(&listed, &lines).is_ok());
        let eur = apply(&d, &lines, Currency::parse("EUR").unwrap(), none, at(15));
        assert_eq!(eur.unwrap_err().code(), "discount_not_applicable");
    }

    #[test]
    fn validation_names_the_field() {
        let field = |d: Discount| d.validate().unwrap_err().field;
        assert!(code(DiscountKind::Percentage, 100).validate().is_ok());
        assert_eq!(field(code(DiscountKind::Percentage, 101)), "discountValue");
        assert_eq!(field(code(DiscountKind::Percentage, -1)), "discountValue");
        assert_eq!(field(code(DiscountKind::Fixed, 0)), "discountValue");
        let mut d = code(DiscountKind::Fixed, 500);
        d.currency = None;
        assert_eq!(field(d), "currency");
        let mut d = code(DiscountKind::Percentage, 5);
        d.valid_until = Some(at(1));
        assert_eq!(field(d), "validUntil");
        let mut d = code(DiscountKind::Percentage, 5);
        d.code = "no spaces".into();
        assert_eq!(field(d), "code");
        let mut d = code(DiscountKind::Percentage, 5);
        d.max_uses = Some(0);
        assert_eq!(field(d), "maxUses");
        let mut d = code(DiscountKind::Percentage, 5);
        d.min_purchase = Some(-1);
        assert_eq!(field(d), "minPurchase");
        let mut d = code(DiscountKind::Percentage, 5);
        d.applicable_to = Applicable::Programs;
        d.course_ids = vec![Uuid::now_v7()];
        assert_eq!(field(d), "courseIds");
        assert_eq!(code_key(" summer-26 "), "SUMMER-26");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Over random carts and codes: the parts sum to the discount, no line goes below zero,
        /// only covered lines are discounted, and a percentage is its rounded share.
        #[test]
        fn discounts_are_exact_per_line(
            prices in proptest::collection::vec((0i64..5_000_000, 0usize..3), 1..10),
            percent in 0i64..=100,
            fixed in 1i64..10_000_000,
            is_fixed in any::<bool>(),
        ) {
            let kinds = ["course", "program", "subscription"];
            let lines: Vec<DiscountLine> =
                prices.iter().map(|(p, k)| line(kinds[*k], *p)).collect();
            let mut d = if is_fixed {
                code(DiscountKind::Fixed, fixed)
            } else {
                code(DiscountKind::Percentage, percent)
            };
            d.applicable_to = Applicable::Courses;
            let Ok(a) = go(&d, &lines) else {
                prop_assert!(lines.iter().all(|l| l.item_type != "course"));
                return Ok(());
            };
            prop_assert_eq!(a.per_line.iter().sum::<i64>(), a.total);
            let eligible: i64 = lines.iter().filter(|l| l.item_type == "course").map(|l| l.price).sum();
            for (l, part) in lines.iter().zip(&a.per_line) {
                prop_assert!(*part >= 0 && *part <= l.price);
                if l.item_type != "course" { prop_assert_eq!(*part, 0); }
            }
            if is_fixed {
                prop_assert_eq!(a.total, fixed.min(eligible));
            } else {
                let exact = eligible as i128 * percent as i128;
                prop_assert!((a.total as i128 * 100 - exact).abs() <= 50);
            }
        }
    }
}
