//! Revenue split shares (platform / creator / instructor) in basis points.

use crate::money::{Money, MoneyError};
use serde::{Deserialize, Serialize};

/// One whole in basis points.
pub const WHOLE_BPS: u32 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("revenue split shares must sum to 1 (they sum to {0}/10000)")]
    NotWhole(u32),
}

/// How a course's net revenue is shared. Private fields: a value always sums to one whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevenueSplit {
    platform_bps: u32,
    creator_bps: u32,
    instructor_bps: u32,
}

impl Default for RevenueSplit {
    /// The platform default: 30% platform, 40% content creator, 30% instructor.
    fn default() -> Self {
        RevenueSplit {
            platform_bps: 3_000,
            creator_bps: 4_000,
            instructor_bps: 3_000,
        }
    }
}

impl RevenueSplit {
    pub fn new(
        platform_bps: u32,
        creator_bps: u32,
        instructor_bps: u32,
    ) -> Result<Self, SplitError> {
        let sum = platform_bps
            .saturating_add(creator_bps)
            .saturating_add(instructor_bps);
        if sum != WHOLE_BPS {
            return Err(SplitError::NotWhole(sum));
        }
        Ok(RevenueSplit {
            platform_bps,
            creator_bps,
            instructor_bps,
        })
    }

    pub fn platform_bps(&self) -> u32 {
        self.platform_bps
    }
    pub fn creator_bps(&self) -> u32 {
        self.creator_bps
    }
    pub fn instructor_bps(&self) -> u32 {
        self.instructor_bps
    }

    /// Splits `net` into (platform, creator, instructor) amounts that sum exactly to `net`.
    pub fn apply(&self, net: &Money) -> Result<[Money; 3], MoneyError> {
        let parts = net.allocate(&[
            u64::from(self.platform_bps),
            u64::from(self.creator_bps),
            u64::from(self.instructor_bps),
        ])?;
        match parts.as_slice() {
            [p, c, i] => Ok([*p, *c, *i]),
            _ => Err(MoneyError::NoWeights),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use proptest::prelude::*;

    #[test]
    fn rejects_shares_that_do_not_sum_to_one() {
        assert_eq!(
            RevenueSplit::new(3000, 4000, 2000),
            Err(SplitError::NotWhole(9000))
        );
        assert!(RevenueSplit::new(0, 10_000, 0).is_ok());
    }

    proptest! {
        #[test]
        fn split_sums_exactly(
            net in -10_000_000i64..10_000_000,
            p in 0u32..=10_000,
            c in 0u32..=10_000,
        ) {
            prop_assume!(p + c <= 10_000);
            let split = RevenueSplit::new(p, c, 10_000 - p - c)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let m = Money::new(net, Currency::USD);
            let [a, b, d] = split.apply(&m).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(a.amount_minor() + b.amount_minor() + d.amount_minor(), net);
        }
    }
}
