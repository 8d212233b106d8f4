//! Certificates (certificate service): LMS completions checked against each course's criteria
//! issue one certificate per learner and course, the last course of a bought program issues the
//! program's, PDFs render every name and carry the verification URL as text and QR code, anyone
//! can verify a number, admins revoke, and a full refund revokes.

use crate::helpers::shop::*;
use crate::helpers::*;
use crate::refunds::refund;
use fake_lms::Completion;
use reqwest::StatusCode;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use testkit::eventually;

/// Buys `courses` (ids) for `learner` and waits until the certificate service knows it holds
/// `held` courses.
async fn buy(
    shop: &Shop,
    learner: &str,
    user: &str,
    kind: &str,
    ids: &[&str],
    held: i64,
) -> String {
    for id in ids {
        shop.add(learner, kind, id).await;
    }
    let order = shop.checkout(learner).await;
    let oid = order["id"].as_str().unwrap().to_string();
    if order["status"] != "completed" {
        let paid = shop.pay(learner, &oid, "pm_card_visa").await;
        assert_eq!(paid["status"], "succeeded");
    }
    shop.order_status(learner, &oid, "completed").await;
    let db = shop.env.schema("certificate").await;
    let sql = format!("SELECT count(*) FROM holdings WHERE user_id = '{user}'");
    eventually(WAIT, "holdings recorded", || async {
        (count(&db, &sql).await >= held).then_some(())
    })
    .await;
    oid
}

/// Waits until `user` has `n` completions on record, and returns their outcomes, oldest first.
async fn outcomes(db: &DatabaseConnection, user: &str, n: i64) -> Vec<String> {
    let sql = format!("SELECT count(*) FROM completions WHERE user_id = '{user}'");
    eventually(WAIT, &format!("{n} completions of {user}"), || async {
        (count(db, &sql).await >= n).then_some(())
    })
    .await;
    use sea_orm::{ConnectionTrait, Statement};
    db.query_all_raw(Statement::from_string(
        sea_orm::DatabaseBackend::Postgres,
        format!("SELECT outcome FROM completions WHERE user_id = '{user}' ORDER BY received_at"),
    ))
    .await
    .unwrap()
    .iter()
    .map(|r| r.try_get::<String>("", "outcome").unwrap())
    .collect()
}

async fn certs(shop: &Shop, token: &str) -> Vec<Value> {
    items(&get_as_ok(&shop.app, token, "/api/v2/certificates").await).clone()
}

/// Waits until `token` holds `n` certificates.
async fn certs_n(shop: &Shop, token: &str, n: usize) -> Vec<Value> {
    eventually(WAIT, &format!("{n} certificates"), || async {
        let c = certs(shop, token).await;
        (c.len() >= n).then_some(c)
    })
    .await
}

async fn put_criteria(shop: &Shop, course: &str, criteria: Value) {
    // The course reaches the certificate service by event: wait for it.
    let path = format!("/api/v2/admin/completion-criteria/{course}");
    eventually(WAIT, "criteria saved", || async {
        let (s, _) = put(&shop.app, &shop.admin, &path, criteria.clone()).await;
        (s == StatusCode::OK).then_some(())
    })
    .await;
}

fn done(user: &str, name: &str, lms: &str, completed: u32, total: u32) -> Completion {
    let mut c = Completion::all(user, name, lms, total);
    c.modules_completed = completed;
    c.completed_module_ids.truncate(completed as usize);
    c
}

async fn raw(shop: &Shop, token: &str, path: &str, etag: Option<&str>) -> reqwest::Response {
    let mut r = shop.app.client.get(shop.app.url(path)).bearer_auth(token);
    if let Some(e) = etag {
        r = r.header("If-None-Match", e);
    }
    r.send().await.unwrap()
}

/// The PDF's text, extracted by poppler's pdftotext.
fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempdir("text");
    let file = dir.join("c.pdf");
    std::fs::write(&file, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed by the Makefile");
    assert!(out.status.success());
    std::fs::remove_dir_all(dir).ok();
    String::from_utf8(out.stdout).unwrap()
}

