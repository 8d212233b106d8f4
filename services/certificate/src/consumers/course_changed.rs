//! `commerce.catalog.course.*` → the course's department, LMS id and title, so admins of its
//! department can set its criteria and completions can be matched to it.

use crate::storage::{self, Course};
use bus::{Delivery, Handler, HandlerFuture};
use events::commerce::v1::CourseChanged;
use events::fields;
use sea_orm::DatabaseTransaction;

pub struct CourseChangedHandler;

impl Handler for CourseChangedHandler {
    fn handle<'a>(&'a self, txn: &'a DatabaseTransaction, d: &'a Delivery) -> HandlerFuture<'a> {
        Box::pin(async move {
            let e: CourseChanged = d.decode()?;
            storage::upsert_course(
                txn,
                &Course {
                    course_id: fields::uuid("course_id", &e.course_id)?,
                    lms_course_id: &e.lms_course_id,
                    title: &e.title,
                    department_id: &e.department_id,
                    changed_at: fields::time("changed_at", &e.changed_at)?,
                },
            )
            .await?;
            Ok(())
        })
    }
}
