//! Reconciliation (spec "Financial Audit"): one processor's charges and refunds over a period
//! compared with ours. Every item compared becomes one line — matched or a finding — so the
//! export shows the payments themselves, not only the differences. Pure: no I/O.
//!
//! Charges match by our intent id (which every processor's charge carries) and refunds by the
//! processor's refund id. A processor's declined attempts are not differences (we record them
//! as declines); a capture or refund on one side only, or with another amount, status or fee,
//! is.

use crate::processor::{Activity, ActivityKind, ActivityStatus};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// What a compared item shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Finding {
    Matched,
    /// Captured at the processor, unknown here (or known under no payment of ours).
    OrphanCharge,
    /// Captured here, absent at the processor.
    MissingCharge,
    /// A second capture at the processor for a payment of ours (a double charge).
    DuplicateCharge,
    /// Captured at the processor, not captured here (pending, failed or cancelled).
    StatusMismatch,
    AmountMismatch,
    /// The processor's fee differs from the one our ledger carries.
    FeeMismatch,
    OrphanRefund,
    MissingRefund,
    RefundAmountMismatch,
    RefundStatusMismatch,
}

impl Finding {
    pub fn as_str(self) -> &'static str {
        match self {
            Finding::Matched => "matched",
            Finding::OrphanCharge => "orphan_charge",
            Finding::MissingCharge => "missing_charge",
            Finding::DuplicateCharge => "duplicate_charge",
            Finding::StatusMismatch => "status_mismatch",
            Finding::AmountMismatch => "amount_mismatch",
            Finding::FeeMismatch => "fee_mismatch",
            Finding::OrphanRefund => "orphan_refund",
            Finding::MissingRefund => "missing_refund",
            Finding::RefundAmountMismatch => "refund_amount_mismatch",
            Finding::RefundStatusMismatch => "refund_status_mismatch",
        }
    }
}

/// One of our payments, as reconciliation reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurCharge {
    pub payment_id: Uuid,
    pub intent_id: String,
    /// Our status (`succeeded` once captured, whatever refunds followed).
    pub status: String,
    pub amount_minor: i64,
    pub currency: String,
    pub fee_minor: Option<i64>,
    pub at: DateTime<Utc>,
}

/// One of our refunds, as reconciliation reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurRefund {
    pub refund_id: Uuid,
    pub payment_id: Uuid,
    pub processor_refund_id: Option<String>,
    pub status: String,
    pub amount_minor: i64,
    pub currency: String,
    pub at: DateTime<Utc>,
}

/// One compared line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub finding: Finding,
    pub kind: ActivityKind,
    pub processor_id: Option<String>,
    pub payment_id: Option<Uuid>,
    pub refund_id: Option<Uuid>,
    pub currency: String,
    pub ours_amount_minor: Option<i64>,
    pub theirs_amount_minor: Option<i64>,
    pub ours_fee_minor: Option<i64>,
    pub theirs_fee_minor: Option<i64>,
    pub ours_status: Option<String>,
    pub theirs_status: Option<String>,
    pub at: Option<DateTime<Utc>>,
}

/// Our refund status against the processor's: ours is `processing` while theirs is pending.
fn same_refund_status(ours: &str, theirs: ActivityStatus) -> bool {
    matches!(
        (ours, theirs),
        ("succeeded", ActivityStatus::Succeeded) | ("processing", ActivityStatus::Pending)
    )
}

