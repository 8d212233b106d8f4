//! Pure registration rules: the registration state machine and the service's error enum with
//! its stable problem codes. No I/O: unit-tested without Postgres.

pub mod error;
pub mod registration;

pub use error::RegistrationError;
pub use registration::{RegistrationEvent, RegistrationStatus};
