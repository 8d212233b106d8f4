//! Consumed events, one file each.

pub mod certificates;
pub mod orders;
pub mod payment_failed;
pub mod refunds;
pub mod registrations;
