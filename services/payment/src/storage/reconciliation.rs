//! Reconciliation runs and every item they compared (matched or a finding).

use crate::domain::reconciliation::{Item, OurCharge, OurRefund};
use crate::processor::ActivityKind;
use chrono::{DateTime, Utc};
use db::stmt as pg;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

#[derive(Debug, Clone, FromQueryResult, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunRow {
    pub id: Uuid,
    pub processor: String,
    pub period_from: DateTime<Utc>,
    pub period_to: DateTime<Utc>,
    /// The billing-admin, `scheduler`, or `cli`.
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Items compared (charges and refunds, either side).
    pub compared: i64,
    /// Items that did not match.
    pub differences: i64,
}

const RUN_COLS: &str = "id, processor, period_from, period_to, started_by, started_at, finished_at, compared, differences";

#[derive(Debug, Clone, FromQueryResult, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemRow {
    pub seq: i32,
    /// `matched`, `orphan_charge`, `missing_charge`, `duplicate_charge`, `status_mismatch`, `amount_mismatch`,
    /// `fee_mismatch`, `orphan_refund`, `missing_refund`, `refund_amount_mismatch`,
    /// `refund_status_mismatch`.
    pub finding: String,
    /// `charge` or `refund`.
    pub kind: String,
    pub processor_id: Option<String>,
    pub payment_id: Option<Uuid>,
    pub refund_id: Option<Uuid>,
    pub currency: String,
    pub ours_amount_minor: Option<i64>,
    pub theirs_amount_minor: Option<i64>,
    pub ours_fee_minor: Option<i64>,
    pub theirs_fee_minor: Option<i64>,
    pub ours_status: Option<String>,
    pub theirs_status: Option<String>,
    pub at: Option<DateTime<Utc>>,
}

const ITEM_COLS: &str = "seq, finding, kind, processor_id, payment_id, refund_id, currency, \
    ours_amount_minor, theirs_amount_minor, ours_fee_minor, theirs_fee_minor, ours_status, \
    theirs_status, at";

#[derive(Debug, FromQueryResult)]
struct ChargeRow {
    id: Uuid,
    processor_intent_id: String,
    status: String,
    amount_minor: i64,
    currency: String,
    processor_fee_minor: Option<i64>,
    at: DateTime<Utc>,
}

#[derive(Debug, FromQueryResult)]
struct RefundRow {
    id: Uuid,
    payment_id: Uuid,
    processor_refund_id: Option<String>,
    status: String,
    amount_minor: i64,
    currency: String,
    at: DateTime<Utc>,
}

/// Our payments and refunds through `processors` (the names sharing one account) around
/// `[from, to)`, and every one the processor's items name (`intents`, `refund_ids`) wherever in
/// time it lies.
pub async fn ours(
    c: &impl ConnectionTrait,
    processors: Vec<String>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    intents: Vec<String>,
    refund_ids: Vec<String>,
) -> Result<(Vec<OurCharge>, Vec<OurRefund>), DbErr> {
    // A payment is captured after it is created: a day before the period finds those the
    // period captured.
    let charges = ChargeRow::find_by_statement(pg(
        "SELECT id, processor_intent_id, status, amount_minor, currency, processor_fee_minor,
                COALESCE(processed_at, created_at) AS at
         FROM payments
         WHERE processor = ANY($1)
           AND ((created_at >= $2 - interval '1 day' AND created_at < $3)
                OR processor_intent_id = ANY($4))",
        vec![
            processors.clone().into(),
            from.into(),
            to.into(),
            intents.into(),
        ],
    ))
    .all(c)
    .await?;
    let refunds = RefundRow::find_by_statement(pg(
        "SELECT r.id, r.payment_id, r.processor_refund_id, r.status, r.amount_minor, r.currency,
                r.created_at AS at
         FROM refunds r JOIN payments p ON p.id = r.payment_id
         WHERE p.processor = ANY($1)
           AND ((r.created_at >= $2 AND r.created_at < $3) OR r.processor_refund_id = ANY($4))",
        vec![processors.into(), from.into(), to.into(), refund_ids.into()],
    ))
    .all(c)
    .await?;
    Ok((
        charges
            .into_iter()
            .map(|r| OurCharge {
                payment_id: r.id,
                intent_id: r.processor_intent_id,
                status: r.status,
                amount_minor: r.amount_minor,
                currency: r.currency,
                fee_minor: r.processor_fee_minor,
                at: r.at,
            })
            .collect(),
        refunds
            .into_iter()
            .map(|r| OurRefund {
                refund_id: r.id,
                payment_id: r.payment_id,
                processor_refund_id: r.processor_refund_id,
                status: r.status,
                amount_minor: r.amount_minor,
                currency: r.currency,
                at: r.at,
            })
            .collect(),
    ))
}

