//! Certificate persistence: SQL only.

pub mod certificates;
pub mod holdings;
pub mod settings;

pub use certificates::*;
pub use holdings::*;
pub use settings::*;
