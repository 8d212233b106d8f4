//! Certificates and their audit trail.

use crate::domain::certificate::Kind;
use chrono::{DateTime, Utc};
use db::stmt as pg;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

#[derive(Debug, Clone, FromQueryResult)]
pub struct CertificateRow {
    pub id: Uuid,
    pub number: String,
    pub kind: String,
    pub user_id: String,
    pub recipient_name: String,
    pub course_id: Option<Uuid>,
    pub program_id: Option<Uuid>,
    pub description: String,
    pub department_id: String,
    pub template_id: Option<Uuid>,
    pub percentage: Option<i32>,
    pub completed_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub issued_by: String,
    pub issue_reason: Option<String>,
    pub status: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
    pub revoked_by: Option<String>,
}

const CERT: &str = "id, number, kind, user_id, recipient_name, course_id, program_id, description,
    department_id, template_id, percentage, completed_at, issued_at, expires_at, issued_by,
    issue_reason, status, revoked_at, revoked_reason, revoked_by";

pub struct NewCertificate<'a> {
    pub id: Uuid,
    pub number: &'a str,
    pub kind: Kind,
    pub user_id: &'a str,
    pub recipient_name: &'a str,
    pub course_id: Option<Uuid>,
    pub program_id: Option<Uuid>,
    pub description: &'a str,
    pub department_id: &'a str,
    pub template_id: Option<Uuid>,
    pub percentage: Option<i32>,
    pub completed_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub issued_by: &'a str,
    pub issue_reason: Option<&'a str>,
}

/// Inserts the certificate unless the learner already has one for the course or program
/// (`None` then: nothing was issued).
pub async fn insert(
    c: &impl ConnectionTrait,
    n: &NewCertificate<'_>,
) -> Result<Option<CertificateRow>, DbErr> {
    let row = CertificateRow::find_by_statement(pg(
        &format!(
            "INSERT INTO certificates (id, number, kind, user_id, recipient_name, course_id, program_id,
                 description, department_id, template_id, percentage, completed_at, issued_at,
                 expires_at, issued_by, issue_reason, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 'active')
             ON CONFLICT DO NOTHING
             RETURNING {CERT}"
        ),
        vec![
            n.id.into(),
            n.number.into(),
            n.kind.as_str().into(),
            n.user_id.into(),
            n.recipient_name.into(),
            n.course_id.into(),
            n.program_id.into(),
            n.description.into(),
            n.department_id.into(),
            n.template_id.into(),
            n.percentage.into(),
            n.completed_at.into(),
            n.issued_at.into(),
            n.expires_at.into(),
            n.issued_by.into(),
            n.issue_reason.map(str::to_string).into(),
        ],
    ))
    .one(c)
    .await?;
    if let Some(r) = &row {
        audit(c, r.id, "issued", n.issued_by, n.issue_reason, n.issued_at).await?;
    }
    Ok(row)
}

pub async fn audit(
    c: &impl ConnectionTrait,
    id: Uuid,
    action: &str,
    actor: &str,
    reason: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    c.execute_raw(pg(
        "INSERT INTO audit (certificate_id, action, actor, reason, at) VALUES ($1, $2, $3, $4, $5)",
        vec![
            id.into(),
            action.into(),
            actor.into(),
            reason.map(str::to_string).into(),
            at.into(),
        ],
    ))
    .await?;
    Ok(())
}

