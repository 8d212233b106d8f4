//! `commerce.order.completed` → the courses the learner now holds: one per course line, one per
//! member course of a program line (naming the program and all its courses, so the program's
//! certificate can be issued when the last of them is certified).

use crate::issue;
use crate::storage::{self, NewHolding};
use bus::{Delivery, Handler, HandlerFuture};
use events::commerce::v1::OrderCompleted;
use events::fields;
use sea_orm::DatabaseTransaction;

pub struct OrderCompletedHandler {
    pub clock: std::sync::Arc<dyn kernel::Clock>,
}

impl Handler for OrderCompletedHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let e: OrderCompleted = d.decode()?;
            let order_id = fields::uuid("order_id", &e.order_id)?;
            let at = fields::time("completed_at", &e.completed_at)?;
            issue::lock_learner(txn, &e.user_id).await?;
            let mut programs = Vec::new();
            for l in &e.lines {
                if l.item_type == "subscription" {
                    continue;
                }
                let order_item_id = fields::uuid("order_item_id", &l.order_item_id)?;
                let program = if l.item_type == "program" {
                    let members = l
                        .courses
                        .iter()
                        .map(|c| fields::uuid("course_id", &c.course_id))
                        .collect::<Result<Vec<_>, _>>()?;
                    let id = fields::uuid("item_id", &l.item_id)?;
                    programs.push(id);
                    Some((id, l.name.as_str(), members))
                } else {
                    None
                };
                for c in &l.courses {
                    storage::insert_holding(
                        txn,
                        &NewHolding {
                            order_item_id,
                            course_id: fields::uuid("course_id", &c.course_id)?,
                            order_id,
                            user_id: &e.user_id,
                            lms_course_id: &c.lms_course_id,
                            course_title: &c.title,
                            department_id: &l.department_id,
                            program: program.clone(),
                            acquired_at: at,
                        },
                    )
                    .await?;
                }
            }
            // A program whose courses the learner had all certified before buying it is
            // complete already.
            for program in programs {
                let held = storage::program_holdings(txn, &e.user_id, program).await?;
                issue::programs_completed(txn, &e.user_id, held, self.clock.now()).await?;
            }
            Ok(())
        })
    }
}
