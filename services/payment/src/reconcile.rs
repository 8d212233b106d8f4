//! Reconciliation runs: one processor's activity over a period against ours, stored with every
//! item compared. Started by a billing-admin, by the schedule, or by `commerce reconcile`.

use crate::domain::reconciliation;
use crate::processor::{ActivityKind, ProcessorError, Processors};
use crate::storage::reconciliation::{self as store, RunRow};
use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, TransactionTrait};
use web::ApiError;

/// The longest period one run compares (a processor lists it in one go).
pub const MAX_PERIOD_DAYS: i64 = 31;

/// Compares `processor`'s charges and refunds in `[from, to)` with ours and records the run.
pub async fn run(
    db: &DatabaseConnection,
    processors: &Processors,
    processor: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    started_by: &str,
    clock: &dyn kernel::Clock,
) -> Result<RunRow, ApiError> {
    let started_at = clock.now();
    if to <= from || to - from > chrono::Duration::days(MAX_PERIOD_DAYS) {
        return Err(ApiError::rule(
            "invalid_period",
            format!("the period must end after it starts and span at most {MAX_PERIOD_DAYS} days"),
        )
        .with_field("to"));
    }
    let p = processors.by_name(processor).ok_or_else(|| {
        ApiError::rule(
            "unknown_processor",
            format!("no processor `{processor}` in this deployment"),
        )
        .with_field("processor")
    })?;
    if !p.lists_activity() {
        return Err(ApiError::rule(
            "processor_cannot_reconcile",
            format!("{processor} keeps no list of its charges and refunds to compare"),
        )
        .with_field("processor"));
    }
    // The processor is asked with no transaction open, over a wider window: it lists a charge
    // by its creation (a Stripe PaymentIntent's), ours by its capture.
    let pad = chrono::Duration::days(1);
    let theirs = p
        .activity(from - pad, to + pad)
        .await
        .map_err(|e| match e {
            ProcessorError::Retryable(m) => ApiError::unavailable("processor_unavailable", m),
            other => ApiError::new(
                actix_web::http::StatusCode::BAD_GATEWAY,
                "processor_refused",
                other.to_string(),
            ),
        })?;
    let intents = theirs
        .iter()
        .filter(|a| a.kind == ActivityKind::Charge)
        .filter_map(|a| a.intent_id.clone())
        .collect();
    let refund_ids = theirs
        .iter()
        .filter(|a| a.kind == ActivityKind::Refund)
        .map(|a| a.id.clone())
        .collect();
    // The account's activity is compared with the payments of every name it serves (Google Pay
    // payments are Stripe's too).
    let names = processors.sharing_account(processor);
    let (charges, refunds) = store::ours(db, names, from, to, intents, refund_ids).await?;
    let items = reconciliation::compare(&theirs, &charges, &refunds, |t| t >= from && t < to);
    let differences = items
        .iter()
        .filter(|i| i.finding != reconciliation::Finding::Matched)
        .count();
    let row = RunRow {
        id: kernel::new_id(),
        processor: processor.to_string(),
        period_from: from,
        period_to: to,
        started_by: started_by.to_string(),
        started_at,
        finished_at: clock.now(),
        compared: i64::try_from(items.len()).unwrap_or(i64::MAX),
        differences: i64::try_from(differences).unwrap_or(i64::MAX),
    };
    let txn = db.begin().await?;
    store::save(&txn, &row, &items).await?;
    txn.commit().await?;
    if differences > 0 {
        tracing::warn!(processor, run = %row.id, differences, "reconciliation found differences");
    }
    Ok(row)
}