/// Compares. `theirs` is the processor's activity over a window wider than the period (a
/// PaymentIntent is listed by its creation, ours by its capture); `ours_*` hold our records of
/// the period and every record the processor's items name. An item is reported in the period of
/// our time for it (the processor's when we have none), so each is reported once and a capture
/// near the period's edge still finds its match; `missing` is reported for ours within the
/// period that the wider list does not hold.
pub fn compare(
    theirs: &[Activity],
    our_charges: &[OurCharge],
    our_refunds: &[OurRefund],
    in_period: impl Fn(DateTime<Utc>) -> bool,
) -> Vec<Item> {
    let mut items = Vec::new();
    let by_intent: HashMap<&str, &OurCharge> = our_charges
        .iter()
        .map(|c| (c.intent_id.as_str(), c))
        .collect();
    let by_refund: HashMap<&str, &OurRefund> = our_refunds
        .iter()
        .filter_map(|r| r.processor_refund_id.as_deref().map(|id| (id, r)))
        .collect();
    let mut seen_charges: HashSet<Uuid> = HashSet::new();
    let mut seen_refunds: HashSet<Uuid> = HashSet::new();
    for a in theirs {
        let currency = a.amount.currency().code().to_string();
        let theirs_fee = a.fee.map(|f| f.amount_minor());
        match a.kind {
            ActivityKind::Charge => {
                // A decline or a pending attempt moved no money: ours records it as a decline.
                if a.status != ActivityStatus::Succeeded {
                    continue;
                }
                let ours = a.intent_id.as_deref().and_then(|i| by_intent.get(i));
                // A capture belongs to the period of our capture time (or of the processor's,
                // when we have none): the processor's list is wider than the period.
                if !in_period(ours.map_or(a.at, |o| o.at)) {
                    continue;
                }
                let finding = match ours {
                    None => Finding::OrphanCharge,
                    Some(o) if seen_charges.contains(&o.payment_id) => Finding::DuplicateCharge,
                    Some(o) if o.status != "succeeded" => Finding::StatusMismatch,
                    Some(o)
                        if o.amount_minor != a.amount.amount_minor() || o.currency != currency =>
                    {
                        Finding::AmountMismatch
                    }
                    Some(o) if theirs_fee.is_some() && o.fee_minor != theirs_fee => {
                        Finding::FeeMismatch
                    }
                    Some(_) => Finding::Matched,
                };
                if let Some(o) = ours {
                    seen_charges.insert(o.payment_id);
                }
                items.push(Item {
                    finding,
                    kind: a.kind,
                    processor_id: Some(a.id.clone()),
                    payment_id: ours.map(|o| o.payment_id),
                    refund_id: None,
                    currency,
                    ours_amount_minor: ours.map(|o| o.amount_minor),
                    theirs_amount_minor: Some(a.amount.amount_minor()),
                    ours_fee_minor: ours.and_then(|o| o.fee_minor),
                    theirs_fee_minor: theirs_fee,
                    ours_status: ours.map(|o| o.status.clone()),
                    theirs_status: Some(a.status.as_str().to_string()),
                    at: Some(a.at),
                });
            }
            ActivityKind::Refund => {
                if a.status == ActivityStatus::Failed {
                    continue;
                }
                let ours = by_refund.get(a.id.as_str());
                if !in_period(ours.map_or(a.at, |o| o.at)) {
                    continue;
                }
                let finding = match ours {
                    None => Finding::OrphanRefund,
                    Some(o) if o.amount_minor != a.amount.amount_minor() => {
                        Finding::RefundAmountMismatch
                    }
                    Some(o) if !same_refund_status(&o.status, a.status) => {
                        Finding::RefundStatusMismatch
                    }
                    Some(_) => Finding::Matched,
                };
                if let Some(o) = ours {
                    seen_refunds.insert(o.refund_id);
                }
                items.push(Item {
                    finding,
                    kind: a.kind,
                    processor_id: Some(a.id.clone()),
                    payment_id: ours.map(|o| o.payment_id),
                    refund_id: ours.map(|o| o.refund_id),
                    currency,
                    ours_amount_minor: ours.map(|o| o.amount_minor),
                    theirs_amount_minor: Some(a.amount.amount_minor()),
                    ours_fee_minor: None,
                    theirs_fee_minor: None,
                    ours_status: ours.map(|o| o.status.clone()),
                    theirs_status: Some(a.status.as_str().to_string()),
                    at: Some(a.at),
                });
            }
        }
    }
    for o in our_charges {
        if o.status == "succeeded" && in_period(o.at) && !seen_charges.contains(&o.payment_id) {
            items.push(Item {
                finding: Finding::MissingCharge,
                kind: ActivityKind::Charge,
                processor_id: None,
                payment_id: Some(o.payment_id),
                refund_id: None,
                currency: o.currency.clone(),
                ours_amount_minor: Some(o.amount_minor),
                theirs_amount_minor: None,
                ours_fee_minor: o.fee_minor,
                theirs_fee_minor: None,
                ours_status: Some(o.status.clone()),
                theirs_status: None,
                at: Some(o.at),
            });
        }
    }
    for o in our_refunds {
        if o.status == "succeeded" && in_period(o.at) && !seen_refunds.contains(&o.refund_id) {
            items.push(Item {
                finding: Finding::MissingRefund,
                kind: ActivityKind::Refund,
                processor_id: o.processor_refund_id.clone(),
                payment_id: Some(o.payment_id),
                refund_id: Some(o.refund_id),
                currency: o.currency.clone(),
                ours_amount_minor: Some(o.amount_minor),
                theirs_amount_minor: None,
                ours_fee_minor: None,
                theirs_fee_minor: None,
                ours_status: Some(o.status.clone()),
                theirs_status: None,
                at: Some(o.at),
            });
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::{Currency, Money};

    fn usd(minor: i64) -> Money {
        Money::new(minor, Currency::parse("USD").unwrap())
    }

    fn at(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + min * 60, 0).unwrap()
    }

    fn charge(id: &str, intent: &str, minor: i64, fee: Option<i64>) -> Activity {
        Activity {
            kind: ActivityKind::Charge,
            id: id.into(),
            intent_id: Some(intent.into()),
            charge_id: None,
            amount: usd(minor),
            fee: fee.map(usd),
            status: ActivityStatus::Succeeded,
            at: at(1),
        }
    }

    fn ours(n: u128, intent: &str, status: &str, minor: i64, fee: Option<i64>) -> OurCharge {
        OurCharge {
            payment_id: Uuid::from_u128(n),
            intent_id: intent.into(),
            status: status.into(),
            amount_minor: minor,
            currency: "USD".into(),
            fee_minor: fee,
            at: at(1),
        }
    }

    fn findings(items: &[Item]) -> Vec<&'static str> {
        items.iter().map(|i| i.finding.as_str()).collect()
    }

    #[test]
    fn a_clean_period_is_all_matched_and_declines_are_not_differences() {
        let mut declined = charge("SQ0", "i1", 1000, None);
        declined.status = ActivityStatus::Failed;
        let refund = Activity {
            kind: ActivityKind::Refund,
            id: "R1".into(),
            intent_id: None,
            charge_id: Some("SQ1".into()),
            amount: usd(400),
            fee: None,
            status: ActivityStatus::Succeeded,
            at: at(2),
        };
        let theirs = [declined, charge("SQ1", "i1", 1000, Some(59)), refund];
        let our_refund = OurRefund {
            refund_id: Uuid::from_u128(9),
            payment_id: Uuid::from_u128(1),
            processor_refund_id: Some("R1".into()),
            status: "succeeded".into(),
            amount_minor: 400,
            currency: "USD".into(),
            at: at(2),
        };
        let items = compare(
            &theirs,
            &[ours(1, "i1", "succeeded", 1000, Some(59))],
            &[our_refund],
            |_| true,
        );
        assert_eq!(findings(&items), ["matched", "matched"]);
    }

    #[test]
    fn items_belong_to_the_period_of_our_capture_time() {
        // Created at the processor before the period, captured by us within it: this period's.
        let mut early = charge("PI1", "i1", 1000, None);
        early.at = at(-50);
        // Made at the processor before the period, unknown here: an earlier period's orphan.
        let mut old_orphan = charge("PI2", "nobody", 300, None);
        old_orphan.at = at(-50);
        let ours_late = OurCharge {
            at: at(-60),
            ..ours(3, "i3", "succeeded", 500, None)
        };
        let mut before = charge("PI3", "i3", 500, None);
        before.at = at(-60);
        let items = compare(
            &[early, old_orphan, before],
            &[ours(1, "i1", "succeeded", 1000, None), ours_late],
            &[],
            |t| t >= at(0),
        );
        assert_eq!(findings(&items), ["matched"]);
        assert_eq!(items[0].payment_id, Some(Uuid::from_u128(1)));
    }

    #[test]
    fn each_kind_of_difference_is_reported_once() {
        let theirs = [
            charge("SQ1", "orphan", 500, None),
            charge("SQ2", "i2", 999, None),
            charge("SQ3", "i3", 1000, None),
            charge("SQ4", "i4", 1000, Some(60)),
            charge("SQ4b", "i4", 1000, Some(60)),
            Activity {
                kind: ActivityKind::Refund,
                id: "R9".into(),
                intent_id: None,
                charge_id: Some("SQ4".into()),
                amount: usd(100),
                fee: None,
                status: ActivityStatus::Succeeded,
                at: at(3),
            },
        ];
        let ours_charges = [
            ours(2, "i2", "succeeded", 1000, None),
            ours(3, "i3", "pending", 1000, None),
            ours(4, "i4", "succeeded", 1000, Some(59)),
            ours(5, "i5", "succeeded", 700, None),
            // Outside the period: never "missing".
            OurCharge {
                at: at(-100),
                ..ours(6, "i6", "succeeded", 700, None)
            },
        ];
        let missing_refund = OurRefund {
            refund_id: Uuid::from_u128(7),
            payment_id: Uuid::from_u128(4),
            processor_refund_id: Some("R7".into()),
            status: "succeeded".into(),
            amount_minor: 50,
            currency: "USD".into(),
            at: at(4),
        };
        let items = compare(&theirs, &ours_charges, &[missing_refund], |t| t >= at(0));
        assert_eq!(
            findings(&items),
            [
                "orphan_charge",
                "amount_mismatch",
                "status_mismatch",
                "fee_mismatch",
                "duplicate_charge",
                "orphan_refund",
                "missing_charge",
                "missing_refund"
            ]
        );
        let orphan = &items[0];
        assert_eq!(orphan.payment_id, None);
        assert_eq!(orphan.theirs_amount_minor, Some(500));
        let mismatch = &items[1];
        assert_eq!(
            (mismatch.ours_amount_minor, mismatch.theirs_amount_minor),
            (Some(1000), Some(999))
        );
    }
}
