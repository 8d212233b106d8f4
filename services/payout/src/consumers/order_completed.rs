//! `commerce.order.completed` → one ledger entry per paid course line (a program line gives one
//! per member course), each scheduled for the Payout Platform. An order with nothing to pay
//! records nothing.

use super::ledger_error;
use crate::domain::ledger::{self, Capture, CourseShare, PaidLine};
use crate::storage::{self, EntryRow, REVENUE};
use bus::{Delivery, Handler, HandlerError, HandlerFuture};
use events::commerce::v1::OrderCompleted;
use events::fields;
use kernel::{Clock, Currency, Money, Rate, RevenueSplit};
use rust_decimal::Decimal;
use sea_orm::DatabaseTransaction;
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::Notify;

pub struct OrderCompletedHandler {
    pub wake: Arc<Notify>,
    pub clock: Arc<dyn Clock>,
}

fn bad(m: impl Into<String>) -> HandlerError {
    HandlerError::permanent(m)
}

impl Handler for OrderCompletedHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let e: OrderCompleted = d.decode()?;
            if e.payment_id.is_empty() {
                // Nothing was paid: nothing was earned.
                return Ok(());
            }
            let order_id = fields::uuid("order_id", &e.order_id)?;
            let payment_id = fields::uuid("payment_id", &e.payment_id)?;
            let paid_at = fields::time("completed_at", &e.completed_at)?;
            let transaction_id =
                fields::required("processor_transaction_id", &e.processor_transaction_id)?;
            let a = e
                .amounts
                .as_ref()
                .ok_or_else(|| bad("order.completed without amounts"))?;
            let currency = Currency::parse(&a.display_currency).map_err(|x| bad(x.to_string()))?;
            let settlement =
                Currency::parse(&a.settlement_currency).map_err(|x| bad(x.to_string()))?;
            let rate_value = Decimal::from_str(&a.exchange_rate)
                .map_err(|x| bad(format!("exchange_rate `{}`: {x}", a.exchange_rate)))?;
            let rate = Rate::new(rate_value).map_err(|x| bad(x.to_string()))?;
            let settlement_fee = kernel::fx::to_settlement(
                Money::new(e.processor_fee_minor, currency),
                settlement,
                rate,
            )
            .map_err(|x| bad(x.to_string()))?;
            let capture = Capture {
                captured: a.total_minor,
                fee: e.processor_fee_minor,
                settlement_captured: a.settlement_total_minor,
                settlement_fee: settlement_fee.amount_minor(),
            };
            let mut lines = Vec::with_capacity(e.lines.len());
            for l in &e.lines {
                let due = l
                    .price_minor
                    .checked_sub(l.discount_minor)
                    .and_then(|v| v.checked_add(l.tax_minor))
                    .ok_or_else(|| bad("line amounts overflow"))?;
                let courses = l
                    .courses
                    .iter()
                    .map(|c| {
                        let s = c.revenue_split.as_ref().ok_or_else(|| {
                            bad(format!("course {} without revenue split", c.course_id))
                        })?;
                        let split =
                            RevenueSplit::new(s.platform_bps, s.creator_bps, s.instructor_bps)
                                .map_err(|x| bad(x.to_string()))?;
                        Ok(CourseShare {
                            allocated: c.allocated_minor,
                            split,
                        })
                    })
                    .collect::<Result<Vec<_>, HandlerError>>()?;
                lines.push(PaidLine { due, courses });
            }
            let amounts = ledger::record(&capture, &lines).map_err(ledger_error)?;
            let now = self.clock.now();
            let mut scheduled = false;
            for ((l, paid), entries) in e.lines.iter().zip(&lines).zip(amounts) {
                let order_item_id = fields::uuid("order_item_id", &l.order_item_id)?;
                storage::lock_line(txn, order_item_id).await?;
                for ((c, share), (parts, settle)) in
                    l.courses.iter().zip(&paid.courses).zip(entries)
                {
                    let split = share.split;
                    let bps = |v: u32| i32::try_from(v).map_err(|_| bad("split out of range"));
                    let mut row = EntryRow {
                        seq: 0,
                        id: kernel::new_id(),
                        kind: REVENUE.into(),
                        reverses: None,
                        refund_id: None,
                        refund_reason: None,
                        line_full: false,
                        order_id,
                        order_number: e.order_number.clone(),
                        order_item_id,
                        payment_id: Some(payment_id),
                        transaction_id: transaction_id.to_string(),
                        course_id: fields::uuid("course_id", &c.course_id)?,
                        lms_course_id: c.lms_course_id.clone(),
                        course_name: c.title.clone(),
                        department_id: l.department_id.clone(),
                        learner_id: e.user_id.clone(),
                        instructor_id: c.instructor_id.clone(),
                        content_creator_id: c.creator_id.clone(),
                        currency: currency.code().to_string(),
                        gross_minor: 0,
                        fee_minor: 0,
                        net_minor: 0,
                        platform_minor: 0,
                        creator_minor: 0,
                        instructor_minor: 0,
                        platform_bps: bps(split.platform_bps())?,
                        creator_bps: bps(split.creator_bps())?,
                        instructor_bps: bps(split.instructor_bps())?,
                        settlement_currency: settlement.code().to_string(),
                        exchange_rate: rate.value(),
                        s_gross_minor: 0,
                        s_fee_minor: 0,
                        s_net_minor: 0,
                        s_platform_minor: 0,
                        s_creator_minor: 0,
                        s_instructor_minor: 0,
                        captured_minor: capture.captured,
                        s_captured_minor: capture.settlement_captured,
                        recorded_at: paid_at,
                        created_at: now,
                    };
                    row.set_parts(&parts, &settle);
                    if storage::record(txn, &row, now).await? {
                        scheduled = true;
                    }
                }
            }
            if scheduled {
                bus::wake_after_commit(&self.wake);
            }
            Ok(())
        })
    }
}
