//! Prices: their types and billing intervals, what a price is for, the rules a new price keeps,
//! and when a price is in effect.

use super::CatalogError;
use super::rules::window;
use crate::model::PriceInput;
use chrono::{DateTime, Utc};
use kernel::{Currency, Window};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PriceType {
    OneTime,
    Subscription,
    Free,
}

impl PriceType {
    pub fn as_str(&self) -> &'static str {
        match self {
            PriceType::OneTime => "one-time",
            PriceType::Subscription => "subscription",
            PriceType::Free => "free",
        }
    }
    pub fn parse(s: &str) -> Option<PriceType> {
        match s {
            "one-time" => Some(PriceType::OneTime),
            "subscription" => Some(PriceType::Subscription),
            "free" => Some(PriceType::Free),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Monthly,
    Quarterly,
    Annual,
}

impl Interval {
    pub fn as_str(&self) -> &'static str {
        match self {
            Interval::Monthly => "monthly",
            Interval::Quarterly => "quarterly",
            Interval::Annual => "annual",
        }
    }
    pub fn parse(s: &str) -> Option<Interval> {
        match s {
            "monthly" => Some(Interval::Monthly),
            "quarterly" => Some(Interval::Quarterly),
            "annual" => Some(Interval::Annual),
            _ => None,
        }
    }
}

/// What a price is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceTarget {
    Course(Uuid),
    Program(Uuid),
    /// A subscription plan of this department.
    Department(String),
}

