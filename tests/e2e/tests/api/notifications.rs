//! Emails (notification service) through a real SMTP conversation with the fake SMTP server:
//! the order confirmation and the welcome after a purchase, escaped HTML, one email per event
//! however often it is delivered, retries while SMTP is down (the order untouched), skipped
//! sends for learners without an address, and what billing-admins see.

use crate::helpers::shop::*;
use crate::helpers::*;
use fake_lms::Completion;
use reqwest::StatusCode;
use serde_json::json;
use testkit::eventually;

/// Waits until `address` has received `n` emails.
async fn mails(shop: &Shop, address: &str, n: usize) -> Vec<fake_smtp::Received> {
    eventually(WAIT, &format!("{n} emails to {address}"), || async {
        let got = shop.smtp.to(address);
        (got.len() >= n).then_some(got)
    })
    .await
}

fn with_subject<'a>(mails: &'a [fake_smtp::Received], part: &str) -> Vec<&'a fake_smtp::Received> {
    mails
        .iter()
        .filter(|m| m.subject().contains(part))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_mails_the_confirmation_and_the_welcome_once_with_escaped_html() {
    let shop = Shop::open(&[]).await;
    let email = "zoe@example.edu";
    let learner = shop
        .env
        .learner_with_profile("zoe", email, "Zoë Łukasiewicz-Nguyễn");
    let c = post_expect(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/catalog/courses",
        course_body("lms-x", "<script>alert(1)</script> Rust", "cs"),
        StatusCode::CREATED,
    )
    .await;
    let course = c["id"].as_str().unwrap().to_string();
    post_expect(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/pricing",
        json!({"courseId": course, "priceType": "one-time", "currency": "USD", "basePrice": 4900}),
        StatusCode::CREATED,
    )
    .await;
    shop.add(&learner, "course", &course).await;
    let order = shop.checkout(&learner).await;
    let oid = order["id"].as_str().unwrap().to_string();
    let number = order["orderNumber"].as_str().unwrap().to_string();
    shop.pay(&learner, &oid, "pm_card_visa").await;
    shop.order_status(&learner, &oid, "completed").await;
    let got = mails(&shop, email, 2).await;
    let confirmation = with_subject(&got, &number);
    assert_eq!(confirmation.len(), 1, "one order confirmation");
    let m = confirmation[0];
    assert_eq!(m.subject(), format!("Your order {number} is confirmed"));
    assert_eq!(m.from, "no-reply@cadence.example");
    let html = m.html();
    assert!(
        html.contains("Zoë Łukasiewicz-Nguyễn") && html.contains("49.00 USD"),
        "{html}"
    );
    assert!(!html.contains("<script>"), "escaped: {html}");
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert!(m.text().contains("Total: 49.00 USD"));
    let welcome = with_subject(&got, "Welcome to");
    assert_eq!(welcome.len(), 1, "one welcome");
    assert!(
        welcome[0]
            .text()
            .contains("http://127.0.0.1:8090/courses/lms-x")
    );

    // The whole cart-order and registration outboxes published again: no second email.
    for schema in ["cart_order", "registration"] {
        let db = shop.env.schema(schema).await;
        let n = bus::outbox::replay(&db, 0, i64::MAX).await.unwrap();
        assert!(n > 0);
    }
    shop.settled().await;
    // A certificate follows a completion, with its own email.
    assert_eq!(
        shop.lms
            .complete(&Completion::all("zoe", "Zoë Ł", "lms-x", 2), "n1")
            .await,
        202
    );
    let got = mails(&shop, email, 3).await;
    assert_eq!(
        got.len(),
        3,
        "{:?}",
        got.iter().map(|m| m.subject()).collect::<Vec<_>>()
    );
    let cert = with_subject(&got, "Your certificate");
    assert_eq!(cert.len(), 1);
    assert!(cert[0].text().contains("/api/v2/certificates/verify/CERT-"));
    let attached = cert[0].attachments();
    assert_eq!(attached.len(), 1, "the certificate PDF");
    let (name, kind, pdf) = &attached[0];
    assert_eq!(
        (name.as_str(), kind.as_str()),
        ("certificate.pdf", "application/pdf")
    );
    assert!(pdf.starts_with(b"%PDF-") && pdf.len() > 10_000);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_is_retried_until_it_returns_and_the_order_is_untouched() {
    let shop = Shop::open(&[]).await;
    let email = "grace@example.edu";
    let learner = shop.env.learner_with_profile("grace", email, "Grace");
    let course = shop.course("lms-d", 1500, false).await;
    shop.smtp.pause();
    shop.add(&learner, "course", &course).await;
    let order = shop.checkout(&learner).await;
    let oid = order["id"].as_str().unwrap().to_string();
    shop.pay(&learner, &oid, "pm_card_visa").await;
    shop.order_status(&learner, &oid, "completed").await;
    // The sends wait for the server, retried.
    eventually(WAIT, "a send retried", || async {
        let list = get_as_ok(
            &shop.app,
            &shop.admin,
            "/api/v2/admin/notifications?status=queued",
        )
        .await;
        items(&list)
            .iter()
            .any(|s| s["attempts"].as_i64().unwrap_or(0) >= 1)
            .then_some(())
    })
    .await;
    assert!(shop.smtp.to(email).is_empty());
    shop.smtp.resume().await.unwrap();
    let got = mails(&shop, email, 2).await;
    assert_eq!(with_subject(&got, "is confirmed").len(), 1);
    let sent = get_as_ok(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/notifications?status=sent",
    )
    .await;
    assert!(items(&sent).len() >= 2);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_address_is_skipped_a_refusal_is_parked_and_only_billing_admins_see_sends() {
    let shop = Shop::open(&[]).await;
    let anonymous = shop.learner("no-mail");
    let course = shop.course("lms-s", 0, false).await;
    shop.add(&anonymous, "course", &course).await;
    shop.checkout(&anonymous).await;
    let skipped = eventually(WAIT, "skipped sends", || async {
        let list = get_as_ok(
            &shop.app,
            &shop.admin,
            "/api/v2/admin/notifications?status=skipped",
        )
        .await;
        (!items(&list).is_empty()).then(|| items(&list).clone())
    })
    .await;
    assert_eq!(
        skipped[0]["reason"],
        "no email address known for the learner"
    );
    assert!(shop.smtp.received().is_empty());

    // A permanent refusal parks the send; a resend delivers it.
    shop.smtp.refuse_next(10, 550);
    let email = "linus@example.edu";
    let learner = shop.env.learner_with_profile("linus", email, "Linus");
    let other = shop.course("lms-r", 0, false).await;
    shop.add(&learner, "course", &other).await;
    shop.checkout(&learner).await;
    let parked = eventually(WAIT, "parked sends", || async {
        let list = get_as_ok(
            &shop.app,
            &shop.admin,
            "/api/v2/admin/notifications?status=failed",
        )
        .await;
        (!items(&list).is_empty()).then(|| items(&list).clone())
    })
    .await;
    assert!(
        parked[0]["reason"].as_str().unwrap().contains("550"),
        "{}",
        parked[0]
    );
    shop.smtp.refuse_next(0, 550);
    for p in &parked {
        let path = format!(
            "/api/v2/admin/notifications/{}/resend",
            p["id"].as_str().unwrap()
        );
        let (s, _) = post(&shop.app, &shop.admin, &path, json!({})).await;
        assert_eq!(s, StatusCode::ACCEPTED);
    }
    mails(&shop, email, parked.len()).await;

    // Only billing-admins; previews of every template.
    let (s, b) = get_as(&shop.app, &learner, "/api/v2/admin/notifications").await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    for t in [
        "order-confirmation",
        "payment-failed",
        "registration-pending",
        "registration-approved",
        "registration-rejected",
        "enrollment-welcome",
        "refund-requested",
        "refund-approved",
        "refund-rejected",
        "certificate-earned",
    ] {
        let p = get_as_ok(
            &shop.app,
            &shop.admin,
            &format!("/api/v2/admin/notification-templates/{t}/preview"),
        )
        .await;
        assert!(
            !p["subject"].as_str().unwrap().is_empty()
                && p["html"].as_str().unwrap().contains("Zoë")
        );
    }
    let (s, b) = get_as(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/notification-templates/nope/preview",
    )
    .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND, "not_found");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declines_approvals_rejections_and_refund_decisions_each_mail_the_learner() {
    let shop = Shop::open(&[]).await;
    let email = "ada@example.edu";
    let learner = shop.env.learner_with_profile("ada", email, "Ada");
    let c1 = shop.course("lms-a1", 1000, true).await;
    let c2 = shop.course("lms-a2", 1000, true).await;
    shop.add(&learner, "course", &c1).await;
    shop.add(&learner, "course", &c2).await;
    let order = shop.checkout(&learner).await;
    let oid = order["id"].as_str().unwrap().to_string();
    let number = order["orderNumber"].as_str().unwrap().to_string();
    let declined = shop
        .pay(&learner, &oid, "pm_card_visa_chargeDeclined")
        .await;
    assert_ne!(declined["status"], "succeeded");
    let got = mails(&shop, email, 1).await;
    let failed = with_subject(&got, "did not go through");
    assert_eq!(failed.len(), 1);
    assert!(failed[0].text().contains(&format!("/orders/{oid}/pay")));
    // The same payment, confirmed again with a good card.
    post_expect(
        &shop.app,
        &learner,
        "/api/v2/payments/confirm",
        json!({"paymentId": declined["id"], "paymentMethod": "pm_card_visa"}),
        StatusCode::OK,
    )
    .await;
    shop.order_status(&learner, &oid, "completed").await;
    // Two courses that need approval: two "awaits approval" emails, plus the confirmation.
    let got = mails(&shop, email, 4).await;
    assert_eq!(with_subject(&got, "awaits approval").len(), 2);

    let regs = shop.registrations_all(&learner, 2, "pending").await;
    let id_of = |course: &str| {
        regs.iter().find(|r| r["courseId"] == course).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let admin = shop.env.token("enroll-1", &["enrollment-admin"], &["cs"]);
    let path = |id: &str, what: &str| format!("/api/v2/admin/registrations/{id}/{what}");
    post_expect(
        &shop.app,
        &admin,
        &path(&id_of(&c1), "approve"),
        json!({}),
        StatusCode::OK,
    )
    .await;
    post_expect(
        &shop.app,
        &admin,
        &path(&id_of(&c2), "reject"),
        json!({"reason": "prerequisites missing"}),
        StatusCode::OK,
    )
    .await;
    // Approved, rejected with the reason, and the approved course's welcome once enrolled.
    let got = mails(&shop, email, 7).await;
    assert_eq!(with_subject(&got, "Course lms-a1 is approved").len(), 1);
    let rejected = with_subject(&got, "Course lms-a2 was not approved");
    assert_eq!(rejected.len(), 1);
    assert!(rejected[0].text().contains("prerequisites missing"));
    assert_eq!(with_subject(&got, "Welcome to Course lms-a1").len(), 1);

    // Refunds: asked, rejected with a reason; asked again, approved.
    let (s, asked) = crate::refunds::ask(&shop, &learner, &oid, "r1").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{asked}");
    let rid = asked["id"].as_str().unwrap().to_string();
    crate::refunds::queued(&shop, &rid).await;
    let (s, b) = crate::refunds::decide(
        &shop,
        &rid,
        "reject",
        json!({"reason": "outside the refund window"}),
    )
    .await;
    assert!(s.is_success(), "{s} {b}");
    let got = mails(&shop, email, 9).await;
    assert_eq!(
        with_subject(&got, "We received your refund request").len(),
        1
    );
    let no = with_subject(&got, "was declined");
    assert_eq!(no.len(), 1);
    assert!(
        no[0].text().contains("outside the refund window") && no[0].subject().contains(&number)
    );
    let (s, again) = crate::refunds::ask(&shop, &learner, &oid, "r2").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{again}");
    let rid = again["id"].as_str().unwrap().to_string();
    crate::refunds::queued(&shop, &rid).await;
    let (s, b) = crate::refunds::decide(&shop, &rid, "approve", json!({})).await;
    assert!(s.is_success(), "{s} {b}");
    let got = mails(&shop, email, 11).await;
    assert_eq!(
        with_subject(&got, "We received your refund request").len(),
        2
    );
    assert_eq!(
        with_subject(&got, "is on its way").len(),
        1,
        "one email for the refund, not one per line"
    );
    shop.settled().await;
    assert_eq!(shop.smtp.to(email).len(), 11);
    shop.close().await;
}

mod providers {
    use super::*;
    use base64::Engine;
    use fake_smtp::apis::FakeApi;
    use hmac::{Hmac, KeyInit, Mac};
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::{Signature, SigningKey};
    use p256::pkcs8::EncodePublicKey;

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    fn signing_key() -> SigningKey {
        SigningKey::from_slice(&[42u8; 32]).unwrap()
    }

    /// Buys a free course for a learner with an address; returns the learner's token.
    async fn free_purchase(shop: &Shop, user: &str, email: &str, lms: &str) -> String {
        let learner = shop.env.learner_with_profile(user, email, user);
        let course = shop.course(lms, 0, false).await;
        shop.add(&learner, "course", &course).await;
        shop.checkout(&learner).await;
        learner
    }

    async fn sends(shop: &Shop, status: &str) -> Vec<serde_json::Value> {
        let list = get_as_ok(
            &shop.app,
            &shop.admin,
            &format!("/api/v2/admin/notifications?status={status}"),
        )
        .await;
        items(&list).clone()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sendgrid_gets_its_wire_format_and_a_signed_hard_bounce_suppresses_the_address() {
        let sg = FakeApi::sendgrid("SG.test-key").unwrap();
        let key = b64(signing_key()
            .verifying_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes());
        let shop = Shop::open(&[
            ("notification.provider", "sendgrid".into()),
            ("notification.sendgrid_api_base", sg.url.clone()),
            ("notification.sendgrid_api_key", "SG.test-key".into()),
            ("notification.sendgrid_webhook_public_key", key),
        ])
        .await;
        sg.fail_next(1, 503);
        free_purchase(&shop, "bob", "bob@example.edu", "lms-sg1").await;
        let reqs = eventually(WAIT, "two SendGrid requests", || async {
            let r = sg.requests();
            (r.len() >= 2).then_some(r)
        })
        .await;
        let confirmation = reqs
            .iter()
            .find(|r| r.json["categories"][0] == "order-confirmation")
            .expect("the confirmation, after one 503");
        let j = &confirmation.json;
        assert_eq!(confirmation.authorization, "Bearer SG.test-key");
        assert_eq!(
            j["personalizations"][0]["to"][0]["email"],
            "bob@example.edu"
        );
        assert_eq!(j["from"]["email"], "no-reply@cadence.example");
        assert_eq!(j["from"]["name"], "Cadence Commerce");
        assert!(j["subject"].as_str().unwrap().contains("is confirmed"));
        assert_eq!(j["content"][0]["type"], "text/plain");
        assert_eq!(j["content"][1]["type"], "text/html");
        let send_id = j["custom_args"]["send_id"].as_str().unwrap().to_string();

        let post_events = |events: serde_json::Value, ts: i64, key: SigningKey| {
            let body = events.to_string();
            let mut msg = ts.to_string().into_bytes();
            msg.extend_from_slice(body.as_bytes());
            let sig: Signature = key.sign(&msg);
            shop.app
                .client
                .post(shop.app.url("/api/v2/notifications/webhooks/sendgrid"))
                .header("X-Twilio-Email-Event-Webhook-Timestamp", ts.to_string())
                .header(
                    "X-Twilio-Email-Event-Webhook-Signature",
                    b64(sig.to_der().as_bytes()),
                )
                .body(body)
                .send()
        };
        let bounce = json!([{"sg_event_id": "ev-1", "event": "bounce", "type": "bounce",
            "email": "bob@example.edu", "send_id": send_id, "reason": "550 no such user",
            "timestamp": chrono::Utc::now().timestamp()}]);
        let now = chrono::Utc::now().timestamp();
        let forged = SigningKey::from_slice(&[9u8; 32]).unwrap();
        let (s, b) = body(post_events(bounce.clone(), now, forged).await.unwrap()).await;
        assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_signature");
        let (s, b) = body(
            post_events(bounce.clone(), now - 3600, signing_key())
                .await
                .unwrap(),
        )
        .await;
        assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_signature");
        assert!(
            sends(&shop, "sent")
                .await
                .iter()
                .all(|s| s["providerStatus"].is_null())
        );
        for _ in 0..2 {
            let r = post_events(bounce.clone(), now, signing_key())
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
        }
        let sent = sends(&shop, "sent").await;
        let bounced: Vec<_> = sent
            .iter()
            .filter(|s| s["providerStatus"] == "bounced")
            .collect();
        assert_eq!(bounced.len(), 1);
        assert_eq!(bounced[0]["id"], send_id.as_str());
        // The next email to the address is skipped, not sent.
        let learner = shop
            .env
            .learner_with_profile("bob", "bob@example.edu", "bob");
        let course = shop.course("lms-sg2", 0, false).await;
        shop.add(&learner, "course", &course).await;
        shop.checkout(&learner).await;
        let skipped = eventually(WAIT, "a suppressed send", || async {
            let s = sends(&shop, "skipped").await;
            (!s.is_empty()).then_some(s)
        })
        .await;
        assert!(
            skipped[0]["reason"]
                .as_str()
                .unwrap()
                .starts_with("address suppressed")
        );
        shop.settled().await;
        assert_eq!(sg.requests().len(), 2, "nothing more went to SendGrid");
        shop.close().await;
        sg.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mailgun_gets_its_wire_format_and_its_signed_webhooks_apply_once() {
        let mg = FakeApi::mailgun("mg-key").unwrap();
        let shop = Shop::open(&[
            ("notification.provider", "mailgun".into()),
            ("notification.mailgun_api_base", mg.url.clone()),
            ("notification.mailgun_api_key", "mg-key".into()),
            ("notification.mailgun_domain", "mg.cadence.example".into()),
            (
                "notification.mailgun_webhook_signing_key",
                "mg-signing".into(),
            ),
        ])
        .await;
        free_purchase(&shop, "eve", "eve@example.edu", "lms-mg").await;
        let reqs = eventually(WAIT, "two Mailgun requests", || async {
            let r = mg.requests();
            (r.len() >= 2).then_some(r)
        })
        .await;
        let c = reqs
            .iter()
            .find(|r| r.form["o:tag"] == "order-confirmation")
            .unwrap();
        assert_eq!(c.authorization, format!("Basic {}", b64(b"api:mg-key")));
        assert_eq!(c.form["to"], "eve@example.edu");
        assert_eq!(
            c.form["from"],
            "Cadence Commerce <no-reply@cadence.example>"
        );
        assert!(c.form["subject"].contains("is confirmed"));
        assert!(c.form["html"].contains("<html>") && c.form["text"].contains("Total"));
        let send_id = c.form["v:send_id"].clone();

        let hook = |token: &str, ts: i64, key: &str| {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
            mac.update(format!("{ts}{token}").as_bytes());
            json!({
                "signature": {"timestamp": ts.to_string(), "token": token,
                              "signature": hex::encode(mac.finalize().into_bytes())},
                "event-data": {"id": "mg-ev-1", "event": "delivered", "recipient": "eve@example.edu",
                               "user-variables": {"send_id": send_id}}
            })
        };
        let now = chrono::Utc::now().timestamp();
        let url = "/api/v2/notifications/webhooks/mailgun";
        let (s, b) = post(&shop.app, &shop.admin, url, hook("t1", now, "forged")).await;
        assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_signature");
        let (s, b) = post(
            &shop.app,
            &shop.admin,
            url,
            hook("t2", now - 3600, "mg-signing"),
        )
        .await;
        assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_signature");
        let (s, _) = post(&shop.app, &shop.admin, url, hook("t3", now, "mg-signing")).await;
        assert_eq!(s, StatusCode::OK);
        let sent = sends(&shop, "sent").await;
        let delivered: Vec<_> = sent
            .iter()
            .filter(|s| s["providerStatus"] == "delivered")
            .collect();
        assert_eq!(delivered.len(), 1);
        assert_eq!(delivered[0]["id"], send_id.as_str());

        // Mailgun signs only timestamp + token: the same signature with other event data (a
        // complaint) is a replay and changes nothing; a fresh one suppresses the address.
        let mut replay = hook("t3", now, "mg-signing");
        replay["event-data"]["event"] = json!("complained");
        replay["event-data"]["id"] = json!("mg-ev-2");
        let (s, _) = post(&shop.app, &shop.admin, url, replay).await;
        assert_eq!(s, StatusCode::OK);
        let db = shop.env.schema("notification").await;
        assert_eq!(count(&db, "SELECT count(*) FROM suppressions").await, 0);
        let mut complaint = hook("t4", now, "mg-signing");
        complaint["event-data"]["event"] = json!("complained");
        complaint["event-data"]["id"] = json!("mg-ev-3");
        let (s, _) = post(&shop.app, &shop.admin, url, complaint).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            count(
                &db,
                "SELECT count(*) FROM suppressions WHERE email = 'eve@example.edu'"
            )
            .await,
            1
        );
        // A late `delivered` does not hide the complaint.
        let mut late = hook("t5", now, "mg-signing");
        late["event-data"]["id"] = json!("mg-ev-4");
        post(&shop.app, &shop.admin, url, late).await;
        let sent = sends(&shop, "sent").await;
        let mine = sent.iter().find(|s| s["id"] == send_id.as_str()).unwrap();
        assert_eq!(mine["providerStatus"], "complained");
        shop.close().await;
        mg.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_rewords_a_template_and_its_learners_get_that_wording() {
    let shop = Shop::open(&[]).await;
    let dept = shop.env.token("admin-cs", &["dept-admin"], &["cs"]);
    let outsider = shop.env.token("admin-math", &["dept-admin"], &["math"]);
    let path = "/api/v2/admin/notification-templates/enrollment-welcome/departments/cs";
    let wording = json!({
        "subject": "Bienvenue dans {{ course_title }}",
        "html": "<p>Bonjour {{ recipient_name }}, <a href=\"{{ start_url }}\">commencer</a></p>",
        "text": "Bonjour {{ recipient_name }} : {{ start_url }}"
    });
    let (s, b) = put(&shop.app, &outsider, path, wording.clone()).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let mut bad = wording.clone();
    bad["html"] = json!("<p>{{ grade }}</p>");
    let (s, b) = put(&shop.app, &dept, path, bad).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(b["field"], "html");
    let before = get_as_ok(&shop.app, &dept, path).await;
    assert_eq!(before["isSet"], false);
    let saved = put_expect(&shop.app, &dept, path, wording, StatusCode::OK).await;
    assert_eq!(saved["isSet"], true);
    let p = get_as_ok(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/notification-templates/enrollment-welcome/preview?departmentId=cs",
    )
    .await;
    assert_eq!(p["subject"], "Bienvenue dans Introduction to Programming");

    let email = "amelie@example.edu";
    let learner = shop.env.learner_with_profile("amelie", email, "Amélie");
    let course = shop.course("lms-fr", 0, false).await;
    shop.add(&learner, "course", &course).await;
    shop.checkout(&learner).await;
    let got = mails(&shop, email, 2).await;
    let welcome = with_subject(&got, "Bienvenue dans Course lms-fr");
    assert_eq!(
        welcome.len(),
        1,
        "{:?}",
        got.iter().map(|m| m.subject()).collect::<Vec<_>>()
    );
    assert!(welcome[0].html().contains("Bonjour Amélie"));
    shop.close().await;
}
