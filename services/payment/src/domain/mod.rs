//! Pure payment rules: the payment state machine and the service's error enum with its stable
//! problem codes. No I/O: unit-tested without Postgres.

pub mod error;
pub mod payment;
pub mod reconciliation;
pub mod refund;
pub mod refund_request;
pub mod subscription;

pub use error::PaymentError;
pub use payment::{PaymentEvent, PaymentStatus};
pub use refund::{LineBalance, RefundEvent, RefundStatus};
