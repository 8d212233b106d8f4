//! The revenue ledger's arithmetic, pure: what every paid course line earned and for whom, and
//! what a refund takes back. Integer minor units only; every split is a largest-remainder
//! allocation, so parts always sum exactly to their whole.
//!
//! ```text
//!  captured ──by line due──▶ line ──by course share──▶ entry gross
//!  fee ──by entry gross──▶ entry fee        net = gross − fee ──by bps──▶ platform/creator/instructor
//!  (the same again in the settlement currency, from the order's settlement total and rate)
//!  refund of r on an entry with remaining R: each remaining part × r/R (the fee rounded half to
//!  even, the net split by the remaining parts); when r = R the reversal is the remainder itself
//! ```

use kernel::{MoneyError, RevenueSplit};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("the order's lines come to {lines} but {captured} was captured")]
    Mismatch { lines: i64, captured: i64 },
    #[error("line {0} has no course to credit")]
    EmptyLine(usize),
    #[error("a refund of {refund} exceeds the {remaining} left to refund")]
    OverRefund { refund: i64, remaining: i64 },
    #[error("a refund must be positive (got {0})")]
    NonPositiveRefund(i64),
    #[error("nothing was paid for these lines")]
    NothingPaid,
    #[error("amount overflow")]
    Overflow,
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// One entry's amounts in one currency: `net = gross − fee` and the three parts sum to `net`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Parts {
    pub gross: i64,
    pub fee: i64,
    pub net: i64,
    pub platform: i64,
    pub creator: i64,
    pub instructor: i64,
}

impl Parts {
    /// Whether the entry's own invariants hold.
    pub fn is_consistent(&self) -> bool {
        self.net.checked_add(self.fee) == Some(self.gross)
            && self
                .platform
                .checked_add(self.creator)
                .and_then(|s| s.checked_add(self.instructor))
                == Some(self.net)
    }

    /// `gross` less `fee`, the net split by `split`.
    pub fn from_gross(gross: i64, fee: i64, split: &RevenueSplit) -> Result<Parts, LedgerError> {
        let net = gross.checked_sub(fee).ok_or(LedgerError::Overflow)?;
        let [platform, creator, instructor] = three(
            net,
            [
                u64::from(split.platform_bps()),
                u64::from(split.creator_bps()),
                u64::from(split.instructor_bps()),
            ],
        )?;
        Ok(Parts {
            gross,
            fee,
            net,
            platform,
            creator,
            instructor,
        })
    }

    pub fn negated(&self) -> Parts {
        Parts {
            gross: -self.gross,
            fee: -self.fee,
            net: -self.net,
            platform: -self.platform,
            creator: -self.creator,
            instructor: -self.instructor,
        }
    }

    pub fn checked_add(&self, o: &Parts) -> Result<Parts, LedgerError> {
        let add = |a: i64, b: i64| a.checked_add(b).ok_or(LedgerError::Overflow);
        Ok(Parts {
            gross: add(self.gross, o.gross)?,
            fee: add(self.fee, o.fee)?,
            net: add(self.net, o.net)?,
            platform: add(self.platform, o.platform)?,
            creator: add(self.creator, o.creator)?,
            instructor: add(self.instructor, o.instructor)?,
        })
    }
}

fn three(total: i64, weights: [u64; 3]) -> Result<[i64; 3], LedgerError> {
    if total == 0 {
        return Ok([0; 3]);
    }
    match kernel::allocate(total, &weights)?.as_slice() {
        [a, b, c] => Ok([*a, *b, *c]),
        _ => Err(LedgerError::Money(MoneyError::NoWeights)),
    }
}

/// Allocation weights from amounts that may all be zero (then equal weights).
fn weights_of(amounts: impl Iterator<Item = i64>) -> Vec<u64> {
    let w: Vec<u64> = amounts.map(|a| a.unsigned_abs()).collect();
    if w.iter().all(|x| *x == 0) {
        vec![1; w.len()]
    } else {
        w
    }
}

