//! `commerce.order.completed` → one registration per course bought (a program gives one per
//! member course, linked to the program). Approval-required courses wait in the admin queue;
//! the others are approved at once and their enrollment request is scheduled.

use crate::storage::{self, NewRegistration};
use bus::{Delivery, Handler, HandlerError, HandlerFuture};
use events::commerce::v1::OrderCompleted;
use events::fields;
use kernel::Clock;
use sea_orm::DatabaseTransaction;
use std::sync::Arc;
use tokio::sync::Notify;

pub struct OrderCompletedHandler {
    pub wake: Arc<Notify>,
    pub clock: Arc<dyn Clock>,
}

impl Handler for OrderCompletedHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let e: OrderCompleted = d.decode()?;
            let order_id = fields::uuid("order_id", &e.order_id)?;
            let now = self.clock.now();
            storage::lock_order_events(txn, order_id).await?;
            // Each is needed on every registration: an order event without it is poison.
            let purchased_at = fields::time("completed_at", &e.completed_at)?;
            let amounts = e
                .amounts
                .as_ref()
                .ok_or_else(|| HandlerError::permanent("order.completed without amounts"))?;
            let currency = fields::required("display_currency", &amounts.display_currency)?;
            // Lines refunded in full before the order's completion reached us: nothing to enroll.
            let lines = e
                .lines
                .iter()
                .map(|l| fields::uuid("order_item_id", &l.order_item_id))
                .collect::<Result<Vec<_>, _>>()?;
            let refunded = storage::refunded_lines(txn, &lines).await?;
            let subscription = if e.subscription_id.is_empty() {
                None
            } else {
                Some(fields::uuid("subscription_id", &e.subscription_id)?)
            };
            if let Some(sub) = subscription {
                storage::lock_subscription_events(txn, sub).await?;
                if storage::subscription_ended(txn, sub).await? {
                    tracing::info!(order = %order_id, subscription = %sub, "enrollment through an ended subscription; no registration");
                    return Ok(());
                }
            }
            let mut scheduled = false;
            for (index, line) in e.lines.iter().enumerate() {
                let kind = match line.item_type.as_str() {
                    // A course enrolled in through a subscription (ENR-005).
                    "course" if subscription.is_some() => "subscription".to_string(),
                    "course" | "program" => line.item_type.clone(),
                    // Subscriptions grant access through their own flow.
                    _ => continue,
                };
                let line_id = fields::uuid("order_item_id", &line.order_item_id)?;
                if refunded.contains(&line_id) {
                    tracing::info!(order = %order_id, line = %line_id, "line refunded before registration; none made");
                    continue;
                }
                let program_id = if kind == "program" {
                    Some(fields::uuid("item_id", &line.item_id)?)
                } else {
                    None
                };
                for c in &line.courses {
                    let r = NewRegistration {
                        id: kernel::new_id(),
                        user_id: e.user_id.clone(),
                        registration_type: kind.clone(),
                        course_id: fields::uuid("course_id", &c.course_id)?,
                        lms_course_id: c.lms_course_id.clone(),
                        course_title: c.title.clone(),
                        program_id,
                        department_id: line.department_id.clone(),
                        order_id,
                        order_number: e.order_number.clone(),
                        order_item_index: i32::try_from(index).map_err(|_| {
                            HandlerError::permanent(format!("line index {index} out of range"))
                        })?,
                        approval_required: c.approval_required,
                        instructor_id: c.instructor_id.clone(),
                        creator_id: c.creator_id.clone(),
                        gross_minor: c.allocated_minor,
                        currency: currency.to_string(),
                        purchased_at,
                        order_item_id: line_id,
                        subscription_id: subscription,
                    };
                    if storage::insert(txn, &r, now).await?.is_some() && !c.approval_required {
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
