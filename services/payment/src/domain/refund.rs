//! A refund's life and its one rule: never more than was captured. A billing-admin's refund is
//! recorded `processing` (holding its share of the captured amount), sent to the processor with
//! no transaction open, then settled `succeeded` or `failed` (a failed refund frees its share and
//! can be tried again).

use super::PaymentError;
use kernel::{IllegalTransition, Lifecycle, Money, Transition};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    Processing,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundEvent {
    /// The processor refunded the money.
    Refunded,
    /// The processor refused or could not refund.
    Refused,
}

impl Transition for RefundEvent {
    fn name(&self) -> &'static str {
        match self {
            RefundEvent::Refunded => "complete",
            RefundEvent::Refused => "fail",
        }
    }
}

impl Lifecycle for RefundStatus {
    type Event = RefundEvent;
    const AGGREGATE: &'static str = "refund";
    const ALL: &'static [RefundStatus] = &[
        RefundStatus::Processing,
        RefundStatus::Succeeded,
        RefundStatus::Failed,
    ];

    fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Processing => "processing",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }

    fn apply(self, event: &RefundEvent) -> Result<RefundStatus, IllegalTransition> {
        match (self, event) {
            (RefundStatus::Processing, RefundEvent::Refunded) => Ok(RefundStatus::Succeeded),
            (RefundStatus::Processing, RefundEvent::Refused) => Ok(RefundStatus::Failed),
            _ => Err(self.illegal(event)),
        }
    }
}

impl RefundStatus {
    /// Whether the refund holds part of the captured amount (in flight or done).
    pub fn holds_amount(self) -> bool {
        matches!(self, RefundStatus::Processing | RefundStatus::Succeeded)
    }
}

/// The amount of a new refund: `requested`, or everything that remains when none is given.
/// Refused when it is not positive or exceeds what remains of the capture.
pub fn refund_amount(
    captured: Money,
    held: Money,
    requested: Option<i64>,
) -> Result<Money, PaymentError> {
    let remaining = captured
        .checked_sub(&held)
        .map_err(|e| PaymentError::Corrupt(format!("refunds of the payment: {e}")))?;
    let amount = Money::new(
        requested.unwrap_or(remaining.amount_minor()),
        captured.currency(),
    );
    if amount.amount_minor() <= 0 {
        return Err(if remaining.amount_minor() <= 0 {
            PaymentError::RefundExceedsCaptured { remaining }
        } else {
            PaymentError::InvalidRefund("a refund amount must be positive".into())
        });
    }
    if amount.amount_minor() > remaining.amount_minor() {
        return Err(PaymentError::RefundExceedsCaptured { remaining });
    }
    Ok(amount)
}

/// One order line as a refund sees it: what it cost and what refunds already hold of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineBalance {
    pub order_item_id: uuid::Uuid,
    pub paid: i64,
    pub held: i64,
}

impl LineBalance {
    pub fn remaining(&self) -> i64 {
        (self.paid - self.held).max(0)
    }
}