impl PriceTarget {
    /// The `(course_id, program_id)` columns of a price for this target.
    pub fn columns(&self) -> (Option<Uuid>, Option<Uuid>) {
        match self {
            PriceTarget::Course(c) => (Some(*c), None),
            PriceTarget::Program(p) => (None, Some(*p)),
            PriceTarget::Department(_) => (None, None),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ValidPrice {
    pub target: PriceTarget,
    /// The department the request named, if it named one (it must own the target).
    pub department_id: Option<String>,
    pub price_type: PriceType,
    pub currency: Currency,
    pub amount_minor: i64,
    pub interval: Option<Interval>,
    pub trial_days: Option<u32>,
    pub effective_from: DateTime<Utc>,
    pub effective_until: Option<DateTime<Utc>>,
}

/// Longest free trial of a plan.
pub const MAX_TRIAL_DAYS: u32 = 365;

impl ValidPrice {
    /// The price `input` asks for; it takes effect at `now` unless it says when.
    pub fn parse(input: PriceInput, now: DateTime<Utc>) -> Result<ValidPrice, CatalogError> {
        use CatalogError::{InvalidPrice, InvalidSubscription, InvalidTarget};
        let currency =
            Currency::parse(&input.currency).map_err(|e| CatalogError::UnknownCurrency {
                field: Some("currency"),
                detail: e.to_string(),
            })?;
        if input.base_price < 0 {
            return Err(CatalogError::NegativePrice);
        }
        let department_id = input
            .department_id
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_string);
        let item = match (input.course_id, input.program_id) {
            (Some(_), Some(_)) => {
                return Err(InvalidTarget {
                    field: "programId",
                    detail: "a price is for a course or a program, not both",
                });
            }
            (Some(c), None) => Some(PriceTarget::Course(c)),
            (None, Some(p)) => Some(PriceTarget::Program(p)),
            (None, None) => None,
        };
        let target = match (input.price_type, item) {
            (PriceType::Subscription, None) => {
                if input.subscription.is_none() {
                    return Err(InvalidSubscription {
                        field: "subscription",
                        detail: "a subscription price needs `subscription.interval`",
                    });
                }
                let Some(department) = department_id.clone() else {
                    return Err(InvalidTarget {
                        field: "departmentId",
                        detail: "a department plan needs `departmentId`",
                    });
                };
                if input.base_price == 0 {
                    return Err(InvalidPrice(
                        "a subscription plan must cost something; use a trial",
                    ));
                }
                PriceTarget::Department(department)
            }
            (PriceType::Subscription, Some(_)) => {
                return Err(InvalidTarget {
                    field: "priceType",
                    detail: "subscription prices are department plans: omit courseId and programId",
                });
            }
            (_, None) => {
                return Err(InvalidTarget {
                    field: "courseId",
                    detail: "a one-time or free price needs courseId or programId",
                });
            }
            (PriceType::Free, Some(_)) if input.base_price != 0 => {
                return Err(InvalidPrice("a free price has basePrice 0"));
            }
            (PriceType::OneTime, Some(_)) if input.base_price == 0 => {
                return Err(InvalidPrice(
                    "a one-time price must be positive; use priceType free",
                ));
            }
            (_, Some(item)) => item,
        };
        if input.price_type != PriceType::Subscription && input.subscription.is_some() {
            return Err(InvalidSubscription {
                field: "subscription",
                detail: "only subscription prices take `subscription`",
            });
        }
        if let Some(t) = input.subscription.as_ref().and_then(|s| s.trial_days)
            && t > MAX_TRIAL_DAYS
        {
            return Err(InvalidSubscription {
                field: "subscription.trialDays",
                detail: "trialDays must be at most 365",
            });
        }
        let effective_from = input.effective_from.unwrap_or(now);
        window(
            Some(effective_from),
            input.effective_until,
            "effectiveUntil",
        )?;
        Ok(ValidPrice {
            target,
            department_id,
            price_type: input.price_type,
            currency,
            amount_minor: input.base_price,
            interval: input.subscription.as_ref().map(|s| s.interval),
            trial_days: input.subscription.as_ref().and_then(|s| s.trial_days),
            effective_from,
            effective_until: input.effective_until,
        })
    }
}

/// Whether a price applies at `now`: active, and `now` inside its effective window.
pub fn in_effect(active: bool, effective: Window, now: DateTime<Utc>) -> bool {
    active && effective.contains(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SubscriptionTerms;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 3, 1, 12, 0, 0).single().unwrap()
    }

    fn base() -> PriceInput {
        PriceInput {
            course_id: Some(kernel::new_id()),
            program_id: None,
            department_id: None,
            price_type: PriceType::OneTime,
            currency: "USD".into(),
            base_price: 4900,
            subscription: None,
            effective_from: None,
            effective_until: None,
        }
    }

    fn code(input: PriceInput) -> (&'static str, Option<&'static str>) {
        let e = ValidPrice::parse(input, now()).unwrap_err();
        (e.code(), e.field())
    }

    fn plan() -> PriceInput {
        PriceInput {
            course_id: None,
            department_id: Some(" d1 ".into()),
            price_type: PriceType::Subscription,
            subscription: Some(SubscriptionTerms {
                interval: Interval::Monthly,
                trial_days: Some(14),
            }),
            ..base()
        }
    }

    #[test]
    fn price_rules() {
        let now = now();
        let ok = ValidPrice::parse(base(), now).unwrap();
        assert_eq!(ok.effective_from, now);
        let neg = PriceInput {
            base_price: -1,
            ..base()
        };
        assert_eq!(code(neg).0, "negative_price");
        let cur = PriceInput {
            currency: "ABC".into(),
            ..base()
        };
        assert_eq!(code(cur), ("unknown_currency", Some("currency")));
        let win = PriceInput {
            effective_from: Some(now),
            effective_until: Some(now - chrono::Duration::days(1)),
            ..base()
        };
        assert_eq!(code(win), ("invalid_window", Some("effectiveUntil")));
        assert_eq!(
            ValidPrice::parse(plan(), now).unwrap().target,
            PriceTarget::Department("d1".into())
        );
    }

    #[test]
    fn each_target_takes_its_own_kind_of_price() {
        let both = PriceInput {
            program_id: Some(kernel::new_id()),
            ..base()
        };
        assert_eq!(code(both), ("invalid_target", Some("programId")));
        let course_plan = PriceInput {
            course_id: Some(kernel::new_id()),
            ..plan()
        };
        assert_eq!(code(course_plan), ("invalid_target", Some("priceType")));
        let nowhere = PriceInput {
            course_id: None,
            ..base()
        };
        assert_eq!(code(nowhere), ("invalid_target", Some("courseId")));
        let no_department = PriceInput {
            department_id: Some("  ".into()),
            ..plan()
        };
        assert_eq!(
            code(no_department),
            ("invalid_target", Some("departmentId"))
        );
    }

    #[test]
    fn amounts_fit_the_price_type() {
        let free = PriceInput {
            price_type: PriceType::Free,
            ..base()
        };
        assert_eq!(code(free), ("invalid_price", Some("basePrice")));
        let zero = PriceInput {
            base_price: 0,
            ..base()
        };
        assert_eq!(code(zero).0, "invalid_price");
        let free_plan = PriceInput {
            base_price: 0,
            ..plan()
        };
        assert_eq!(code(free_plan).0, "invalid_price");
        let really_free = PriceInput {
            price_type: PriceType::Free,
            base_price: 0,
            ..base()
        };
        assert!(ValidPrice::parse(really_free, now()).is_ok());
    }

    #[test]
    fn subscription_terms_belong_to_plans() {
        let no_terms = PriceInput {
            subscription: None,
            ..plan()
        };
        assert_eq!(
            code(no_terms),
            ("invalid_subscription", Some("subscription"))
        );
        let terms_on_course = PriceInput {
            subscription: plan().subscription,
            ..base()
        };
        assert_eq!(
            code(terms_on_course),
            ("invalid_subscription", Some("subscription"))
        );
        let long_trial = PriceInput {
            subscription: Some(SubscriptionTerms {
                interval: Interval::Annual,
                trial_days: Some(366),
            }),
            ..plan()
        };
        assert_eq!(
            code(long_trial),
            ("invalid_subscription", Some("subscription.trialDays"))
        );
        let p = ValidPrice::parse(plan(), now()).unwrap();
        assert_eq!(
            (p.interval, p.trial_days, p.department_id.as_deref()),
            (Some(Interval::Monthly), Some(14), Some("d1"))
        );
    }

    #[test]
    fn in_effect_is_the_half_open_window() {
        let now = now();
        let hour = chrono::Duration::hours(1);
        let w = Window::new(Some(now), Some(now + hour)).unwrap();
        assert!(in_effect(true, w, now));
        assert!(!in_effect(false, w, now));
        assert!(!in_effect(true, w, now + hour));
        assert!(!in_effect(true, w, now - hour));
    }

    #[test]
    fn types_and_intervals_round_trip() {
        for t in [PriceType::OneTime, PriceType::Subscription, PriceType::Free] {
            assert_eq!(PriceType::parse(t.as_str()), Some(t));
        }
        for i in [Interval::Monthly, Interval::Quarterly, Interval::Annual] {
            assert_eq!(Interval::parse(i.as_str()), Some(i));
        }
        assert_eq!(PriceType::parse("one_time"), None);
        assert_eq!(Interval::parse("weekly"), None);
    }
}
