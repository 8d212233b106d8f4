//! Consumed events, one file per event family; each runs inside the inbox transaction.

pub mod payment;
pub mod price_changed;
pub mod refund_issued;
pub mod subscriptions;