/// A course credited by an order line.
#[derive(Debug, Clone)]
pub struct CourseShare {
    /// The course's share of its line's price (the catalog's allocation); its weight in the line.
    pub allocated: i64,
    pub split: RevenueSplit,
}

/// One paid line: what the learner owes for it (price − discount + tax) and its courses.
#[derive(Debug, Clone)]
pub struct PaidLine {
    pub due: i64,
    pub courses: Vec<CourseShare>,
}

/// What was captured for the order, in the order's currency and in the settlement currency.
#[derive(Debug, Clone, Copy)]
pub struct Capture {
    pub captured: i64,
    pub fee: i64,
    pub settlement_captured: i64,
    pub settlement_fee: i64,
}

/// The amounts of each entry (per line, per course, in order), in the order's and the
/// settlement currency. Σ gross = captured and Σ fee = fee in both currencies.
pub fn record(
    capture: &Capture,
    lines: &[PaidLine],
) -> Result<Vec<Vec<(Parts, Parts)>>, LedgerError> {
    let total = lines
        .iter()
        .try_fold(0i64, |acc, l| acc.checked_add(l.due))
        .ok_or(LedgerError::Overflow)?;
    if total != capture.captured {
        return Err(LedgerError::Mismatch {
            lines: total,
            captured: capture.captured,
        });
    }
    if total <= 0 {
        return Err(LedgerError::NothingPaid);
    }
    // Entry gross in the order currency: each line's due over its courses.
    let mut gross: Vec<Vec<i64>> = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        if l.courses.is_empty() {
            return Err(LedgerError::EmptyLine(i));
        }
        let w = weights_of(l.courses.iter().map(|c| c.allocated));
        gross.push(kernel::allocate(l.due, &w)?);
    }
    let flat: Vec<i64> = gross.iter().flatten().copied().collect();
    let w = weights_of(flat.iter().copied());
    let fees = kernel::allocate(capture.fee, &w)?;
    let s_gross = kernel::allocate(capture.settlement_captured, &w)?;
    let s_fees = kernel::allocate(capture.settlement_fee, &w)?;
    let mut k = 0usize;
    let mut out = Vec::with_capacity(lines.len());
    for (l, g) in lines.iter().zip(&gross) {
        let mut entries = Vec::with_capacity(g.len());
        for (c, gross) in l.courses.iter().zip(g) {
            let (fee, sg, sf) = match (fees.get(k), s_gross.get(k), s_fees.get(k)) {
                (Some(f), Some(sg), Some(sf)) => (*f, *sg, *sf),
                _ => return Err(LedgerError::Overflow),
            };
            entries.push((
                Parts::from_gross(*gross, fee, &c.split)?,
                Parts::from_gross(sg, sf, &c.split)?,
            ));
            k += 1;
        }
        out.push(entries);
    }
    Ok(out)
}

/// The part of `remaining` that a refund of `refund` (order currency) over `remaining_gross`
/// takes back, as positive amounts: the gross at `refund / remaining_gross`, the fee in the same
/// proportion, the net split over the remaining parts. A refund of everything left returns
/// `remaining` itself, so a full refund nets every party to exactly zero.
pub fn take_back(remaining: &Parts, gross: i64, refund_of: i64) -> Result<Parts, LedgerError> {
    let g = kernel::mul_div_half_even(remaining.gross, gross, refund_of)?;
    let fee = kernel::mul_div_half_even(remaining.fee, gross, refund_of)?;
    let net = g.checked_sub(fee).ok_or(LedgerError::Overflow)?;
    let [platform, creator, instructor] = if gross == refund_of {
        [remaining.platform, remaining.creator, remaining.instructor]
    } else {
        three(
            net,
            [
                remaining.platform.unsigned_abs(),
                remaining.creator.unsigned_abs(),
                remaining.instructor.unsigned_abs(),
            ],
        )?
    };
    Ok(Parts {
        gross: g,
        fee,
        net,
        platform,
        creator,
        instructor,
    })
}

