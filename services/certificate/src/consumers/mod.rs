//! Consumed events, one file each.

pub mod course_changed;
pub mod lms_completion;
pub mod order_completed;
pub mod refund_issued;
