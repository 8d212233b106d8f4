//! `commerce.order.created` → the learner's address and name (from the token at checkout), the
//! order's number and courses; `.completed` → `order-confirmation`.

use crate::Notifier;
use crate::domain::templates::Template;
use crate::notify;
use crate::storage::{self, OrderCourse};
use bus::{Delivery, Handler, HandlerFuture};
use events::commerce::v1::{OrderCompleted, OrderCreated, OrderLine};
use events::fields;
use sea_orm::DatabaseTransaction;

pub struct OrdersHandler {
    pub n: Notifier,
}

async fn remember(
    txn: &DatabaseTransaction,
    order_id: &str,
    number: &str,
    user_id: &str,
    lines: &[OrderLine],
) -> Result<(uuid::Uuid, bool), bus::HandlerError> {
    let id = fields::uuid("order_id", order_id)?;
    let mut courses = Vec::new();
    for l in lines {
        for c in &l.courses {
            courses.push(OrderCourse {
                department_id: &l.department_id,
                course_id: fields::uuid("course_id", &c.course_id)?,
                lms_course_id: &c.lms_course_id,
                title: &c.title,
                approval_required: c.approval_required,
            });
        }
    }
    let new = storage::remember_order(txn, id, number, user_id, &courses).await?;
    Ok((id, new))
}

impl Handler for OrdersHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            if d.subject.ends_with(".created") {
                let e: OrderCreated = d.decode()?;
                let at = fields::time("created_at", &e.created_at)?;
                storage::remember(txn, &e.user_id, &e.customer_email, &e.customer_name, at).await?;
                remember(txn, &e.order_id, &e.order_number, &e.user_id, &e.lines).await?;
                return Ok(());
            }
            if !d.subject.ends_with(".completed") {
                return Ok(());
            }
            let e: OrderCompleted = d.decode()?;
            // The address is the newest checkout's (from `order.created`): paying an older order
            // does not bring back an older address.
            let (id, new) =
                remember(txn, &e.order_id, &e.order_number, &e.user_id, &e.lines).await?;
            if new {
                // Its checkout not seen yet (the consumer handles events concurrently): wait for
                // it, so the address is the one the learner gave last, whatever the order.
                return Err(bus::HandlerError::transient(format!(
                    "the checkout of order {id} not seen yet"
                )));
            }
            let a = e
                .amounts
                .as_ref()
                .ok_or_else(|| bus::HandlerError::permanent("order.completed without amounts"))?;
            let currency = &a.display_currency;
            let mut items = Vec::new();
            for l in &e.lines {
                let due = l.price_minor - l.discount_minor + l.tax_minor;
                items.push(
                    serde_json::json!({"name": l.name, "price": notify::money(due, currency)?}),
                );
            }
            let vars = serde_json::json!({
                "order_number": e.order_number,
                "items": items,
                "total": notify::money(a.total_minor, currency)?,
                "orders_url": format!("{}/orders", self.n.base_url),
            });
            let email = notify::Email {
                cause: format!("order:{id}"),
                template: Template::OrderConfirmation,
                user_id: &e.user_id,
                vars,
                department: e.lines.first().map(|l| l.department_id.as_str()),
                certificate_id: None,
                wait_for_learner: true,
            };
            notify::send(txn, &self.n, email, self.n.clock.now()).await
        })
    }
}
