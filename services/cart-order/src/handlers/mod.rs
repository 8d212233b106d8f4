//! Event handlers, one file per consumed event.

pub mod price_changed;
