//! Pure domain types shared by every service: no I/O here.
//!
//! # Layout
//! - [`money`]: [`Currency`] (ISO 4217 with its exponent) and [`Money`] in integer minor units,
//!   checked arithmetic that refuses mixed currencies, and exact allocation by weights.
//! - [`split`]: revenue split shares in basis points that always sum to the whole.
//! - [`ids`]: time-ordered identifiers and the clock seam.

pub mod ids;
pub mod money;
pub mod split;

pub use ids::{Clock, ManualClock, SystemClock, new_id};
pub use money::{Currency, Money, MoneyError, allocate};
pub use split::{RevenueSplit, SplitError};
