//! Consumed events, one file each.

pub mod enrollment_status;
pub mod order_completed;
pub mod refund_issued;
