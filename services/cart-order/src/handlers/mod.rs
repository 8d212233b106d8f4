//! Event handlers, one file per consumed event family.

pub mod payment;
pub mod price_changed;