/// Records a finished run with its items.
pub async fn save(c: &impl ConnectionTrait, run: &RunRow, items: &[Item]) -> Result<(), DbErr> {
    c.execute_raw(pg(
        &format!(
            "INSERT INTO reconciliation_runs ({RUN_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ),
        vec![
            run.id.into(),
            run.processor.clone().into(),
            run.period_from.into(),
            run.period_to.into(),
            run.started_by.clone().into(),
            run.started_at.into(),
            run.finished_at.into(),
            run.compared.into(),
            run.differences.into(),
        ],
    ))
    .await?;
    if items.is_empty() {
        return Ok(());
    }
    // One statement for every item: a JSON array read as rows.
    let rows: Vec<serde_json::Value> = items
        .iter()
        .enumerate()
        .map(|(seq, i)| {
            serde_json::json!({
                "seq": seq,
                "finding": i.finding.as_str(),
                "kind": match i.kind {
                    ActivityKind::Charge => "charge",
                    ActivityKind::Refund => "refund",
                },
                "processor_id": i.processor_id,
                "payment_id": i.payment_id,
                "refund_id": i.refund_id,
                "currency": i.currency,
                "ours_amount_minor": i.ours_amount_minor,
                "theirs_amount_minor": i.theirs_amount_minor,
                "ours_fee_minor": i.ours_fee_minor,
                "theirs_fee_minor": i.theirs_fee_minor,
                "ours_status": i.ours_status,
                "theirs_status": i.theirs_status,
                "at": i.at,
            })
        })
        .collect();
    c.execute_raw(pg(
        "INSERT INTO reconciliation_items (run_id, seq, finding, kind, processor_id, payment_id,
             refund_id, currency, ours_amount_minor, theirs_amount_minor, ours_fee_minor,
             theirs_fee_minor, ours_status, theirs_status, at)
         SELECT $1, x.* FROM jsonb_to_recordset($2::jsonb) AS x(seq int, finding text, kind text,
             processor_id text, payment_id uuid, refund_id uuid, currency text,
             ours_amount_minor bigint, theirs_amount_minor bigint, ours_fee_minor bigint,
             theirs_fee_minor bigint, ours_status text, theirs_status text, at timestamptz)",
        vec![run.id.into(), serde_json::Value::Array(rows).into()],
    ))
    .await?;
    Ok(())
}

/// Where the last scheduled run of `processor` ended, if there was one.
pub async fn scheduled_until(
    c: &impl ConnectionTrait,
    processor: &str,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let row = c
        .query_one_raw(pg(
            "SELECT max(period_to) AS until FROM reconciliation_runs
             WHERE processor = $1 AND started_by = 'scheduler'",
            vec![processor.into()],
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<Option<DateTime<Utc>>>("", "until"))
        .transpose()?
        .flatten())
}

/// Runs newest first, of one processor when given.
pub async fn runs(
    c: &impl ConnectionTrait,
    processor: Option<&str>,
    cursor: Option<Uuid>,
    limit: u64,
) -> Result<Vec<RunRow>, DbErr> {
    let mut w = db::Filters::new();
    w.add_opt("processor = ?", processor.map(str::to_string))
        .add_opt("id < ?", cursor);
    RunRow::find_by_statement(w.query(
        &format!("{RUN_COLS} FROM reconciliation_runs"),
        "ORDER BY id DESC",
        limit + 1,
    ))
    .all(c)
    .await
}

pub async fn run(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<RunRow>, DbErr> {
    RunRow::find_by_statement(pg(
        &format!("SELECT {RUN_COLS} FROM reconciliation_runs WHERE id = $1"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

/// A run's items in the order compared; only the differences when `findings_only`.
pub async fn items(
    c: &impl ConnectionTrait,
    run: Uuid,
    findings_only: bool,
) -> Result<Vec<ItemRow>, DbErr> {
    let only = if findings_only {
        "AND finding <> 'matched'"
    } else {
        ""
    };
    ItemRow::find_by_statement(pg(
        &format!(
            "SELECT {ITEM_COLS} FROM reconciliation_items WHERE run_id = $1 {only} ORDER BY seq"
        ),
        vec![run.into()],
    ))
    .all(c)
    .await
}
