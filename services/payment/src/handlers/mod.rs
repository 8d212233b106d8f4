//! Consumed events.

pub mod webhook;