/// A refund's split over the order's lines: `requested` (or everything that remains of the
/// `targets`, all lines when none are named) allocated over the targets in proportion to what
/// remains of each, by largest remainder, so the shares sum to the refund exactly and no line
/// gives back more than it has left. Lines with a zero share are left out.
pub fn allocate_refund(
    currency: kernel::Currency,
    lines: &[LineBalance],
    targets: &[uuid::Uuid],
    requested: Option<i64>,
) -> Result<(Money, Vec<(uuid::Uuid, i64)>), PaymentError> {
    for t in targets {
        if !lines.iter().any(|l| l.order_item_id == *t) {
            return Err(PaymentError::InvalidRefund(format!(
                "the order has no line `{t}`"
            )));
        }
    }
    let chosen: Vec<&LineBalance> = lines
        .iter()
        .filter(|l| targets.is_empty() || targets.contains(&l.order_item_id))
        .collect();
    let remaining: i64 = chosen.iter().map(|l| l.remaining()).sum();
    let amount = refund_amount(
        Money::new(remaining, currency),
        Money::zero(currency),
        requested,
    )?;
    let weights: Vec<u64> = chosen
        .iter()
        .map(|l| l.remaining().unsigned_abs())
        .collect();
    let shares = kernel::money::allocate(amount.amount_minor(), &weights)
        .map_err(|e| PaymentError::Corrupt(format!("refund allocation: {e}")))?;
    let split = chosen
        .iter()
        .zip(shares)
        .filter(|(_, share)| *share > 0)
        .map(|(l, share)| (l.order_item_id, share))
        .collect();
    Ok((amount, split))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::Currency;

    fn line(n: u128, paid: i64, held: i64) -> LineBalance {
        LineBalance {
            order_item_id: uuid::Uuid::from_u128(n),
            paid,
            held,
        }
    }

    #[test]
    fn a_refund_splits_over_lines_exactly_and_never_past_a_line() {
        let lines = [line(1, 4900, 0), line(2, 2900, 0), line(3, 1000, 1000)];
        // The whole remainder: each line gives back what it has left.
        let (amount, split) = allocate_refund(Currency::USD, &lines, &[], None).unwrap();
        assert_eq!(amount, usd(7800));
        assert_eq!(
            split,
            vec![
                (uuid::Uuid::from_u128(1), 4900),
                (uuid::Uuid::from_u128(2), 2900)
            ]
        );
        // 1000 over 4900 : 2900 → 628.2 : 371.8 → 628 : 372 (largest remainder).
        let (_, split) = allocate_refund(Currency::USD, &lines, &[], Some(1000)).unwrap();
        assert_eq!(split.iter().map(|(_, s)| s).sum::<i64>(), 1000);
        assert_eq!(split[0].1, 628);
        assert_eq!(split[1].1, 372);
        // Chosen lines only, and never more than they have left.
        let two = [uuid::Uuid::from_u128(2)];
        let (amount, split) = allocate_refund(Currency::USD, &lines, &two, None).unwrap();
        assert_eq!((amount, split), (usd(2900), vec![(two[0], 2900)]));
        assert_eq!(
            allocate_refund(Currency::USD, &lines, &two, Some(2901))
                .unwrap_err()
                .code(),
            "refund_exceeds_captured"
        );
        let done = [uuid::Uuid::from_u128(3)];
        assert_eq!(
            allocate_refund(Currency::USD, &lines, &done, None)
                .unwrap_err()
                .code(),
            "refund_exceeds_captured"
        );
        assert_eq!(
            allocate_refund(Currency::USD, &lines, &[uuid::Uuid::from_u128(9)], None)
                .unwrap_err()
                .code(),
            "invalid_refund"
        );
    }

    fn usd(m: i64) -> Money {
        Money::new(m, Currency::USD)
    }

    #[test]
    fn the_whole_transition_table() {
        use RefundEvent::*;
        use RefundStatus::*;
        for s in RefundStatus::ALL {
            for e in [Refunded, Refused] {
                let expected = match (s, e) {
                    (Processing, Refunded) => Some(Succeeded),
                    (Processing, Refused) => Some(Failed),
                    _ => None,
                };
                assert_eq!(s.apply(&e).ok(), expected, "{s:?} + {e:?}");
            }
        }
        assert!(Processing.holds_amount() && Succeeded.holds_amount() && !Failed.holds_amount());
        assert_eq!(RefundStatus::sources(&Refunded), ["processing"]);
    }

    #[test]
    fn never_more_than_captured() {
        assert_eq!(
            refund_amount(usd(1000), usd(0), Some(333)).unwrap(),
            usd(333)
        );
        assert_eq!(refund_amount(usd(1000), usd(666), None).unwrap(), usd(334));
        assert_eq!(
            refund_amount(usd(1000), usd(1000), Some(1))
                .unwrap_err()
                .code(),
            "refund_exceeds_captured"
        );
        assert_eq!(
            refund_amount(usd(1000), usd(1000), None)
                .unwrap_err()
                .code(),
            "refund_exceeds_captured"
        );
        assert_eq!(
            refund_amount(usd(1000), usd(0), Some(1001))
                .unwrap_err()
                .code(),
            "refund_exceeds_captured"
        );
        assert_eq!(
            refund_amount(usd(1000), usd(0), Some(0))
                .unwrap_err()
                .code(),
            "invalid_refund"
        );
    }
}
