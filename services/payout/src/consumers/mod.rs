//! Consumed events, one file each.

pub mod order_completed;
pub mod refund_issued;
pub mod registration_changed;

use crate::domain::ledger::LedgerError;
use bus::HandlerError;

/// Arithmetic that cannot be done on an event's figures never succeeds on redelivery.
pub(crate) fn ledger_error(e: LedgerError) -> HandlerError {
    HandlerError::permanent(format!("ledger: {e}"))
}
