//! What the API answers: a learner's certificate, the public verification, templates, criteria.

use crate::domain::criteria::Criteria;
use crate::domain::template::Design;
use crate::storage::{CertificateRow, TemplateRow};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// A certificate as its holder (or an admin) sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateView {
    pub id: Uuid,
    pub certificate_number: String,
    pub user_id: String,
    pub recipient_name: String,
    /// `course` | `program`
    pub certificate_type: String,
    pub course_id: Option<Uuid>,
    pub program_id: Option<Uuid>,
    pub department_id: String,
    pub title: String,
    /// The course or program name.
    pub description: String,
    pub percentage: Option<i32>,
    pub completed_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub template_id: Option<Uuid>,
    /// `active` | `revoked`
    pub status: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
    /// `lms` when the LMS completion issued it, otherwise the admin who did.
    pub issued_by: String,
    pub verification_url: String,
    /// A public page showing the same facts as the verification.
    pub share_url: String,
    pub download_url: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificatePage {
    pub items: Vec<CertificateView>,
    pub next_cursor: Option<String>,
}

/// What anyone may learn from a certificate number: no email, no user id.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub certificate_number: String,
    pub valid: bool,
    /// `active` | `revoked` | `expired`
    pub status: String,
    pub holder_name: String,
    pub certificate_type: String,
    /// The course or program completed.
    pub completed: String,
    pub completed_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
}

pub struct Urls<'a> {
    pub base: &'a str,
}

impl Urls<'_> {
    pub fn verification(&self, number: &str) -> String {
        format!("{}/api/v2/certificates/verify/{number}", self.base)
    }
    pub fn share(&self, number: &str) -> String {
        format!("{}/api/v2/certificates/share/{number}", self.base)
    }
}

impl CertificateRow {
    pub fn view(&self, urls: &Urls<'_>, title: &str) -> CertificateView {
        CertificateView {
            id: self.id,
            certificate_number: self.number.clone(),
            user_id: self.user_id.clone(),
            recipient_name: self.recipient_name.clone(),
            certificate_type: self.kind.clone(),
            course_id: self.course_id,
            program_id: self.program_id,
            department_id: self.department_id.clone(),
            title: title.to_string(),
            description: self.description.clone(),
            percentage: self.percentage,
            completed_at: self.completed_at,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            template_id: self.template_id,
            status: self.status.clone(),
            revoked_at: self.revoked_at,
            revoked_reason: self.revoked_reason.clone(),
            issued_by: self.issued_by.clone(),
            verification_url: urls.verification(&self.number),
            share_url: urls.share(&self.number),
            download_url: format!("{}/api/v2/certificates/{}/download", urls.base, self.id),
        }
    }

    pub fn verification(&self, now: DateTime<Utc>) -> Verification {
        let expired = self.expires_at.is_some_and(|e| e <= now);
        let status = if self.status == "revoked" {
            "revoked"
        } else if expired {
            "expired"
        } else {
            "active"
        };
        Verification {
            certificate_number: self.number.clone(),
            valid: status == "active",
            status: status.into(),
            holder_name: self.recipient_name.clone(),
            certificate_type: self.kind.clone(),
            completed: self.description.clone(),
            completed_at: self.completed_at,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            revoked_reason: self.revoked_reason.clone(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateView {
    pub id: Uuid,
    pub department_id: String,
    pub is_default: bool,
    pub version: i32,
    #[serde(flatten)]
    pub design: Design,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TemplateView {
    pub fn of(t: &TemplateRow, design: Design) -> TemplateView {
        TemplateView {
            id: t.id,
            department_id: t.department_id.clone(),
            is_default: t.is_default,
            version: t.version,
            design,
            created_by: t.created_by.clone(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplatePage {
    pub items: Vec<TemplateView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CriteriaView {
    pub course_id: Uuid,
    pub department_id: String,
    /// False when no criteria were set and these are the defaults (all modules).
    pub is_set: bool,
    #[serde(flatten)]
    pub criteria: Criteria,
}
