//! Department subscriptions (Journey 3): a trial and its renewals charged once per period, a
//! declined renewal's grace and recovery, the end of access (and the LMS told), cancel at the
//! period's end, pause and resume, self-enrollment, the cart refusing covered courses, and the
//! races: concurrent renewal jobs, a cancel or pause during a renewal, a webhook before the
//! job's answer, a retried subscribe. Time is the payment service's test clock.

use crate::helpers::shop::Shop;
use crate::helpers::*;
use chrono::Duration as Days;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use testkit::eventually;

/// The shop with payment on a clock the test moves and its renewal job only on demand.
async fn open(stripe: bool) -> (Shop, Arc<kernel::ManualClock>) {
    let clock = Arc::new(kernel::ManualClock::new(chrono::Utc::now()));
    let mut factories = commerce::registry();
    factories.retain(|f| f.name() != "payment");
    factories.push(Arc::new(payment::PaymentService {
        clock: Some(clock.clone()),
    }));
    let o: Vec<(&str, String)> = vec![
        ("payment.subscription_renew_interval_secs", "0".into()),
        ("payment.subscription_grace_days", "7".into()),
        ("payment.subscription_retry_hours", "24".into()),
    ];
    let shop = if stripe {
        Shop::open_stripe_with(&o, factories).await
    } else {
        Shop::open_with(&o, factories).await
    };
    (shop, clock)
}

fn days(clock: &kernel::ManualClock, n: i64) {
    clock.advance(Days::days(n) + Days::minutes(1));
}

/// A plan of department `dept`; returns its id.
async fn plan(shop: &Shop, dept: &str, cents: i64, interval: &str, trial: u32) -> String {
    let p = post_expect(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/pricing",
        json!({
            "departmentId": dept, "priceType": "subscription", "currency": "USD",
            "basePrice": cents, "subscription": {"interval": interval, "trialDays": trial}
        }),
        StatusCode::CREATED,
    )
    .await;
    p["id"].as_str().unwrap().to_string()
}

