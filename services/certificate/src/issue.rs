//! Issuing and revoking, shared by the consumers and the admin routes. Each function runs in
//! the caller's transaction and writes its events to the outbox in it.

use crate::domain::certificate::{self, Kind};
use crate::storage::{self, CertificateRow, NewCertificate};
use crate::{SOURCE, events};
use chrono::{DateTime, Datelike, Duration, Utc};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

/// What a course certificate is for.
pub struct CourseIssue<'a> {
    pub user_id: &'a str,
    pub recipient_name: &'a str,
    pub course_id: Uuid,
    pub course_title: &'a str,
    pub department_id: &'a str,
    pub completed_at: DateTime<Utc>,
    pub percentage: Option<i32>,
    pub valid_for_days: Option<u32>,
    /// `lms` for an automatic issue, the admin's id otherwise.
    pub issued_by: &'a str,
    pub reason: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// 112 bits from the operating system's CSPRNG (the random bits of a v4 UUID). Not an id: a
/// secret-enough code, so the time-ordered v7 the project uses for ids would be wrong here.
#[allow(clippy::disallowed_methods)]
fn random_code_bytes() -> [u8; 14] {
    let u = Uuid::new_v4();
    let b = u.as_bytes();
    // Bytes 6 and 8 carry the version and variant bits: leave them out.
    let mut out = [0u8; 14];
    out[..6].copy_from_slice(&b[..6]);
    out[6] = b[7];
    out[7..].copy_from_slice(&b[9..]);
    out
}

fn new_number(now: DateTime<Utc>) -> Result<String, DbErr> {
    certificate::number(now.year(), &random_code_bytes())
        .ok_or_else(|| DbErr::Custom("certificate number: not enough random bytes".into()))
}

async fn template_of(c: &impl ConnectionTrait, department: &str) -> Result<Option<Uuid>, DbErr> {
    Ok(storage::default_template(c, department)
        .await?
        .map(|t| t.id))
}

async fn publish(
    c: &impl ConnectionTrait,
    row: &CertificateRow,
    reason: Option<&str>,
) -> Result<(), DbErr> {
    let subject = if row.status == "revoked" {
        ::events::subjects::CERTIFICATE_REVOKED
    } else {
        ::events::subjects::CERTIFICATE_ISSUED
    };
    bus::outbox::enqueue(
        c,
        SOURCE,
        subject,
        &events::certificate_changed(row, reason),
    )
    .await?;
    Ok(())
}

/// Issues the course certificate unless the learner already has one (`None` then), then any
/// program certificate the course completes. Returns the course certificate it issued.
pub async fn course(
    c: &impl ConnectionTrait,
    i: &CourseIssue<'_>,
) -> Result<Option<CertificateRow>, DbErr> {
    lock_learner(c, i.user_id).await?;
    let template_id = template_of(c, i.department_id).await?;
    let expires_at = i
        .valid_for_days
        .map(|d| i.completed_at + Duration::days(i64::from(d)));
    let number = new_number(i.now)?;
    let Some(row) = storage::insert(
        c,
        &NewCertificate {
            id: Uuid::now_v7(),
            number: &number,
            kind: Kind::Course,
            user_id: i.user_id,
            recipient_name: i.recipient_name,
            course_id: Some(i.course_id),
            program_id: None,
            description: i.course_title,
            department_id: i.department_id,
            template_id,
            percentage: i.percentage,
            completed_at: i.completed_at,
            issued_at: i.now,
            expires_at,
            issued_by: i.issued_by,
            issue_reason: i.reason,
        },
    )
    .await?
    else {
        return Ok(None);
    };
    publish(c, &row, i.reason).await?;
    programs_completed_by(c, &row, i.now).await?;
    Ok(Some(row))
}

/// Serialises one learner's certificate decisions (issue, revoke, refund) in the caller's
/// transaction: two courses of a program completed at once, or a completion racing a refund,
/// cannot each miss the other. Learners never wait for each other.
pub async fn lock_learner(c: &impl ConnectionTrait, user_id: &str) -> Result<(), DbErr> {
    c.execute_raw(db::stmt(
        "SELECT pg_advisory_xact_lock(hashtextextended('certificate:' || $1, 0))",
        vec![user_id.into()],
    ))
    .await?;
    Ok(())
}

/// Issues a program certificate for each program the learner bought that holds `course` and
/// whose every course now has an active certificate.
async fn programs_completed_by(
    c: &impl ConnectionTrait,
    course: &CertificateRow,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let Some(course_id) = course.course_id else {
        return Ok(());
    };
    let holdings = storage::active_holdings_of_course(c, &course.user_id, course_id).await?;
    programs_completed(c, &course.user_id, holdings, now).await
}

/// Issues the program certificate of each program among `holdings` whose every course has an
/// active certificate (once per learner and program). The caller holds the learner's lock.
pub async fn programs_completed(
    c: &impl ConnectionTrait,
    user_id: &str,
    holdings: Vec<storage::HoldingRow>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut seen = Vec::new();
    for h in holdings {
        let (Some(program_id), Some(title)) = (h.program_id, h.program_title.as_deref()) else {
            continue;
        };
        if seen.contains(&program_id) {
            continue;
        }
        seen.push(program_id);
        let members = h.program_courses();
        if members.is_empty() {
            continue;
        }
        let certified = storage::active_of_courses(c, user_id, &members).await?;
        if certified.len() < members.len() {
            continue;
        }
        // Completed when its last course was, in the name its last certificate carries.
        let Some(last) = certified.iter().max_by_key(|x| x.completed_at) else {
            continue;
        };
        let number = new_number(now)?;
        let template_id = template_of(c, &h.department_id).await?;
        if let Some(row) = storage::insert(
            c,
            &NewCertificate {
                id: Uuid::now_v7(),
                number: &number,
                kind: Kind::Program,
                user_id,
                recipient_name: &last.recipient_name,
                course_id: None,
                program_id: Some(program_id),
                description: title,
                department_id: &h.department_id,
                template_id,
                percentage: None,
                completed_at: last.completed_at,
                issued_at: now,
                expires_at: None,
                issued_by: "auto",
                issue_reason: None,
            },
        )
        .await?
        {
            publish(c, &row, None).await?;
        }
    }
    Ok(())
}

/// Revokes an active certificate, and for a course certificate every active program
/// certificate that depended on it. `None`: it was already revoked.
pub async fn revoke(
    c: &impl ConnectionTrait,
    id: Uuid,
    reason: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<CertificateRow>, DbErr> {
    let Some(row) = storage::revoke(c, id, reason, by, now).await? else {
        return Ok(None);
    };
    publish(c, &row, Some(reason)).await?;
    if let Some(course_id) = row.course_id {
        for p in storage::active_programs_with(c, &row.user_id, course_id).await? {
            let why = format!("{reason} (its course {} was revoked)", row.number);
            if let Some(p) = storage::revoke(c, p.id, &why, by, now).await? {
                publish(c, &p, Some(&why)).await?;
            }
        }
    }
    Ok(Some(row))
}
