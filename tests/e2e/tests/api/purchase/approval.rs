//! Approval-required courses: the department-scoped admin queue, single and bulk decisions,
//! and rejections (by an admin or by the LMS) kept with their reason.

use crate::helpers::shop::*;
use crate::helpers::*;
use fake_lms::Behaviour;
use reqwest::StatusCode;
use serde_json::json;
use testkit::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_required_courses_wait_for_an_admin_and_rejections_are_kept() {
    let shop = Shop::open(&[]).await;
    let r1 = shop.course("lms-r1", 1000, true).await;
    let r2 = shop.course("lms-r2", 2000, true).await;
    let learner = shop.learner("learner-1");
    shop.add(&learner, "course", &r1).await;
    shop.add(&learner, "course", &r2).await;
    let order = shop.checkout(&learner).await;
    shop.pay(&learner, order["id"].as_str().unwrap(), "pm_card_visa")
        .await;
    let regs = shop.registrations_all(&learner, 2, "pending").await;
    // Positive signal first: a course without approval, bought after these two, has been sent
    // to the LMS and the delivery worker has recorded the outcome of that pass (`attempts` counts
    // only the worker's answers, unlike `status`, which the LMS webhook may set first). The
    // worker claims due requests oldest first and records a pass only once every request in it
    // was answered; had the two pending registrations been scheduled, their older requests would
    // have reached the LMS by now. So "nothing for them" below is a decision, not slowness.
    let probe = shop.course("lms-probe", 300, false).await;
    shop.add(&learner, "course", &probe).await;
    let order = shop.checkout(&learner).await;
    shop.pay(&learner, order["id"].as_str().unwrap(), "pm_card_visa")
        .await;
    let probe_reg = eventually(WAIT, "the probe enrolled", || async {
        let regs = shop.registrations(&learner).await;
        let r = regs
            .into_iter()
            .find(|r| r["courseId"] == probe.as_str() && r["status"] == "enrolled")?;
        Some(r["id"].as_str()?.to_string())
    })
    .await;
    let reg_db = shop.env.schema("registration").await;
    eventually(WAIT, "the probe's delivery recorded by the worker", || {
        let (reg_db, sql) = (
            reg_db.clone(),
            format!(
                "SELECT count(*) FROM deliveries WHERE registration_id = '{probe_reg}' \
                 AND status = 'delivered' AND attempts >= 1"
            ),
        );
        async move { (count(&reg_db, &sql).await == 1).then_some(()) }
    })
    .await;
    assert_eq!(
        count(&reg_db, "SELECT count(*) FROM deliveries").await,
        1,
        "no enrollment request scheduled before approval"
    );
    assert_eq!(
        lms_items(&shop),
        vec![probe_reg.clone()],
        "nothing goes to the LMS before approval"
    );

    let admin = shop.env.token("enroll-1", &["enrollment-admin"], &["cs"]);
    let outsider = shop.env.token("enroll-2", &["enrollment-admin"], &["math"]);
    let queue = get_as_ok(
        &shop.app,
        &admin,
        "/api/v2/admin/registrations?status=pending",
    )
    .await;
    assert_eq!(items(&queue).len(), 2);
    // A 200 with an empty list: the outsider is allowed to look and sees nothing.
    let theirs = get_as_ok(&shop.app, &outsider, "/api/v2/admin/registrations").await;
    assert!(
        items(&theirs).is_empty(),
        "another department's admin sees nothing"
    );
    let id_of = |course: &str| {
        regs.iter().find(|r| r["courseId"] == course).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (first, second) = (id_of(&r1), id_of(&r2));
    let (s, b) = post(
        &shop.app,
        &outsider,
        &format!("/api/v2/admin/registrations/{first}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let (s, b) = post(
        &shop.app,
        &learner,
        &format!("/api/v2/admin/registrations/{first}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");

    let (s, a) = post(
        &shop.app,
        &admin,
        &format!("/api/v2/admin/registrations/{first}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(
        (s, a["status"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{a}"
    );
    let (s, b) = post(
        &shop.app,
        &admin,
        &format!("/api/v2/admin/registrations/{first}/approve"),
        json!({}),
    )
    .await;
    assert_problem(s, &b, StatusCode::CONFLICT, "illegal_transition");
    let (s, b) = post(
        &shop.app,
        &admin,
        &format!("/api/v2/admin/registrations/{second}/reject"),
        json!({"reason": " "}),
    )
    .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_reason");
    let bulk = post_expect(&shop.app, &admin, "/api/v2/admin/registrations/bulk", json!({
        "action": "reject", "ids": [second, first, uuid::Uuid::now_v7()], "reason": "prerequisites missing"
    }), StatusCode::OK)
    .await;
    let results = bulk["results"].as_array().unwrap();
    assert_eq!(results[0]["ok"], true);
    assert_eq!(results[0]["status"], "rejected");
    assert_eq!(
        (results[1]["ok"].as_bool(), results[1]["code"].as_str()),
        (Some(false), Some("illegal_transition"))
    );
    assert_eq!(results[2]["code"], "not_found");

    eventually(WAIT, "approved one enrolled", || async {
        let regs = shop.registrations(&learner).await;
        let r = regs.iter().find(|r| r["id"] == first.as_str())?;
        (r["status"] == "enrolled").then_some(())
    })
    .await;
    let regs = shop.registrations(&learner).await;
    let rejected = regs.iter().find(|r| r["id"] == second.as_str()).unwrap();
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["rejectionReason"], "prerequisites missing");
    // One request besides the probe's: the approved registration's, none for the rejected one.
    assert_eq!(lms_items(&shop), vec![probe_reg, first.clone()]);

    // The LMS itself rejecting: the reason is kept for the refund work.
    shop.lms
        .set_behaviour(Behaviour::Reject("course is full".into()));
    let c = shop.course("lms-c", 500, false).await;
    shop.add(&learner, "course", &c).await;
    let order = shop.checkout(&learner).await;
    shop.pay(&learner, order["id"].as_str().unwrap(), "pm_card_visa")
        .await;
    let r = eventually(WAIT, "LMS rejection recorded", || async {
        let regs = shop.registrations(&learner).await;
        regs.into_iter()
            .find(|r| r["courseId"] == c.as_str() && r["status"] == "rejected")
    })
    .await;
    assert_eq!(r["rejectionReason"], "course is full");
    shop.close().await;
}

/// The registrations (`orderItemId`) of every enrollment request the LMS received, in order.
fn lms_items(shop: &Shop) -> Vec<String> {
    shop.lms
        .received()
        .iter()
        .map(|r| {
            r.body["payload"]["orderItemId"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}
