//! Pure cart and order rules: the order state machine, the checkout pipeline's steps, and the
//! service's error enum with its stable problem codes. No I/O: unit-tested without Postgres.

pub mod checkout;
pub mod discount;
pub mod display;
pub mod error;
pub mod order;
pub mod tax;

pub use error::{CartOrderError, parse_currency};
pub use order::{OrderEvent, OrderStatus};
