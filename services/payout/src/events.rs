//! Events payout publishes (through its outbox).

use crate::storage::{EntryRow, REVERSAL};
use events::commerce::v1 as ev;

pub fn revenue_recorded(e: &EntryRow) -> ev::RevenueRecorded {
    ev::RevenueRecorded {
        entry_id: e.id.to_string(),
        order_id: e.order_id.to_string(),
        course_id: e.course_id.to_string(),
        creator_id: e.content_creator_id.clone(),
        instructor_id: e.instructor_id.clone(),
        currency: e.currency.clone(),
        gross_minor: e.gross_minor,
        processor_fee_minor: e.fee_minor,
        net_minor: e.net_minor,
        platform_minor: e.platform_minor,
        creator_minor: e.creator_minor,
        instructor_minor: e.instructor_minor,
        reversal: e.kind == REVERSAL,
        recorded_at: e.recorded_at.to_rfc3339(),
    }
}