/// The payload of the QR code on the PDF's page, rendered by poppler and decoded by rqrr.
fn qr_payload(pdf: &[u8]) -> String {
    let dir = tempdir("qr");
    let file = dir.join("c.pdf");
    std::fs::write(&file, pdf).unwrap();
    let status = std::process::Command::new("pdftoppm")
        .args(["-gray", "-r", "200", "-singlefile"])
        .arg(&file)
        .arg(dir.join("page"))
        .status()
        .unwrap();
    assert!(status.success());
    let pgm = std::fs::read(dir.join("page.pgm")).unwrap();
    std::fs::remove_dir_all(dir).ok();
    // P5 <w> <h> <max>\n<bytes>
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&pgm[start..at]).to_string());
    }
    assert_eq!(fields[0], "P5");
    let (w, h): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let px = &pgm[at + 1..];
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| px[y * w + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the page");
    grids[0].decode().unwrap().1
}

fn tempdir(what: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("cert-{what}-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_criteria_type_issues_exactly_one_certificate_and_below_the_bar_none() {
    let shop = Shop::open(&[]).await;
    let learner = shop.learner("ada");
    let all = shop.course("lms-all", 0, false).await;
    let pct = shop.course("lms-pct", 0, false).await;
    let spec = shop.course("lms-spec", 0, false).await;
    put_criteria(
        &shop,
        &pct,
        json!({"requirements": {"type": "percentage", "minPercentage": 80}, "validFor": 365}),
    )
    .await;
    put_criteria(
        &shop,
        &spec,
        json!({"requirements": {"type": "specific-modules", "requiredModuleIds": ["m1", "m3"],
               "passingScore": 70, "assessmentId": "final"}, "minTimeSpent": 60}),
    )
    .await;
    // Criteria that cannot be evaluated are refused naming the field.
    let (s, b) = put(
        &shop.app,
        &shop.admin,
        &format!("/api/v2/admin/completion-criteria/{pct}"),
        json!({"requirements": {"type": "percentage"}}),
    )
    .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(b["field"], "requirements.minPercentage");
    buy(&shop, &learner, "ada", "course", &[&all, &pct, &spec], 3).await;
    let db = shop.env.schema("certificate").await;

    // Below each bar: nothing.
    assert_eq!(
        shop.lms
            .complete(&done("ada", "Ada", "lms-all", 4, 5), "w1")
            .await,
        202
    );
    assert_eq!(
        shop.lms
            .complete(&done("ada", "Ada", "lms-pct", 3, 5), "w2")
            .await,
        202
    );
    let mut s1 = done("ada", "Ada", "lms-spec", 3, 10);
    s1.assessment_id = Some("final".into());
    s1.assessment_score = Some(69);
    s1.minutes_spent = 90;
    assert_eq!(shop.lms.complete(&s1, "w3").await, 202);
    assert_eq!(outcomes(&db, "ada", 3).await, ["below_criteria"; 3]);
    assert!(certs(&shop, &learner).await.is_empty());

    // At each bar: one certificate each; the same completion three times, and once more under
    // another delivery id, changes nothing.
    for _ in 0..3 {
        assert_eq!(
            shop.lms
                .complete(&done("ada", "Ada", "lms-all", 5, 5), "w4")
                .await,
            202
        );
    }
    assert_eq!(
        shop.lms
            .complete(&done("ada", "Ada", "lms-all", 5, 5), "w4b")
            .await,
        202
    );
    assert_eq!(
        shop.lms
            .complete(&done("ada", "Ada", "lms-pct", 4, 5), "w5")
            .await,
        202
    );
    s1.assessment_score = Some(70);
    assert_eq!(shop.lms.complete(&s1, "w6").await, 202);
    outcomes(&db, "ada", 7).await;
    // Every delivery handled: the count is exact, not "at least".
    shop.settled().await;
    let o = outcomes(&db, "ada", 7).await;
    assert_eq!(
        o.len(),
        7,
        "three deliveries of one webhook are one completion: {o:?}"
    );
    assert_eq!(o[3..].iter().filter(|x| *x == "issued").count(), 3, "{o:?}");
    assert_eq!(
        o[3..].iter().filter(|x| *x == "already_certified").count(),
        1,
        "{o:?}"
    );
    let got = certs_n(&shop, &learner, 3).await;
    assert_eq!(got.len(), 3);
    for c in &got {
        assert_eq!(c["status"], "active");
        assert_eq!(c["recipientName"], "Ada");
        assert_eq!(c["certificateType"], "course");
        let n = c["certificateNumber"].as_str().unwrap();
        assert!(
            n.starts_with("CERT-20") && n.len() == "CERT-2026-".len() + 16,
            "{n}"
        );
    }
    let with_expiry = got.iter().filter(|c| !c["expiresAt"].is_null()).count();
    assert_eq!(
        with_expiry, 1,
        "only the percentage course's criteria set validFor"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM audit WHERE action = 'issued'").await,
        3
    );
    shop.settled().await;
    let outbox = count(
        &db,
        "SELECT count(*) FROM outbox WHERE event_type = 'commerce.v1.CertificateChanged'",
    )
    .await;
    assert_eq!(outbox, 3, "one certificate.issued each");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_course_of_a_program_issues_its_certificate_and_a_full_refund_revokes_them() {
    let shop = Shop::open(&[]).await;
    let learner = shop.learner("grace");
    let c1 = shop.course("lms-p1", 1000, false).await;
    let c2 = shop.course("lms-p2", 1000, false).await;
    let program = shop.program(&[&c1, &c2], 1500).await;
    let oid = buy(&shop, &learner, "grace", "program", &[&program], 2).await;
    assert_eq!(
        shop.lms
            .complete(&Completion::all("grace", "Grace", "lms-p1", 3), "g1")
            .await,
        202
    );
    let one = certs_n(&shop, &learner, 1).await;
    assert_eq!(one[0]["certificateType"], "course");
    assert_eq!(
        shop.lms
            .complete(&Completion::all("grace", "Grace", "lms-p2", 3), "g2")
            .await,
        202
    );
    let all = certs_n(&shop, &learner, 3).await;
    let prog: Vec<&Value> = all
        .iter()
        .filter(|c| c["certificateType"] == "program")
        .collect();
    assert_eq!(prog.len(), 1);
    assert_eq!(prog[0]["programId"], program.as_str());
    assert_eq!(prog[0]["description"], "Track");

    // A full refund of the program line revokes the program's certificate and its courses'.
    let order = shop.order(&learner, &oid).await;
    let payment = order["paymentId"].as_str().unwrap().to_string();
    let (s, r) = refund(
        &shop,
        &payment,
        json!({"reason": "changed my mind"}),
        "rf-1",
    )
    .await;
    assert!(s.is_success(), "{s} {r}");
    let revoked = eventually(WAIT, "certificates revoked", || async {
        let c = certs(&shop, &learner).await;
        c.iter().all(|c| c["status"] == "revoked").then_some(c)
    })
    .await;
    assert_eq!(revoked.len(), 3);
    let number = prog[0]["certificateNumber"].as_str().unwrap();
    let v = get_ok(&shop.app, &format!("/api/v2/certificates/verify/{number}")).await;
    assert_eq!(
        (v["status"].as_str(), v["valid"].as_bool()),
        (Some("revoked"), Some(false))
    );
    assert!(v["revokedReason"].as_str().unwrap().contains("refunded"));
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pdf_prints_every_name_with_the_number_and_a_qr_code_of_the_verification_url() {
    let shop = Shop::open(&[]).await;
    let course = shop.course("lms-pdf", 0, false).await;
    let other = shop.learner("someone-else");
    for (user, name) in [
        ("zoe", "Zoë Łukasiewicz-Nguyễn"),
        ("sofia", "Σοφία Κωνσταντίνου"),
    ] {
        let learner = shop.learner(user);
        let issued = eventually(WAIT, "manual issue", || async {
            let (s, b) = post(
                &shop.app,
                &shop.admin,
                "/api/v2/admin/certificates",
                json!({"userId": user, "recipientName": name, "courseId": course,
                       "reason": "completed before the platform existed"}),
            )
            .await;
            (s == StatusCode::CREATED).then_some(b)
        })
        .await;
        let id = issued["id"].as_str().unwrap();
        let number = issued["certificateNumber"].as_str().unwrap();
        let url = issued["verificationUrl"].as_str().unwrap();
        assert!(url.ends_with(&format!("/api/v2/certificates/verify/{number}")));
        let path = format!("/api/v2/certificates/{id}/download");
        let r = raw(&shop, &learner, &path, None).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/pdf");
        let etag = r.headers()["etag"].to_str().unwrap().to_string();
        let pdf = r.bytes().await.unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let text = pdf_text(&pdf);
        for want in [name, "Course lms-pdf", number, url] {
            assert!(text.contains(want), "{want:?} missing from:\n{text}");
        }
        assert_eq!(qr_payload(&pdf), url);
        // The same certificate again: 304 on its ETag.
        let again = raw(&shop, &learner, &path, Some(&etag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        // Another learner sees nothing of it.
        for p in [format!("/api/v2/certificates/{id}"), path.clone()] {
            assert_eq!(
                raw(&shop, &other, &p, None).await.status(),
                StatusCode::NOT_FOUND
            );
        }
        let mine = get_as_ok(&shop.app, &learner, &format!("/api/v2/certificates/{id}")).await;
        assert_eq!(mine["recipientName"], name);
        assert_eq!(mine["issuedBy"], "admin");
    }
    // Issued by hand once: a second time is a conflict.
    let (s, b) = post(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/certificates",
        json!({"userId": "zoe", "recipientName": "Zoë", "courseId": course, "reason": "again"}),
    )
    .await;
    assert_problem(s, &b, StatusCode::CONFLICT, "already_issued");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_is_public_leaks_no_user_id_and_says_revoked_after_a_revocation() {
    let shop = Shop::open(&[]).await;
    let course = shop.course("lms-v", 0, false).await;
    let learner = shop.learner("linus");
    buy(&shop, &learner, "linus", "course", &[&course], 1).await;
    assert_eq!(
        shop.lms
            .complete(&Completion::all("linus", "Linus T", "lms-v", 2), "v1")
            .await,
        202
    );
    let c = certs_n(&shop, &learner, 1).await.remove(0);
    let number = c["certificateNumber"].as_str().unwrap().to_string();
    let id = c["id"].as_str().unwrap().to_string();

    let v = get_ok(&shop.app, &format!("/api/v2/certificates/verify/{number}")).await;
    assert_eq!(v["holderName"], "Linus T");
    assert_eq!(v["completed"], "Course lms-v");
    assert_eq!(
        (v["status"].as_str(), v["valid"].as_bool()),
        (Some("active"), Some(true))
    );
    let text = v.to_string();
    assert!(!text.contains("linus\""), "no user id: {text}");
    assert!(v.get("userId").is_none() && v.get("email").is_none());
    let page = shop
        .app
        .client
        .get(
            shop.app
                .url(&format!("/api/v2/certificates/share/{number}")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Linus T") && html.contains("Valid") && !html.contains("\"linus\""));
    for unknown in ["CERT-2026-0000000000000000", "CERT-2026-nope", "x"] {
        let (s, b) = get(&shop.app, &format!("/api/v2/certificates/verify/{unknown}")).await;
        assert_problem(s, &b, StatusCode::NOT_FOUND, "not_found");
    }

    // Revocation: a learner is refused whatever the body, an admin of another department too;
    // the course's department admin revokes once.
    let path = format!("/api/v2/admin/certificates/{id}/revoke");
    let (s, b) = send(
        shop.app
            .client
            .post(shop.app.url(&path))
            .bearer_auth(&learner)
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let outsider = shop.env.token("admin-math", &["dept-admin"], &["math"]);
    let (s, b) = post(&shop.app, &outsider, &path, json!({"reason": "x"})).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let dept = shop.env.token("admin-cs", &["dept-admin"], &["cs"]);
    let (s, b) = post(&shop.app, &dept, &path, json!({"reason": " "})).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let r = post_expect(
        &shop.app,
        &dept,
        &path,
        json!({"reason": "plagiarism"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(r["status"], "revoked");
    let (s, b) = post(&shop.app, &dept, &path, json!({"reason": "again"})).await;
    assert_problem(s, &b, StatusCode::CONFLICT, "already_revoked");
    let v = get_ok(&shop.app, &format!("/api/v2/certificates/verify/{number}")).await;
    assert_eq!(
        (v["status"].as_str(), v["valid"].as_bool()),
        (Some("revoked"), Some(false))
    );
    assert_eq!(v["revokedReason"], "plagiarism");
    let db = shop.env.schema("certificate").await;
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM audit WHERE action = 'revoked' AND actor = 'admin-cs'"
        )
        .await,
        1
    );
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stale_or_unheld_completions_issue_nothing() {
    let shop = Shop::open(&[]).await;
    let course = shop.course("lms-f", 0, false).await;
    let learner = shop.learner("mallory");
    buy(&shop, &learner, "mallory", "course", &[&course], 1).await;
    let body = json!({"source": "cadence-lms", "event": "course.completed", "payload": {
        "userId": "mallory", "userName": "M", "lmsCourseId": "lms-f", "enrollmentId": "e1",
        "completedAt": chrono::Utc::now().to_rfc3339(),
        "progress": {"modulesCompleted": 1, "modulesTotal": 1}}})
    .to_string();
    let send_signed = |secret: &'static str, ts: i64, id: &'static str| {
        let sig = web::standard_webhooks::sign(secret, id, ts, body.as_bytes()).unwrap();
        shop.app
            .client
            .post(shop.app.url("/api/v1/webhooks/lms-completion"))
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(body.clone())
            .send()
    };
    let now = chrono::Utc::now().timestamp();
    let forged = "whsec_Zm9yZ2VkLXNlY3JldC0wMTIzNDU2Nzg5MDEyMzQ1";
    for (secret, ts, id) in [(forged, now, "f1"), (LMS_SECRET, now - 3600, "f2")] {
        let (s, b) = body_of(send_signed(secret, ts, id).await.unwrap()).await;
        assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_signature");
    }
    let (s, b) = body_of(
        shop.app
            .client
            .post(shop.app.url("/api/v1/webhooks/lms-completion"))
            .body(body.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_signature");
    // A course the learner does not hold: kept, issues nothing.
    assert_eq!(
        shop.lms
            .complete(&Completion::all("mallory", "M", "lms-unknown", 1), "f3")
            .await,
        202
    );
    let db = shop.env.schema("certificate").await;
    assert_eq!(outcomes(&db, "mallory", 1).await, ["no_registration"]);
    assert!(certs(&shop, &learner).await.is_empty());
    shop.close().await;
}

async fn body_of(r: reqwest::Response) -> (StatusCode, Value) {
    body(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_validated_when_saved_and_used_when_rendered() {
    let shop = Shop::open(&[]).await;
    let course = shop.course("lms-t", 0, false).await;
    let dept = shop.env.token("admin-cs", &["dept-admin"], &["cs"]);
    let learner = shop.learner("tim");
    let base = json!({"departmentId": "cs", "name": "CS", "layout": "portrait",
        "titleText": "Diploma in {{courseName}}", "bodyTemplate": "for {{recipientName}}, {{completionDate}}",
        "signatures": [{"name": "Prof. Σ", "title": "Dean"}], "fontFamily": "DejaVu Serif",
        "primaryColor": "#8B0000", "isDefault": true});
    let big = {
        use base64::Engine;
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.resize(300 * 1024, 0);
        base64::engine::general_purpose::STANDARD.encode(png)
    };
    for (field, value, named) in [
        ("bodyTemplate", json!("Hi {{grade}}"), "bodyTemplate"),
        ("primaryColor", json!("reddish"), "primaryColor"),
        ("fontFamily", json!("Comic Sans"), "fontFamily"),
        ("backgroundImage", json!(big), "backgroundImage"),
    ] {
        let mut b = base.clone();
        b[field] = value;
        let (s, p) = post(&shop.app, &dept, "/api/v2/admin/certificate-templates", b).await;
        assert_problem(s, &p, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(p["field"], named);
    }
    let mut other = base.clone();
    other["departmentId"] = json!("math");
    let (s, p) = post(
        &shop.app,
        &dept,
        "/api/v2/admin/certificate-templates",
        other,
    )
    .await;
    assert_problem(s, &p, StatusCode::FORBIDDEN, "forbidden");
    let t = post_expect(
        &shop.app,
        &dept,
        "/api/v2/admin/certificate-templates",
        base.clone(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(t["isDefault"], true);
    let tid = t["id"].as_str().unwrap();
    let preview = raw(
        &shop,
        &dept,
        &format!("/api/v2/admin/certificate-templates/{tid}/preview"),
        None,
    )
    .await;
    assert_eq!(preview.status(), StatusCode::OK);
    assert!(pdf_text(&preview.bytes().await.unwrap()).contains("Diploma in Sample Course"));
    // A second default replaces the first as the department's default.
    let mut second = base.clone();
    second["titleText"] = json!("Award: {{courseName}}");
    let t2 = post_expect(
        &shop.app,
        &dept,
        "/api/v2/admin/certificate-templates",
        second,
        StatusCode::CREATED,
    )
    .await;
    let list = get_as_ok(
        &shop.app,
        &dept,
        "/api/v2/admin/certificate-templates?departmentId=cs",
    )
    .await;
    let defaults: Vec<&Value> = items(&list)
        .iter()
        .filter(|t| t["isDefault"] == true)
        .collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0]["id"], t2["id"]);

    buy(&shop, &learner, "tim", "course", &[&course], 1).await;
    assert_eq!(
        shop.lms
            .complete(&Completion::all("tim", "Tim", "lms-t", 1), "t1")
            .await,
        202
    );
    let c = certs_n(&shop, &learner, 1).await.remove(0);
    assert_eq!(c["title"], "Award: {{courseName}}");
    let pdf = raw(
        &shop,
        &learner,
        &format!(
            "/api/v2/certificates/{}/download",
            c["id"].as_str().unwrap()
        ),
        None,
    )
    .await
    .bytes()
    .await
    .unwrap();
    let text = pdf_text(&pdf);
    assert!(text.contains("Award: Course lms-t"), "{text}");
    assert!(text.contains("for Tim,"), "{text}");
    assert!(text.contains("Prof. Σ"), "{text}");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_by_number_are_rate_limited_per_address_and_routes_are_documented() {
    let shop = Shop::open(&[("gateway.rate_limit_burst", "3".into())]).await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        // A fresh made-up token each time buys no fresh bucket.
        let token = shop.learner(&format!("guess-{i}"));
        let r = raw(
            &shop,
            &token,
            "/api/v2/certificates/verify/CERT-2026-0000000000000000",
            None,
        )
        .await;
        statuses.push(r.status());
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::NOT_FOUND)
            .count(),
        3,
        "{statuses:?}"
    );
    assert!(
        statuses[3..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let doc = get_ok(&shop.app, "/api/openapi.json").await;
    for (path, method, statuses) in [
        ("/api/v2/certificates", "get", vec!["200", "400", "401"]),
        (
            "/api/v2/certificates/{id}/download",
            "get",
            vec!["200", "304", "401", "404"],
        ),
        (
            "/api/v2/certificates/verify/{number}",
            "get",
            vec!["200", "404", "429"],
        ),
        (
            "/api/v2/admin/certificates",
            "post",
            vec!["201", "400", "401", "403", "404", "409", "422"],
        ),
        (
            "/api/v2/admin/certificates/{id}/revoke",
            "post",
            vec!["200", "401", "403", "404", "409", "422"],
        ),
        (
            "/api/v2/admin/completion-criteria/{courseId}",
            "put",
            vec!["200", "403", "404", "422"],
        ),
        (
            "/api/v2/admin/certificate-templates",
            "post",
            vec!["201", "403", "422"],
        ),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} undocumented");
        for s in statuses {
            assert!(op["responses"][s].is_object(), "{method} {path} lacks {s}");
        }
    }
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_bought_after_its_courses_were_certified_is_certified_at_once() {
    let shop = Shop::open(&[]).await;
    let learner = shop.learner("hedy");
    let c1 = shop.course("lms-h1", 1000, false).await;
    let c2 = shop.course("lms-h2", 1000, false).await;
    let program = shop.program(&[&c1, &c2], 1500).await;
    // Both courses certified by hand (taken elsewhere), before the program is bought.
    for c in [&c1, &c2] {
        eventually(WAIT, "manual issue", || async {
            let (s, _) = post(
                &shop.app,
                &shop.admin,
                "/api/v2/admin/certificates",
                json!({"userId": "hedy", "recipientName": "Hedy L", "courseId": c,
                       "reason": "transferred credit"}),
            )
            .await;
            (s == StatusCode::CREATED).then_some(())
        })
        .await;
    }
    assert_eq!(certs(&shop, &learner).await.len(), 2);
    buy(&shop, &learner, "hedy", "program", &[&program], 2).await;
    let all = certs_n(&shop, &learner, 3).await;
    let prog: Vec<&Value> = all
        .iter()
        .filter(|c| c["certificateType"] == "program")
        .collect();
    assert_eq!(prog.len(), 1);
    assert_eq!(prog[0]["recipientName"], "Hedy L");
    // An admin's revocation of one course takes the program's certificate with it.
    let course_cert = all.iter().find(|c| c["courseId"] == c1.as_str()).unwrap();
    let path = format!(
        "/api/v2/admin/certificates/{}/revoke",
        course_cert["id"].as_str().unwrap()
    );
    post_expect(
        &shop.app,
        &shop.admin,
        &path,
        json!({"reason": "credit withdrawn"}),
        StatusCode::OK,
    )
    .await;
    let after = certs(&shop, &learner).await;
    let program_now = after
        .iter()
        .find(|c| c["certificateType"] == "program")
        .unwrap();
    assert_eq!(program_now["status"], "revoked");
    assert!(
        program_now["revokedReason"]
            .as_str()
            .unwrap()
            .contains("credit withdrawn")
    );
    shop.close().await;
}
