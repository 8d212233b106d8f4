//! The report shapes of the specification (CAT-009), amounts in minor units of the settlement
//! currency, and the export's CSV rows.

use crate::storage::{DeliveryOf, EntryRow, REVENUE};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodView {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CourseTotals {
    /// Σ gross of the period's entries (reversals included), settlement-currency minor units.
    pub gross_revenue: i64,
    pub net_revenue: i64,
    /// Learners enrolled in the course during the period.
    pub enrollments: i64,
    /// Always null: the platform receives no completion events yet.
    pub completion_rate: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CourseMonth {
    /// `YYYY-MM` (UTC).
    pub month: String,
    pub gross_revenue: i64,
    pub enrollments: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CourseRevenueReport {
    pub course_id: String,
    pub course_name: String,
    pub period: PeriodView,
    /// The settlement currency every amount is in.
    pub currency: String,
    pub totals: CourseTotals,
    pub by_month: Vec<CourseMonth>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatorTotals {
    pub total_revenue: i64,
    pub creator_share: i64,
    pub course_count: i64,
    pub total_enrollments: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatorCourse {
    pub course_id: String,
    pub course_name: String,
    pub revenue: i64,
    pub enrollments: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatorRevenueReport {
    pub creator_id: String,
    /// Always null: the platform keeps no names of creators.
    pub creator_name: Option<String>,
    pub period: PeriodView,
    pub currency: String,
    pub totals: CreatorTotals,
    pub by_course: Vec<CreatorCourse>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstructorTotals {
    pub total_revenue: i64,
    pub instructor_share: i64,
    /// Distinct learners enrolled in the instructor's courses during the period and still enrolled.
    pub active_learners: i64,
    /// Always null: the platform receives no completion events yet.
    pub completed_learners: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstructorCourse {
    pub course_id: String,
    pub course_name: String,
    pub revenue: i64,
    pub learner_count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstructorRevenueReport {
    pub instructor_id: String,
    /// Always null: the platform keeps no names of instructors.
    pub instructor_name: Option<String>,
    pub period: PeriodView,
    pub currency: String,
    pub totals: InstructorTotals,
    pub by_course: Vec<InstructorCourse>,
}

pub const CSV_HEADER: &str = "entry_id,kind,reverses,refund_id,order_id,order_number,order_item_id,transaction_id,\
course_id,lms_course_id,course_name,department_id,learner_id,instructor_id,content_creator_id,currency,gross_minor,\
fee_minor,net_minor,platform_minor,platform_bps,creator_minor,creator_bps,instructor_minor,instructor_bps,\
settlement_currency,exchange_rate,s_gross_minor,s_fee_minor,s_net_minor,s_platform_minor,s_creator_minor,\
s_instructor_minor,status,synced_at,payout_ledger_entry_id,recorded_at\n";

/// One CSV field: quoted when it must be, and text that a spreadsheet would run as a formula
/// is prefixed with `'`.
fn field(raw: &str) -> String {
    let s = if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) && raw.parse::<f64>().is_err() {
        format!("'{raw}")
    } else {
        raw.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The entry's status: `synced-to-payout` once the Payout Platform has it, `recorded` before.
pub fn status(d: Option<&DeliveryOf>) -> &'static str {
    match d {
        Some(d) if d.status == "delivered" => "synced-to-payout",
        _ => "recorded",
    }
}

pub fn csv_row(e: &EntryRow, d: Option<&DeliveryOf>) -> String {
    let opt = |v: Option<uuid::Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
    let cols: Vec<String> = vec![
        e.id.to_string(),
        if e.kind == REVENUE {
            "revenue"
        } else {
            "reversal"
        }
        .to_string(),
        opt(e.reverses),
        opt(e.refund_id),
        e.order_id.to_string(),
        field(&e.order_number),
        e.order_item_id.to_string(),
        field(&e.transaction_id),
        e.course_id.to_string(),
        field(&e.lms_course_id),
        field(&e.course_name),
        field(&e.department_id),
        field(&e.learner_id),
        field(&e.instructor_id),
        field(&e.content_creator_id),
        e.currency.clone(),
        e.gross_minor.to_string(),
        e.fee_minor.to_string(),
        e.net_minor.to_string(),
        e.platform_minor.to_string(),
        e.platform_bps.to_string(),
        e.creator_minor.to_string(),
        e.creator_bps.to_string(),
        e.instructor_minor.to_string(),
        e.instructor_bps.to_string(),
        e.settlement_currency.clone(),
        e.exchange_rate.to_string(),
        e.s_gross_minor.to_string(),
        e.s_fee_minor.to_string(),
        e.s_net_minor.to_string(),
        e.s_platform_minor.to_string(),
        e.s_creator_minor.to_string(),
        e.s_instructor_minor.to_string(),
        status(d).to_string(),
        d.and_then(|d| d.delivered_at)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        field(
            d.and_then(|d| d.payout_entry_id.as_deref())
                .unwrap_or_default(),
        ),
        e.recorded_at.to_rfc3339(),
    ];
    let mut line = cols.join(",");
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(field("-12"), "-12");
    }
}
