//! Consumed events, one file each; each runs inside the inbox transaction.

pub mod order_closed;
pub mod refund_requested;
pub mod registration_rejected;
pub mod webhook;
