//! Payment persistence: SQL only; every function composes in one transaction with outbox rows.

pub mod lines;
pub mod payments;
pub mod reconciliation;
pub mod refund_requests;
pub mod refunds;
pub mod reviews;
pub mod subscriptions;

pub use payments::*;
