//! Registration persistence: SQL only; every function composes in one transaction with outbox
//! rows.

pub mod registrations;

pub use registrations::*;