pub async fn get(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<CertificateRow>, DbErr> {
    CertificateRow::find_by_statement(pg(
        &format!("SELECT {CERT} FROM certificates WHERE id = $1"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

pub async fn lock(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<CertificateRow>, DbErr> {
    CertificateRow::find_by_statement(pg(
        &format!("SELECT {CERT} FROM certificates WHERE id = $1 FOR UPDATE"),
        vec![id.into()],
    ))
    .one(c)
    .await
}

pub async fn by_number(
    c: &impl ConnectionTrait,
    number: &str,
) -> Result<Option<CertificateRow>, DbErr> {
    CertificateRow::find_by_statement(pg(
        &format!("SELECT {CERT} FROM certificates WHERE number = $1"),
        vec![number.into()],
    ))
    .one(c)
    .await
}

/// The learner's course certificate for `course_id`, if any.
pub async fn of_course(
    c: &impl ConnectionTrait,
    user_id: &str,
    course_id: Uuid,
) -> Result<Option<CertificateRow>, DbErr> {
    CertificateRow::find_by_statement(pg(
        &format!(
            "SELECT {CERT} FROM certificates WHERE user_id = $1 AND course_id = $2 AND kind = 'course'"
        ),
        vec![user_id.into(), course_id.into()],
    ))
    .one(c)
    .await
}

/// The learner's active course certificates among `courses`.
pub async fn active_of_courses(
    c: &impl ConnectionTrait,
    user_id: &str,
    courses: &[Uuid],
) -> Result<Vec<CertificateRow>, DbErr> {
    CertificateRow::find_by_statement(pg(
        &format!(
            "SELECT {CERT} FROM certificates
             WHERE user_id = $1 AND kind = 'course' AND status = 'active' AND course_id = ANY($2)"
        ),
        vec![user_id.into(), courses.to_vec().into()],
    ))
    .all(c)
    .await
}

/// The learner's active program certificates of programs that include `course_id`.
pub async fn active_programs_with(
    c: &impl ConnectionTrait,
    user_id: &str,
    course_id: Uuid,
) -> Result<Vec<CertificateRow>, DbErr> {
    CertificateRow::find_by_statement(pg(
        &format!(
            "SELECT {CERT} FROM certificates
             WHERE user_id = $1 AND kind = 'program' AND status = 'active'
               AND program_id IN (SELECT program_id FROM holdings
                                  WHERE user_id = $1 AND course_id = $2 AND program_id IS NOT NULL)
             FOR UPDATE"
        ),
        vec![user_id.into(), course_id.into()],
    ))
    .all(c)
    .await
}

/// One page of certificates, newest first: the learner's own, or (admin) those of the given
/// departments (all when `None`).
pub async fn page(
    c: &impl ConnectionTrait,
    user_id: Option<&str>,
    departments: Option<&[String]>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<CertificateRow>, DbErr> {
    let mut f = db::Filters::new();
    f.add_opt("user_id = ?", user_id.map(str::to_string));
    if let Some(d) = departments {
        f.add("department_id = ANY(?)", d.to_vec());
    }
    f.add_opt("id < ?", before);
    CertificateRow::find_by_statement(f.query(
        &format!("{CERT} FROM certificates"),
        "ORDER BY id DESC",
        limit + 1,
    ))
    .all(c)
    .await
}

/// Revokes a locked, active certificate.
pub async fn revoke(
    c: &impl ConnectionTrait,
    id: Uuid,
    reason: &str,
    by: &str,
    at: DateTime<Utc>,
) -> Result<Option<CertificateRow>, DbErr> {
    let row = CertificateRow::find_by_statement(pg(
        &format!(
            "UPDATE certificates SET status = 'revoked', revoked_at = $2, revoked_reason = $3,
                 revoked_by = $4
             WHERE id = $1 AND status = 'active'
             RETURNING {CERT}"
        ),
        vec![id.into(), at.into(), reason.into(), by.into()],
    ))
    .one(c)
    .await?;
    if row.is_some() {
        audit(c, id, "revoked", by, Some(reason), at).await?;
    }
    Ok(row)
}

/// The learner's active certificate for a program, if any.
pub async fn active_program(
    c: &impl ConnectionTrait,
    user_id: &str,
    program_id: Uuid,
) -> Result<Vec<CertificateRow>, DbErr> {
    CertificateRow::find_by_statement(pg(
        &format!(
            "SELECT {CERT} FROM certificates
             WHERE user_id = $1 AND program_id = $2 AND kind = 'program' AND status = 'active'"
        ),
        vec![user_id.into(), program_id.into()],
    ))
    .all(c)
    .await
}
