//! `/api/v2/admin/reconciliation` (spec "Financial Audit"): billing-admins run a comparison of a
//! processor's charges and refunds with ours, list the runs, read a run's findings, and export
//! every compared item as CSV.

use crate::Payment;
use crate::storage::reconciliation::{self as store, ItemRow, RunRow};
use ::web::page::{Page, PageQuery};
use ::web::{ApiError, Authorized, Json, roles};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunBody {
    /// A processor of this deployment that lists its activity (`square`, `converge`).
    pub processor: String,
    pub from: DateTime<Utc>,
    /// Defaults to now; at most 31 days after `from`.
    pub to: Option<DateTime<Utc>>,
}

/// A run with the items that did not match.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    #[serde(flatten)]
    pub run: RunRow,
    pub findings: Vec<ItemRow>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunPage {
    pub items: Vec<RunRow>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(post, path = "/api/v2/admin/reconciliation", tag = "payments", security(("bearer" = [])), request_body = RunBody,
    responses((status = 201, body = RunView, description = "The run, with its findings (none when clean)"),
        (status = 400, description = "invalid_body"), (status = 401), (status = 403),
        (status = 422, description = "invalid_period, unknown_processor, processor_cannot_reconcile"),
        (status = 502, description = "processor_refused: the processor refused to list its activity"),
        (status = 503, description = "processor_unavailable")))]
pub async fn start(
    state: web::Data<Payment>,
    caller: Authorized<roles::BillingAdmin>,
    body: Json<RunBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.value;
    let to = b.to.unwrap_or_else(|| state.clock.now());
    let run = crate::reconcile::run(
        &state.db,
        &state.processors,
        &b.processor,
        b.from,
        to,
        &caller.user_id,
        state.clock.as_ref(),
    )
    .await?;
    let findings = store::items(&state.db, run.id, true).await?;
    Ok(HttpResponse::Created().json(RunView { run, findings }))
}

/// `?processor=&cursor=&limit=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    #[param(nullable = false)]
    pub processor: Option<String>,
    /// The `nextCursor` of the previous page (empty: the first page).
    #[param(
        nullable = false,
        pattern = "^$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    pub cursor: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(nullable = false, minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

#[utoipa::path(get, path = "/api/v2/admin/reconciliation", tag = "payments", security(("bearer" = [])), params(RunQuery),
    responses((status = 200, body = RunPage, description = "Runs, newest first"),
        (status = 400, description = "invalid_query"), (status = 401), (status = 403)))]
pub async fn list(
    state: web::Data<Payment>,
    _: Authorized<roles::BillingAdmin>,
    q: web::Query<RunQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery {
        cursor: q.cursor.clone(),
        limit: q.limit,
    };
    let limit = page.limit()?;
    let rows = store::runs(&state.db, q.processor.as_deref(), page.cursor()?, limit).await?;
    let p = Page::from_rows(rows, limit, |r| r.id.to_string());
    Ok(HttpResponse::Ok().json(RunPage {
        items: p.items,
        next_cursor: p.next_cursor,
    }))
}

async fn found(state: &Payment, id: &str) -> Result<RunRow, ApiError> {
    let missing = || ApiError::not_found(format!("no reconciliation run `{id}`"));
    let rid = Uuid::parse_str(id).map_err(|_| missing())?;
    store::run(&state.db, rid).await?.ok_or_else(missing)
}

#[utoipa::path(get, path = "/api/v2/admin/reconciliation/{id}", tag = "payments", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = RunView), (status = 401), (status = 403), (status = 404)))]
pub async fn show(
    state: web::Data<Payment>,
    _: Authorized<roles::BillingAdmin>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let run = found(&state, &id).await?;
    let findings = store::items(&state.db, run.id, true).await?;
    Ok(HttpResponse::Ok().json(RunView { run, findings }))
}

#[utoipa::path(get, path = "/api/v2/admin/reconciliation/{id}/items.csv", tag = "payments", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, content_type = "text/csv", body = String,
        description = "Every compared charge and refund, matched or not, one per line"),
        (status = 401), (status = 403), (status = 404)))]
pub async fn csv(
    state: web::Data<Payment>,
    _: Authorized<roles::BillingAdmin>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let run = found(&state, &id).await?;
    let items = store::items(&state.db, run.id, false).await?;
    let mut out = String::from(
        "finding,kind,processor_id,payment_id,refund_id,currency,ours_amount_minor,\
         theirs_amount_minor,ours_fee_minor,theirs_fee_minor,ours_status,theirs_status,at\n",
    );
    let opt = |v: Option<String>| v.unwrap_or_default();
    for i in &items {
        let fields = [
            i.finding.clone(),
            i.kind.clone(),
            opt(i.processor_id.clone()),
            opt(i.payment_id.map(|u| u.to_string())),
            opt(i.refund_id.map(|u| u.to_string())),
            i.currency.clone(),
            opt(i.ours_amount_minor.map(|v| v.to_string())),
            opt(i.theirs_amount_minor.map(|v| v.to_string())),
            opt(i.ours_fee_minor.map(|v| v.to_string())),
            opt(i.theirs_fee_minor.map(|v| v.to_string())),
            opt(i.ours_status.clone()),
            opt(i.theirs_status.clone()),
            opt(i.at.map(|t| t.to_rfc3339())),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"reconciliation-{}.csv\"", run.id),
        ))
        .body(out))
}

/// A CSV field (RFC 4180), never read as a formula by a spreadsheet.
fn csv_field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) && v.parse::<i64>().is_err() {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("-250"), "-250");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK()"), "'=HYPERLINK()");
    }
}
