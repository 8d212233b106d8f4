//! Cart and order persistence: SQL only, every function composes in one transaction with
//! outbox rows (`&impl ConnectionTrait`).

pub mod carts;
pub mod discounts;
pub mod orders;
pub mod tax_exemptions;
pub mod tax_rates;

pub use carts::*;
pub use orders::*;
