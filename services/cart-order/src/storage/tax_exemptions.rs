//! Tax exemptions: submitted by a learner (for their own orders) or a dept-admin (for their
//! department's lines), approved or rejected once by a billing-admin.

use chrono::{DateTime, Utc};
use db::stmt as pg;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

/// A tax exemption; it is shown as it is stored (`ExemptionView` in the API document).
#[derive(Debug, Clone, FromQueryResult, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ExemptionView)]
pub struct ExemptionRow {
    pub id: Uuid,
    pub user_id: Option<String>,
    pub department_id: Option<String>,
    pub organisation: String,
    pub exemption_type: String,
    pub country: String,
    pub region: Option<String>,
    pub certificate_ref: String,
    pub expires_at: DateTime<Utc>,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    pub submitted_by: String,
    pub created_at: DateTime<Utc>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub review_reason: Option<String>,
}

const COLS: &str = "id, user_id, department_id, organisation, exemption_type, country, region, \
    certificate_ref, expires_at, status, submitted_by, created_at, reviewed_by, reviewed_at, review_reason";

impl ExemptionRow {
    /// Whether it covers a purchase billed to `country`/`region` at `now`.
    pub fn covers(&self, country: &str, region: Option<&str>, now: DateTime<Utc>) -> bool {
        self.status == "approved"
            && self.expires_at > now
            && self.country == country
            && self.region.as_deref().is_none_or(|r| Some(r) == region)
    }
}

/// What a submission says.
#[derive(Debug, Clone)]
pub struct NewExemption {
    pub user_id: Option<String>,
    pub department_id: Option<String>,
    pub organisation: String,
    pub exemption_type: String,
    pub country: String,
    pub region: Option<String>,
    pub certificate_ref: String,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert(
    c: &impl ConnectionTrait,
    e: &NewExemption,
    by: &str,
    now: DateTime<Utc>,
) -> Result<ExemptionRow, DbErr> {
    ExemptionRow::find_by_statement(pg(
        &format!(
            "INSERT INTO tax_exemptions (id, user_id, department_id, organisation, exemption_type, country, region,
                 certificate_ref, expires_at, status, submitted_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $11) RETURNING {COLS}"
        ),
        vec![
            kernel::new_id().into(),
            e.user_id.clone().into(),
            e.department_id.clone().into(),
            e.organisation.clone().into(),
            e.exemption_type.clone().into(),
            e.country.clone().into(),
            e.region.clone().into(),
            e.certificate_ref.clone().into(),
            e.expires_at.into(),
            by.into(),
            now.into(),
        ],
    ))
    .one(c)
    .await?
    .ok_or(DbErr::RecordNotInserted)
}

pub async fn exemption(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<ExemptionRow>, DbErr> {
    ExemptionRow::find_by_statement(pg(
        &format!("SELECT {COLS} FROM tax_exemptions WHERE id = $1"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

/// Approves or rejects a pending exemption, once; `None` when it is no longer pending.
pub async fn review(
    c: &impl ConnectionTrait,
    id: Uuid,
    approve: bool,
    by: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<ExemptionRow>, DbErr> {
    ExemptionRow::find_by_statement(pg(
        &format!(
            "UPDATE tax_exemptions SET status = $2, reviewed_by = $3, reviewed_at = $4, review_reason = $5
             WHERE id = $1 AND status = 'pending' RETURNING {COLS}"
        ),
        vec![
            id.into(),
            if approve { "approved" } else { "rejected" }.into(),
            by.into(),
            now.into(),
            reason.map(str::to_string).into(),
        ],
    ))
    .one(c)
    .await
}

/// Approved exemptions of `user` and of `departments` (the checkout picks those that cover it).
pub async fn approved_for(
    c: &impl ConnectionTrait,
    user: &str,
    departments: &[String],
) -> Result<Vec<ExemptionRow>, DbErr> {
    ExemptionRow::find_by_statement(pg(
        &format!(
            "SELECT {COLS} FROM tax_exemptions
             WHERE status = 'approved' AND (user_id = $1 OR department_id = ANY($2)) ORDER BY id"
        ),
        vec![user.into(), departments.to_vec().into()],
    ))
    .all(c)
    .await
}

/// Exemptions newest first: `submitted_by` one submitter's; `status` one status's.
pub async fn list(
    c: &impl ConnectionTrait,
    submitted_by: Option<&str>,
    status: Option<&str>,
    cursor: Option<Uuid>,
    limit: u64,
) -> Result<Vec<ExemptionRow>, DbErr> {
    let mut w = db::Filters::new();
    w.add_opt("submitted_by = ?", submitted_by.map(str::to_string))
        .add_opt("status = ?", status.map(str::to_string))
        .add_opt("id < ?", cursor);
    ExemptionRow::find_by_statement(w.query(
        &format!("{COLS} FROM tax_exemptions"),
        "ORDER BY id DESC",
        limit + 1,
    ))
    .all(c)
    .await
}
