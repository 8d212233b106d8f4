//! From a stored certificate to what is printed: the PDF's facts, its ETag, the share page.

use crate::pdf::Printed;
use crate::storage::CertificateRow;
use crate::views::{Urls, Verification};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

fn date(t: DateTime<Utc>) -> String {
    t.format("%-d %B %Y").to_string()
}

pub fn printed(c: &CertificateRow, urls: &Urls<'_>) -> Printed {
    Printed {
        recipient_name: c.recipient_name.clone(),
        course_name: c.description.clone(),
        certificate_type: c.kind.clone(),
        completion_date: date(c.completed_at),
        issue_date: date(c.issued_at),
        expiry_date: c.expires_at.map(date),
        number: c.number.clone(),
        verification_url: urls.verification(&c.number),
        revoked: c.revoked_at.map(|at| {
            format!(
                "REVOKED on {}: {}",
                date(at),
                c.revoked_reason.as_deref().unwrap_or("no reason given")
            )
        }),
    }
}

/// Changes whenever the PDF would: the certificate's state, its template's version, the base
/// URL the verification link is built from, and the renderer itself.
pub fn etag(c: &CertificateRow, design_version: &str, base_url: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        c.id.to_string().as_str(),
        c.status.as_str(),
        &c.revoked_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        design_version,
        base_url,
        env!("CARGO_PKG_VERSION"),
        "pdf-layout-1",
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The public page a share link opens: the facts the verification gives, nothing more.
pub fn share_page(v: &Verification, verification_url: &str) -> String {
    let status = match v.status.as_str() {
        "active" => "Valid".to_string(),
        "expired" => "Expired".to_string(),
        _ => format!(
            "Revoked{}{}",
            v.revoked_at
                .map(|t| format!(" on {}", date(t)))
                .unwrap_or_default(),
            v.revoked_reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
    };
    let colour = if v.valid { "#1b7f3b" } else { "#b00020" };
    let expiry = v
        .expires_at
        .map(|t| format!("<dt>Valid until</dt><dd>{}</dd>", date(t)))
        .unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Certificate {number}</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}}\
.status{{font-weight:bold;color:{colour}}}dt{{font-weight:bold;margin-top:.6rem}}dd{{margin:0}}</style>\
</head><body><h1>Certificate of completion</h1>\
<p class=\"status\">{status}</p><dl>\
<dt>Awarded to</dt><dd>{holder}</dd>\
<dt>For completing the {kind}</dt><dd>{completed}</dd>\
<dt>Completed</dt><dd>{completed_at}</dd>\
<dt>Issued</dt><dd>{issued_at}</dd>{expiry}\
<dt>Certificate number</dt><dd>{number}</dd></dl>\
<p><a href=\"{url}\">Machine-readable verification</a></p></body></html>\n",
        number = escape(&v.certificate_number),
        status = escape(&status),
        holder = escape(&v.holder_name),
        kind = escape(&v.certificate_type),
        completed = escape(&v.completed),
        completed_at = date(v.completed_at),
        issued_at = date(v.issued_at),
        url = escape(verification_url),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_page_escapes_what_learners_typed() {
        let now = DateTime::<Utc>::from_timestamp(1_764_300_000, 0).unwrap();
        let v = Verification {
            certificate_number: "CERT-2026-0000000000000000".into(),
            valid: false,
            status: "revoked".into(),
            holder_name: "<script>alert(1)</script> Zoë".into(),
            certificate_type: "course".into(),
            completed: "Rust & \"Friends\"".into(),
            completed_at: now,
            issued_at: now,
            expires_at: None,
            revoked_at: Some(now),
            revoked_reason: Some("refund".into()),
        };
        let html = share_page(&v, "https://x/verify/CERT");
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Zoë"));
        assert!(html.contains("Rust &amp; &quot;Friends&quot;"));
        assert!(html.contains("Revoked on"));
    }
}
