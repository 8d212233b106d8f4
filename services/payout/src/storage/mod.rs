//! Payout persistence: SQL only. Ledger entries are inserted and read, never changed (the
//! database refuses it); deliveries use the shared outbound table shape ([`bus::outbound`]).

pub mod enrollments;
pub mod entries;
pub mod reports;

pub use enrollments::*;
pub use entries::*;

use bus::outbound::OutboundTable;

/// One Payout Platform webhook per ledger entry.
pub const DELIVERIES: OutboundTable = OutboundTable {
    table: "deliveries",
    key: "entry_id",
    result: "payout_entry_id",
};
