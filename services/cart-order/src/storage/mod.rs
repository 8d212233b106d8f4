//! Cart and order persistence: SQL only, every function composes in one transaction with
//! outbox rows (`&impl ConnectionTrait`).

pub mod carts;
pub mod discounts;
pub mod orders;

pub use carts::*;
pub use orders::*;