async fn try_subscribe(
    shop: &Shop,
    token: &str,
    plan: &str,
    method: &str,
    key: &str,
) -> (StatusCode, Value) {
    send(
        shop.app
            .client
            .post(shop.app.url("/api/v2/subscriptions"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&json!({"planId": plan, "paymentMethod": method})),
    )
    .await
}

async fn subscribe(shop: &Shop, token: &str, plan: &str, method: &str) -> Value {
    let key = kernel::new_id().to_string();
    expect(
        "subscribe",
        StatusCode::CREATED,
        try_subscribe(shop, token, plan, method, &key).await,
    )
}

/// One pass of the renewal job, as a billing-admin runs it on demand.
async fn renew(shop: &Shop) -> Value {
    post_expect(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/subscriptions/renewals",
        json!({}),
        StatusCode::OK,
    )
    .await
}

async fn sub(shop: &Shop, token: &str, id: &Value) -> Value {
    get_as_ok(
        &shop.app,
        token,
        &format!("/api/v2/subscriptions/{}", id.as_str().unwrap()),
    )
    .await
}

async fn act(shop: &Shop, token: &str, id: &Value, what: &str, body: Value) -> (StatusCode, Value) {
    post(
        &shop.app,
        token,
        &format!("/api/v2/subscriptions/{}/{what}", id.as_str().unwrap()),
        body,
    )
    .await
}

async fn set_method(shop: &Shop, token: &str, id: &Value, method: &str) -> Value {
    put_expect(
        &shop.app,
        token,
        &format!(
            "/api/v2/subscriptions/{}/payment-method",
            id.as_str().unwrap()
        ),
        json!({"paymentMethod": method}),
        StatusCode::OK,
    )
    .await
}

async fn enroll(shop: &Shop, token: &str, id: &Value, course: &str) -> (StatusCode, Value) {
    act(shop, token, id, "enrollments", json!({"courseId": course})).await
}

/// The learner's payments (newest first) with their status.
async fn payments(shop: &Shop, token: &str) -> Vec<Value> {
    items(&get_as_ok(&shop.app, token, "/api/v2/payments/history").await).clone()
}

fn succeeded(ps: &[Value]) -> usize {
    ps.iter().filter(|p| p["status"] == "succeeded").count()
}

/// Waits until the learner has `n` completed orders; returns them.
async fn completed_orders(shop: &Shop, token: &str, n: usize) -> Vec<Value> {
    eventually(WAIT, &format!("{n} completed orders"), || async {
        let list = get_as_ok(&shop.app, token, "/api/v2/orders").await;
        let done: Vec<Value> = items(&list)
            .iter()
            .filter(|o| o["status"] == "completed")
            .cloned()
            .collect();
        (done.len() == n).then_some(done)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trial_is_charged_once_when_it_ends_and_each_renewal_once_and_attributed() {
    let (shop, clock) = open(false).await;
    let a = shop.course("sub-a", 4900, false).await;
    let b = shop.course("sub-b", 5900, false).await;
    let p = plan(&shop, "cs", 3000, "monthly", 14).await;
    let ana = shop
        .env
        .learner_with_profile("ana", "ana@example.edu", "Ana Lima");

    let s = subscribe(&shop, &ana, &p, "pm_card_visa").await;
    assert_eq!(s["status"], "trialing");
    assert_eq!(s["access"], true);
    assert_eq!(s["period"], 0);
    assert!(
        payments(&shop, &ana).await.is_empty(),
        "a trial charges nothing"
    );
    // Two courses through the subscription, at no charge.
    for c in [&a, &b] {
        let (st, e) = enroll(&shop, &ana, &s["id"], c).await;
        assert_eq!(st, StatusCode::CREATED, "{e}");
    }
    let (st, _) = enroll(&shop, &ana, &s["id"], &a).await;
    assert_eq!(st, StatusCode::OK, "enrolling again changes nothing");
    let regs = shop.registrations_all(&ana, 2, "enrolled").await;
    assert!(
        regs.iter().all(|r| r["registrationType"] == "subscription"),
        "{regs:?}"
    );
    assert_eq!(shop.lms.enrollment_count(), 2);

    // Nothing is due before the trial ends.
    days(&clock, 13);
    assert_eq!(renew(&shop).await["due"], 0);
    days(&clock, 1);
    let pass = renew(&shop).await;
    assert_eq!(pass["due"], 1, "{pass}");
    let s1 = sub(&shop, &ana, &s["id"]).await;
    assert_eq!(s1["status"], "active", "{s1}");
    assert_eq!(s1["period"], 1);
    assert_eq!(s1["currentPeriodStart"], s["trialEnd"]);
    // The job again, and the period is not charged twice.
    assert_eq!(renew(&shop).await["due"], 0);
    assert_eq!(succeeded(&payments(&shop, &ana).await), 1);

    days(&clock, 31);
    renew(&shop).await;
    let s2 = sub(&shop, &ana, &s["id"]).await;
    assert_eq!(s2["period"], 2, "{s2}");
    assert_eq!(s2["currentPeriodStart"], s1["currentPeriodEnd"]);
    let ps = payments(&shop, &ana).await;
    assert_eq!(ps.len(), 2);
    assert_eq!(succeeded(&ps), 2);
    assert!(ps.iter().all(|p| p["amount"] == 3000), "{ps:?}");

    // Each period is an order like any other (the two enrollments are free orders), and the
    // ledger splits each charge equally over the two courses enrolled in through it.
    let orders = completed_orders(&shop, &ana, 4).await;
    let paid: Vec<&Value> = orders.iter().filter(|o| o["total"] == 3000).collect();
    assert_eq!(paid.len(), 2, "{orders:?}");
    // Each period's receipt reaches the learner's address given when subscribing.
    for o in &paid {
        let number = o["orderNumber"].as_str().unwrap().to_string();
        eventually(WAIT, &format!("the receipt of {number}"), || async {
            shop.smtp
                .to("ana@example.edu")
                .iter()
                .any(|m| String::from_utf8_lossy(&m.raw).contains(&number))
                .then_some(())
        })
        .await;
    }
    shop.settled().await;
    let payout = shop.env.schema("payout").await;
    let per_course = count(
        &payout,
        &format!(
            "SELECT count(DISTINCT course_id) FROM ledger_entries WHERE gross_minor = 1500
             AND course_id IN ('{a}', '{b}')"
        ),
    )
    .await;
    assert_eq!(per_course, 2);
    let total = count(
        &payout,
        "SELECT coalesce(sum(gross_minor), 0)::bigint FROM ledger_entries",
    )
    .await;
    assert_eq!(total, 6000);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_renewal_is_past_due_with_access_and_recovers_in_grace_without_a_second_charge()
{
    let (shop, clock) = open(false).await;
    shop.course("pd-a", 4900, false).await;
    let p = plan(&shop, "cs", 2500, "monthly", 0).await;
    let bo = shop.learner("bo");
    let s = subscribe(&shop, &bo, &p, "pm_card_visa").await;
    assert_eq!(s["status"], "active", "the first period is charged at once");
    assert_eq!(s["period"], 1);
    set_method(&shop, &bo, &s["id"], "pm_card_visa_chargeDeclined").await;

    days(&clock, 31);
    renew(&shop).await;
    let pd = sub(&shop, &bo, &s["id"]).await;
    assert_eq!(pd["status"], "past_due", "{pd}");
    assert_eq!(
        pd["access"], true,
        "access continues through the grace period"
    );
    assert_eq!(pd["period"], 2);
    assert!(pd["lastFailure"].as_str().unwrap().contains("declined"));
    // No retry before its time.
    assert_eq!(renew(&shop).await["due"], 0);
    // The next retry, declined again: still past due, one more attempt on the same payment.
    clock.advance(Days::hours(25));
    renew(&shop).await;
    assert_eq!(sub(&shop, &bo, &s["id"]).await["status"], "past_due");

    // A new card recovers it at once: active, the same period, charged once.
    let ok = set_method(&shop, &bo, &s["id"], "pm_card_mastercard").await;
    assert_eq!(ok["status"], "active", "{ok}");
    assert_eq!(ok["period"], 2);
    assert_eq!(ok["graceUntil"], Value::Null);
    renew(&shop).await;
    clock.advance(Days::hours(25));
    renew(&shop).await;
    let ps = payments(&shop, &bo).await;
    assert_eq!(ps.len(), 2, "one payment per period: {ps:?}");
    assert_eq!(succeeded(&ps), 2);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grace_expiry_ends_access_the_lms_is_told_and_self_enrollment_is_refused_after() {
    let (shop, clock) = open(false).await;
    let a = shop.course("ge-a", 4900, false).await;
    let b = shop.course("ge-b", 4900, false).await;
    let other = course_with_price(&shop.app, &shop.admin, "ge-x", "law", 3900)
        .await
        .0;
    let p = plan(&shop, "cs", 2500, "monthly", 0).await;
    let cy = shop.learner("cy");
    let s = subscribe(&shop, &cy, &p, "pm_card_visa").await;
    let (st, e) = enroll(&shop, &cy, &s["id"], &other).await;
    assert_problem(
        st,
        &e,
        StatusCode::UNPROCESSABLE_ENTITY,
        "course_not_covered",
    );
    let (st, _) = enroll(&shop, &cy, &s["id"], &a).await;
    assert_eq!(st, StatusCode::CREATED);
    shop.registrations_all(&cy, 1, "enrolled").await;
    // A certificate earned while the subscription gives access (Journey 3, step 6).
    let done = fake_lms::Completion::all("cy", "Cy Baptiste", "ge-a", 3);
    assert_eq!(shop.lms.complete(&done, "ge-done").await, 202);
    let cert = eventually(WAIT, "the certificate", || async {
        let list = get_as_ok(&shop.app, &cy, "/api/v2/certificates").await;
        items(&list).first().cloned()
    })
    .await;
    set_method(&shop, &cy, &s["id"], "pm_card_chargeDeclined").await;

    days(&clock, 31);
    renew(&shop).await;
    assert_eq!(sub(&shop, &cy, &s["id"]).await["status"], "past_due");
    let (st, _) = enroll(&shop, &cy, &s["id"], &b).await;
    assert_eq!(st, StatusCode::CREATED, "access holds in grace");
    shop.registrations_all(&cy, 2, "enrolled").await;

    days(&clock, 7);
    renew(&shop).await;
    let ended = sub(&shop, &cy, &s["id"]).await;
    assert_eq!(ended["status"], "cancelled", "{ended}");
    assert_eq!(ended["cancelReason"], "non_payment");
    assert_eq!(ended["access"], false);
    // The registrations are cancelled and the LMS unenrolls both courses.
    shop.registrations_all(&cy, 2, "cancelled").await;
    eventually(WAIT, "two unenrollments at the LMS", || async {
        (shop.lms.unenrollments().len() == 2).then_some(())
    })
    .await;
    let (st, e) = enroll(&shop, &cy, &s["id"], &b).await;
    assert_problem(st, &e, StatusCode::CONFLICT, "subscription_inactive");
    // The unpaid period's order failed and its payment was cancelled.
    eventually(WAIT, "the unpaid period closed", || async {
        let list = get_as_ok(&shop.app, &cy, "/api/v2/orders").await;
        let failed = items(&list)
            .iter()
            .any(|o| o["total"] == 2500 && o["status"] == "failed");
        let ps = payments(&shop, &cy).await;
        let cancelled = ps.iter().any(|p| p["status"] == "cancelled");
        (failed && cancelled).then_some(())
    })
    .await;
    assert_eq!(succeeded(&payments(&shop, &cy).await), 1);
    // The certificate earned while active stays valid.
    let number = cert["certificateNumber"].as_str().unwrap();
    let v = get_ok(&shop.app, &format!("/api/v2/certificates/verify/{number}")).await;
    assert_eq!(v["valid"], true, "{v}");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_at_period_end_keeps_access_until_then_and_charges_nothing_more() {
    let (shop, clock) = open(false).await;
    let a = shop.course("ce-a", 4900, false).await;
    let p = plan(&shop, "cs", 2500, "monthly", 0).await;
    let di = shop.learner("di");
    let s = subscribe(&shop, &di, &p, "pm_card_visa").await;
    let (st, c) = act(
        &shop,
        &di,
        &s["id"],
        "cancel",
        json!({"reason": "moving on"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "active");
    assert_eq!(c["cancelAtPeriodEnd"], true);
    assert_eq!(c["access"], true);
    days(&clock, 20);
    let (st, _) = enroll(&shop, &di, &s["id"], &a).await;
    assert_eq!(st, StatusCode::CREATED, "access until the period ends");
    shop.registrations_all(&di, 1, "enrolled").await;
    assert_eq!(renew(&shop).await["due"], 0);
    days(&clock, 11);
    renew(&shop).await;
    let e = sub(&shop, &di, &s["id"]).await;
    assert_eq!(e["status"], "cancelled", "{e}");
    assert_eq!(e["access"], false);
    assert_eq!(
        payments(&shop, &di).await.len(),
        1,
        "no renewal was charged"
    );
    shop.registrations_all(&di, 1, "cancelled").await;
    let (st, body) = act(
        &shop,
        &di,
        &s["id"],
        "cancel",
        json!({"atPeriodEnd": false}),
    )
    .await;
    assert_problem(st, &body, StatusCode::CONFLICT, "subscription_state");
    // Another learner sees none of it.
    let (st, _) = get_as(
        &shop.app,
        &shop.learner("eve"),
        &format!("/api/v2/subscriptions/{}", s["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_billing_and_access_and_resume_keeps_what_was_left_of_the_period() {
    let (shop, clock) = open(false).await;
    let a = shop.course("pz-a", 4900, false).await;
    let p = plan(&shop, "cs", 2500, "monthly", 0).await;
    let ed = shop.learner("ed");
    let s = subscribe(&shop, &ed, &p, "pm_card_visa").await;
    days(&clock, 10);
    let (st, paused) = act(&shop, &ed, &s["id"], "pause", json!({})).await;
    assert_eq!(st, StatusCode::OK, "{paused}");
    assert_eq!(paused["status"], "paused");
    assert_eq!(paused["access"], false);
    let (st, e) = enroll(&shop, &ed, &s["id"], &a).await;
    assert_problem(st, &e, StatusCode::CONFLICT, "subscription_inactive");
    days(&clock, 40);
    assert_eq!(
        renew(&shop).await["due"],
        0,
        "a paused subscription is not billed"
    );
    let (st, resumed) = act(&shop, &ed, &s["id"], "resume", json!({})).await;
    assert_eq!(st, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["status"], "active");
    assert_eq!(resumed["period"], 1);
    // The period's end moved by the 40 days (and a minute) it was paused.
    let end = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v["currentPeriodEnd"].as_str().unwrap()).unwrap()
    };
    assert_eq!(end(&resumed) - end(&s), Days::days(40) + Days::minutes(1));
    assert_eq!(payments(&shop, &ed).await.len(), 1);
    let (st, _) = act(&shop, &ed, &s["id"], "resume", json!({})).await;
    assert_eq!(st, StatusCode::CONFLICT);
    // A pause may not last forever: past `subscription_max_pause_days` (90) it ends.
    let (st, _) = act(&shop, &ed, &s["id"], "pause", json!({})).await;
    assert_eq!(st, StatusCode::OK);
    days(&clock, 89);
    assert_eq!(renew(&shop).await["changed"], 0);
    days(&clock, 1);
    renew(&shop).await;
    let ended = sub(&shop, &ed, &s["id"]).await;
    assert_eq!(ended["status"], "cancelled", "{ended}");
    assert_eq!(ended["cancelReason"], "paused_too_long");
    assert_eq!(payments(&shop, &ed).await.len(), 1);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_renewal_jobs_and_retried_subscribes_charge_once() {
    let (shop, clock) = open(false).await;
    shop.course("cr-a", 4900, false).await;
    let p = plan(&shop, "cs", 2500, "monthly", 0).await;
    let fa = shop.learner("fa");
    // Five concurrent subscribes with one key: one subscription, one charge.
    let key = kernel::new_id().to_string();
    let answers = futures_util::future::join_all(
        (0..5).map(|_| try_subscribe(&shop, &fa, &p, "pm_card_visa", &key)),
    )
    .await;
    let mut ids = Vec::new();
    for (st, b) in &answers {
        match *st {
            StatusCode::CREATED => ids.push(b["id"].clone()),
            StatusCode::CONFLICT => assert!(
                [
                    "idempotency_key_in_use",
                    "renewal_in_progress",
                    "payment_in_progress"
                ]
                .contains(&b["code"].as_str().unwrap()),
                "{b}"
            ),
            other => panic!("{other}: {b}"),
        }
    }
    let (st, replay) = try_subscribe(&shop, &fa, &p, "pm_card_visa", &key).await;
    assert_eq!(st, StatusCode::CREATED, "{replay}");
    assert!(ids.iter().all(|i| *i == replay["id"]), "{ids:?}");
    let list = get_as_ok(&shop.app, &fa, "/api/v2/subscriptions").await;
    assert_eq!(items(&list).len(), 1);
    assert_eq!(payments(&shop, &fa).await.len(), 1);
    // Another subscription to the department is refused.
    let (st, b) = try_subscribe(&shop, &fa, &p, "pm_card_visa", "other-key").await;
    assert_problem(st, &b, StatusCode::CONFLICT, "already_subscribed");

    // Five renewal jobs at once: the period is charged once.
    days(&clock, 31);
    let passes = futures_util::future::join_all((0..5).map(|_| renew(&shop))).await;
    let changed: u64 = passes.iter().map(|p| p["changed"].as_u64().unwrap()).sum();
    assert_eq!(changed, 1, "{passes:?}");
    let ps = payments(&shop, &fa).await;
    assert_eq!(ps.len(), 2);
    assert_eq!(succeeded(&ps), 2);
    let s = sub(&shop, &fa, &replay["id"]).await;
    assert_eq!(s["period"], 2);
    // The billing-admin list, filtered.
    let all = get_as_ok(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/subscriptions?status=active&departmentId=cs",
    )
    .await;
    assert_eq!(items(&all).len(), 1);
    let (st, _) = get_as(&shop.app, &fa, "/api/v2/admin/subscriptions").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = post(
        &shop.app,
        &fa,
        "/api/v2/admin/subscriptions/renewals",
        json!({}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cart_refuses_a_covered_course_and_plans_are_not_sold_in_carts() {
    let (shop, _clock) = open(false).await;
    let a = shop.course("cv-a", 4900, false).await;
    let prog = shop.program(&[&a], 4000).await;
    let other = course_with_price(&shop.app, &shop.admin, "cv-x", "law", 3900)
        .await
        .0;
    let p = plan(&shop, "cs", 2500, "annual", 7).await;
    let gu = shop.learner("gu");
    let (st, b) = shop.try_add(&gu, "subscription", &p).await;
    assert_problem(
        st,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "subscribe_directly",
    );
    shop.add(&gu, "course", &a).await;
    let s = subscribe(&shop, &gu, &p, "pm_card_visa").await;
    let (st, b) = shop.try_add(&gu, "course", &a).await;
    // Already in the cart from before: answered as it is (200), never sold again at checkout.
    assert!(
        st == StatusCode::CONFLICT || st == StatusCode::OK,
        "{st} {b}"
    );
    let hu = shop.learner("hu");
    let s2 = subscribe(&shop, &hu, &p, "pm_card_visa").await;
    // The cart learns who subscribes from the subscription's events.
    shop.settled().await;
    let (st, b) = shop.try_add(&hu, "course", &a).await;
    assert_problem(st, &b, StatusCode::CONFLICT, "covered_by_subscription");
    assert_eq!(b["subscriptionId"], s2["id"]);
    let (st, b) = shop.try_add(&hu, "program", &prog).await;
    assert_problem(st, &b, StatusCode::CONFLICT, "covered_by_subscription");
    shop.add(&hu, "course", &other).await;
    // Once the subscription ends, the course is for sale again.
    let (st, _) = act(
        &shop,
        &hu,
        &s2["id"],
        "cancel",
        json!({"atPeriodEnd": false}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    shop.settled().await;
    shop.add(&hu, "course", &a).await;
    assert_eq!(s["status"], "trialing");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_or_pause_during_a_renewal_waits_for_it_and_a_webhook_first_changes_nothing() {
    let (shop, clock) = open(true).await;
    shop.course("rc-a", 4900, false).await;
    let p = plan(&shop, "cs", 2500, "monthly", 0).await;
    let ix = shop.learner("ix");
    let s = subscribe(&shop, &ix, &p, "pm_card_visa").await;
    assert_eq!(s["status"], "active", "{s}");
    assert_eq!(shop.stripe().charges(), 1);
    let param = |r: &fake_stripe::RecordedRequest, k: &str, v: &str| {
        r.params.iter().any(|(pk, pv)| pk == k && pv == v)
    };
    let confirms = || {
        shop.stripe()
            .requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/confirm"))
            .collect::<Vec<_>>()
    };
    assert!(
        param(&confirms()[0], "setup_future_usage", "off_session"),
        "the first charge keeps the method for the renewals"
    );

    // The renewal's calls answer slowly (Stripe does the work at once and sends its webhook
    // first): a cancel and a pause meanwhile are told to wait; nothing is charged twice.
    days(&clock, 31);
    shop.stripe()
        .delay_next(2, std::time::Duration::from_millis(2500));
    let job = renew(&shop);
    let db = shop.env.schema("payment").await;
    let meanwhile = async {
        eventually(WAIT, "the renewal job holding the subscription", || async {
            let sql = "SELECT count(*) FROM subscriptions WHERE charging_period = 2";
            (count(&db, sql).await == 1).then_some(())
        })
        .await;
        let (st, b) = act(&shop, &ix, &s["id"], "pause", json!({})).await;
        assert_problem(st, &b, StatusCode::CONFLICT, "renewal_in_progress");
        let now = json!({"atPeriodEnd": false});
        let (st, b) = act(&shop, &ix, &s["id"], "cancel", now).await;
        assert_problem(st, &b, StatusCode::CONFLICT, "renewal_in_progress");
    };
    let (pass, _) = tokio::join!(job, meanwhile);
    assert_eq!(pass["changed"], 1, "{pass}");
    // Stripe's webhook settled the renewal before the job heard Stripe's answer; the job read
    // it as the answer.
    let by_webhook = count(
        &db,
        "SELECT count(*) FROM payment_audit a JOIN subscription_charges c ON c.payment_id = a.payment_id
         WHERE c.period = 2 AND a.to_status = 'succeeded' AND a.actor = 'processor:stripe'",
    )
    .await;
    let settles = count(
        &db,
        "SELECT count(*) FROM payment_audit a JOIN subscription_charges c ON c.payment_id = a.payment_id
         WHERE c.period = 2 AND a.to_status = 'succeeded'",
    )
    .await;
    assert_eq!((by_webhook, settles), (1, 1));
    let renewed = sub(&shop, &ix, &s["id"]).await;
    assert_eq!(renewed["status"], "active");
    assert_eq!(renewed["period"], 2);
    assert_eq!(shop.stripe().charges(), 2);
    assert!(
        param(confirms().last().unwrap(), "off_session", "recurring"),
        "a renewal is charged off-session"
    );
    // Once settled, the cancel is taken.
    let (st, c) = act(
        &shop,
        &ix,
        &s["id"],
        "cancel",
        json!({"atPeriodEnd": false}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "cancelled");
    shop.settled().await;
    assert_eq!(shop.stripe().charges(), 2);
    let ps = payments(&shop, &ix).await;
    assert_eq!(succeeded(&ps), 2);
    completed_orders(&shop, &ix, 2).await;
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_change_takes_effect_at_the_next_renewal_at_the_new_price() {
    let (shop, clock) = open(false).await;
    shop.course("pc-a", 4900, false).await;
    course_with_price(&shop.app, &shop.admin, "pc-x", "law", 3900).await;
    let monthly = plan(&shop, "cs", 2500, "monthly", 0).await;
    let annual = plan(&shop, "cs", 25000, "annual", 0).await;
    let law = plan(&shop, "law", 1000, "monthly", 0).await;
    let jo = shop.learner("jo");
    let s = subscribe(&shop, &jo, &monthly, "pm_card_visa").await;
    let change = |plan: &str| act(&shop, &jo, &s["id"], "change-plan", json!({"planId": plan}));
    let (st, b) = change(&law).await;
    assert_problem(
        st,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "plan_not_in_department",
    );
    let (st, b) = change(&annual).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["nextPlanId"], annual.as_str());
    assert_eq!(b["amount"], 2500, "the period paid for is kept as bought");

    days(&clock, 31);
    renew(&shop).await;
    let r = sub(&shop, &jo, &s["id"]).await;
    assert_eq!(r["planId"], annual.as_str(), "{r}");
    assert_eq!(r["planType"], "annual");
    assert_eq!(r["amount"], 25000);
    assert_eq!(r["nextPlanId"], Value::Null);
    assert_eq!(r["currentPeriodStart"], s["currentPeriodEnd"]);
    let t =
        |v: &Value, k: &str| chrono::DateTime::parse_from_rfc3339(v[k].as_str().unwrap()).unwrap();
    let year = t(&r, "currentPeriodEnd") - t(&r, "currentPeriodStart");
    assert!(year >= Days::days(365) && year <= Days::days(366), "{year}");
    let amounts: Vec<i64> = payments(&shop, &jo)
        .await
        .iter()
        .map(|p| p["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, vec![25000, 2500]);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_charge_needing_3d_secure_activates_once_the_learner_finishes_it() {
    let (shop, clock) = open(true).await;
    shop.course("3d-a", 4900, false).await;
    let p = plan(&shop, "cs", 2500, "monthly", 0).await;
    let ko = shop.learner("ko");
    let key = kernel::new_id().to_string();
    let (st, s) = try_subscribe(&shop, &ko, &p, "pm_card_authenticationRequired", &key).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{s}");
    assert_eq!(s["status"], "incomplete");
    assert_eq!(s["access"], false);
    assert!(s["firstPayment"]["clientSecret"].is_string(), "{s}");
    // Nothing to do until the learner finishes it.
    clock.advance(Days::minutes(2));
    renew(&shop).await;
    assert_eq!(sub(&shop, &ko, &s["id"]).await["status"], "incomplete");
    // The learner passes 3-D Secure; Stripe's webhook settles the payment.
    let ps = payments(&shop, &ko).await;
    let intent = ps[0]["intentId"].as_str().unwrap().to_string();
    shop.stripe().complete_action(&intent, true).await.unwrap();
    eventually(WAIT, "the first payment settled", || async {
        let ps = payments(&shop, &ko).await;
        (succeeded(&ps) == 1).then_some(())
    })
    .await;
    clock.advance(Days::minutes(2));
    renew(&shop).await;
    let active = sub(&shop, &ko, &s["id"]).await;
    assert_eq!(active["status"], "active", "{active}");
    assert_eq!(active["access"], true);
    assert_eq!(active["period"], 1);
    assert_eq!(shop.stripe().charges(), 1);
    shop.close().await;
}
