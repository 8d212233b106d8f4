//! `commerce.registration.<status>` → the enrollments the reports count.

use crate::storage::{self, Change};
use bus::{Delivery, Handler, HandlerFuture};
use events::commerce::v1::RegistrationChanged;
use events::fields;
use sea_orm::DatabaseTransaction;

pub struct RegistrationChangedHandler;

impl Handler for RegistrationChangedHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let e: RegistrationChanged = d.decode()?;
            let ch = Change {
                registration_id: fields::uuid("registration_id", &e.registration_id)?,
                user_id: fields::required("user_id", &e.user_id)?,
                course_id: fields::uuid("course_id", &e.course_id)?,
                department_id: &e.department_id,
                status: fields::required("status", &e.status)?,
                at: fields::time("changed_at", &e.changed_at)?,
            };
            storage::apply(txn, &ch).await?;
            Ok(())
        })
    }
}
