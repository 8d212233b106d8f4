//! Pure domain types shared by every service: no I/O here.
//!
//! # Layout
//! - [`money`]: [`Currency`] (ISO 4217 with its exponent) and [`Money`] in integer minor units,
//!   checked arithmetic that refuses mixed currencies, and exact allocation by weights.
//! - [`split`]: revenue split shares in basis points that always sum to the whole.
//! - [`ids`]: time-ordered identifiers and the clock seam.
//! - [`fx`]: exchange rates and the one conversion rule (half to even at the minor unit).
//! - [`window`]: half-open time windows ("available now", "effective now").
//! - [`secret`]: secrets whose `Debug` redacts them.
//! - [`state`]: typed state machines whose legal moves also derive the storage guards.

pub mod fx;
pub mod ids;
pub mod money;
pub mod secret;
pub mod split;
pub mod state;
pub mod window;

pub use fx::{FxError, Rate};
pub use ids::{Clock, ManualClock, OffsetClock, SystemClock, new_id};
pub use money::{Currency, Money, MoneyError, allocate, mul_div_half_even};
pub use secret::Secret;
pub use split::{RevenueSplit, SplitError};
pub use state::{IllegalTransition, Lifecycle, Transition, UnknownState};
pub use window::{InvalidWindow, Window};