/// An entry as the refund sees it: what it recorded, less what earlier reversals took back.
#[derive(Debug, Clone, Copy)]
pub struct Refundable {
    pub remaining: Parts,
    pub settlement_remaining: Parts,
}

/// Splits a refund of `amount` on a line over the line's entries (by their remaining gross) and
/// returns each entry's reversal (negative amounts) in both currencies.
pub fn reverse(amount: i64, entries: &[Refundable]) -> Result<Vec<(Parts, Parts)>, LedgerError> {
    if amount <= 0 {
        return Err(LedgerError::NonPositiveRefund(amount));
    }
    let left = entries
        .iter()
        .try_fold(0i64, |acc, e| acc.checked_add(e.remaining.gross))
        .ok_or(LedgerError::Overflow)?;
    if amount > left {
        return Err(LedgerError::OverRefund {
            refund: amount,
            remaining: left,
        });
    }
    let w = weights_of(entries.iter().map(|e| e.remaining.gross));
    let shares = kernel::allocate(amount, &w)?;
    entries
        .iter()
        .zip(shares)
        .map(|(e, r)| {
            if r == 0 {
                return Ok((Parts::default(), Parts::default()));
            }
            let own = take_back(&e.remaining, r, e.remaining.gross)?;
            let settle = take_back(&e.settlement_remaining, r, e.remaining.gross)?;
            Ok((own.negated(), settle.negated()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split() -> RevenueSplit {
        RevenueSplit::default()
    }

    #[test]
    fn one_line_is_split_to_the_cent() {
        let c = Capture {
            captured: 1001,
            fee: 59,
            settlement_captured: 1001,
            settlement_fee: 59,
        };
        let lines = [PaidLine {
            due: 1001,
            courses: vec![CourseShare {
                allocated: 1001,
                split: split(),
            }],
        }];
        let e = record(&c, &lines).unwrap();
        let (p, s) = e[0][0];
        assert_eq!(p, s);
        assert_eq!((p.gross, p.fee, p.net), (1001, 59, 942));
        // 942 × 30/40/30 %: 282.6, 376.8, 282.6 → the largest remainders take the two cents.
        assert_eq!((p.platform, p.creator, p.instructor), (283, 377, 282));
        assert!(p.is_consistent());
    }

    #[test]
    fn lines_that_do_not_make_the_capture_are_refused() {
        let c = Capture {
            captured: 1000,
            fee: 0,
            settlement_captured: 1000,
            settlement_fee: 0,
        };
        let lines = [PaidLine {
            due: 999,
            courses: vec![CourseShare {
                allocated: 999,
                split: split(),
            }],
        }];
        assert_eq!(
            record(&c, &lines),
            Err(LedgerError::Mismatch {
                lines: 999,
                captured: 1000
            })
        );
    }

    #[test]
    fn a_refund_beyond_what_is_left_is_refused() {
        let p = Parts::from_gross(500, 20, &split()).unwrap();
        let e = [Refundable {
            remaining: p,
            settlement_remaining: p,
        }];
        assert!(matches!(
            reverse(501, &e),
            Err(LedgerError::OverRefund { .. })
        ));
        assert!(matches!(
            reverse(0, &e),
            Err(LedgerError::NonPositiveRefund(0))
        ));
        let all = reverse(500, &e).unwrap();
        assert_eq!(all[0].0, p.negated());
    }

    fn bps() -> impl Strategy<Value = RevenueSplit> {
        (0u32..=10_000, 0u32..=10_000).prop_filter_map("sum ≤ 1", |(a, b)| {
            (a + b <= 10_000)
                .then(|| RevenueSplit::new(a, b, 10_000 - a - b).ok())
                .flatten()
        })
    }

    fn line() -> impl Strategy<Value = PaidLine> {
        (
            1i64..200_000,
            0i64..5_000,
            0i64..3_000,
            prop::collection::vec((0i64..50_000, bps()), 1..4),
        )
            .prop_map(|(price, discount, tax, courses)| PaidLine {
                due: (price - discount.min(price)) + tax,
                courses: courses
                    .into_iter()
                    .map(|(allocated, split)| CourseShare { allocated, split })
                    .collect(),
            })
    }

    proptest! {
        /// Random orders of 1–5 lines with odd cents, discounts, tax and fees, then partial and
        /// full refunds in random order: every entry's invariants hold, Σ gross = captured,
        /// after each refund Σ = captured − refunded, and once all is refunded every party is
        /// at exactly zero, in both currencies.
        #[test]
        fn the_ledger_stays_exact_through_refunds(
            lines in prop::collection::vec(line(), 1..=5),
            fee_permille in 0i64..80,
            rate_permille in 500i64..3_000,
            refunds in prop::collection::vec((0usize..5, 1i64..100_000), 0..12),
        ) {
            let captured: i64 = lines.iter().map(|l| l.due).sum();
            prop_assume!(captured > 0);
            let fee = captured * fee_permille / 1000 + 30;
            let settlement_captured = captured * rate_permille / 1000 + 1;
            let settlement_fee = fee * rate_permille / 1000;
            let c = Capture { captured, fee, settlement_captured, settlement_fee };
            let entries = record(&c, &lines).unwrap();
            let mut remaining: Vec<Vec<Refundable>> = entries
                .iter()
                .map(|l| {
                    l.iter()
                        .map(|(p, s)| Refundable { remaining: *p, settlement_remaining: *s })
                        .collect()
                })
                .collect();
            let all: Vec<&(Parts, Parts)> = entries.iter().flatten().collect();
            prop_assert_eq!(all.iter().map(|e| e.0.gross).sum::<i64>(), captured);
            prop_assert_eq!(all.iter().map(|e| e.0.fee).sum::<i64>(), fee);
            prop_assert_eq!(all.iter().map(|e| e.1.gross).sum::<i64>(), settlement_captured);
            prop_assert_eq!(all.iter().map(|e| e.1.fee).sum::<i64>(), settlement_fee);
            for e in &all {
                prop_assert!(e.0.is_consistent() && e.1.is_consistent());
            }
            let mut refunded = 0i64;
            // Partial refunds in random order, then whatever is left of every line.
            let mut plan: Vec<(usize, Option<i64>)> =
                refunds.iter().map(|(l, a)| (l % lines.len(), Some(*a))).collect();
            plan.extend((0..lines.len()).map(|l| (l, None)));
            for (l, amount) in plan {
                let left: i64 = remaining[l].iter().map(|e| e.remaining.gross).sum();
                if left == 0 {
                    continue;
                }
                let amount = amount.map(|a| 1 + a % left).unwrap_or(left);
                let rev = reverse(amount, &remaining[l]).unwrap();
                prop_assert_eq!(rev.iter().map(|r| r.0.gross).sum::<i64>(), -amount);
                for (e, (p, s)) in remaining[l].iter_mut().zip(&rev) {
                    prop_assert!(p.is_consistent() && s.is_consistent());
                    prop_assert!(p.gross <= 0 && s.gross <= 0);
                    e.remaining = e.remaining.checked_add(p).unwrap();
                    e.settlement_remaining = e.settlement_remaining.checked_add(s).unwrap();
                    prop_assert!(e.remaining.gross >= 0);
                }
                refunded += amount;
                let net_gross: i64 = remaining.iter().flatten().map(|e| e.remaining.gross).sum();
                prop_assert_eq!(net_gross, captured - refunded);
            }
            prop_assert_eq!(refunded, captured);
            for e in remaining.iter().flatten() {
                prop_assert_eq!(e.remaining, Parts::default());
                prop_assert_eq!(e.settlement_remaining, Parts::default());
            }
        }
    }
}
