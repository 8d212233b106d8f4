//! Reconciliation through the gateway against the fake Square and the fake Converge: a clean
//! period reports no difference; a charge made at the processor outside the platform (an
//! orphan) and a charge whose amount differs from ours (a mismatch) are each reported in one
//! run, stored, listed and exported as CSV with every compared item.

use crate::helpers::shop::*;
use crate::helpers::*;
use crate::refunds::refund;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A learner's paid order of one course priced `cents`, paid with `method`; returns the
/// payment.
async fn paid(
    shop: &Shop,
    learner: &str,
    lms: &str,
    cents: i64,
    pay: impl AsyncFnOnce(&Value) -> String,
) -> Value {
    let course = shop.course(lms, cents, false).await;
    shop.add(learner, "course", &course).await;
    let oid = shop.checkout(learner).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let intent = shop.intent(learner, &oid).await;
    let method = pay(&intent).await;
    let confirmed = post_expect(
        &shop.app,
        learner,
        "/api/v2/payments/confirm",
        json!({"paymentId": intent["id"], "paymentMethod": method}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(confirmed["status"], "succeeded", "{confirmed}");
    shop.order_status(learner, &oid, "completed").await;
    intent
}

/// Runs a reconciliation of `processor` over the last hour (201); returns the run.
async fn reconcile(shop: &Shop, processor: &str) -> Value {
    let now = chrono::Utc::now();
    post_expect(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/reconciliation",
        json!({
            "processor": processor,
            "from": (now - chrono::Duration::hours(1)).to_rfc3339(),
            "to": (now + chrono::Duration::minutes(1)).to_rfc3339(),
        }),
        StatusCode::CREATED,
    )
    .await
}

fn findings(run: &Value) -> Vec<String> {
    let mut f: Vec<String> = run["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["finding"].as_str().unwrap().to_string())
        .collect();
    f.sort();
    f
}

async fn csv(shop: &Shop, run: &Value) -> String {
    let resp = shop
        .app
        .client
        .get(shop.app.url(&format!(
            "/api/v2/admin/reconciliation/{}/items.csv",
            run["id"].as_str().unwrap()
        )))
        .bearer_auth(&shop.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    resp.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn square_reconciles_clean_then_reports_an_orphan_and_a_mismatch_in_one_run() {
    let shop = Shop::open_square(&[]).await;
    let square = shop.square();
    let learner = shop.learner("learner-1");
    let a = paid(&shop, &learner, "lms-rc1", 4900, async |_| {
        "cnon:card-nonce-ok".into()
    })
    .await;
    let b = paid(&shop, &learner, "lms-rc2", 2500, async |_| {
        "cnon:card-nonce-ok".into()
    })
    .await;
    let (s, r) = refund(
        &shop,
        a["id"].as_str().unwrap(),
        json!({"amount": 900, "reason": "part"}),
        "rc-r1",
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");

    // Only billing-admins reconcile, whatever the body.
    let (s, body) = send(
        shop.app
            .client
            .post(shop.app.url("/api/v2/admin/reconciliation"))
            .bearer_auth(&learner)
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_problem(s, &body, StatusCode::FORBIDDEN, "forbidden");

    let clean = reconcile(&shop, "square").await;
    assert_eq!(clean["differences"], 0, "{clean}");
    assert_eq!(clean["compared"], 3, "two charges and a refund: {clean}");
    assert_eq!(clean["startedBy"], "admin");

    // At Square: a payment the platform never made, and one of ours whose amount changed.
    let orphan = square.inject_payment(1234, "USD", None);
    let b_at_square = square.payments_with_reference(b["id"].as_str().unwrap())[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    square.set_payment_amount(&b_at_square, 2400);
    let dirty = reconcile(&shop, "square").await;
    assert_eq!(dirty["differences"], 2, "{dirty}");
    assert_eq!(findings(&dirty), ["amount_mismatch", "orphan_charge"]);
    let items = dirty["findings"].as_array().unwrap();
    let o = items
        .iter()
        .find(|i| i["finding"] == "orphan_charge")
        .unwrap();
    assert_eq!(
        (&o["processorId"], &o["theirsAmountMinor"]),
        (&json!(orphan), &json!(1234))
    );
    assert!(o["paymentId"].is_null());
    let m = items
        .iter()
        .find(|i| i["finding"] == "amount_mismatch")
        .unwrap();
    assert_eq!(m["paymentId"], b["id"]);
    assert_eq!(
        (&m["oursAmountMinor"], &m["theirsAmountMinor"]),
        (&json!(2500), &json!(2400))
    );

    // Stored and listed, newest first; the export has every compared item.
    let list = get_as_ok(
        &shop.app,
        &shop.admin,
        "/api/v2/admin/reconciliation?processor=square",
    )
    .await;
    let runs = items_of(&list);
    assert_eq!(runs.len(), 2, "{list}");
    assert_eq!(runs[0]["id"], dirty["id"]);
    let shown = get_as_ok(
        &shop.app,
        &shop.admin,
        &format!(
            "/api/v2/admin/reconciliation/{}",
            dirty["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(findings(&shown), findings(&dirty));
    let text = csv(&shop, &dirty).await;
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("finding,kind,processor_id,payment_id"));
    assert_eq!(lines.len(), 1 + 4, "three of ours and the orphan: {text}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("matched,")).count(),
        2,
        "{text}"
    );
    assert!(
        text.contains(&format!("orphan_charge,charge,{orphan},,,USD,,1234")),
        "{text}"
    );
    let (s, b) = get_as(&shop.app, &learner, "/api/v2/admin/reconciliation").await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converge_reconciles_clean_then_reports_an_orphan_and_a_mismatch_in_one_run() {
    let shop = Shop::open_converge(&[]).await;
    let converge = shop.converge();
    let learner = shop.learner("learner-1");
    let tokenize = async |intent: &Value| {
        converge
            .lightbox_tokenize(intent["clientSecret"].as_str().unwrap(), "4111111111111111")
            .unwrap()
    };
    let a = paid(&shop, &learner, "lms-rc3", 3000, tokenize).await;
    let (s, r) = refund(
        &shop,
        a["id"].as_str().unwrap(),
        json!({"reason": "all"}),
        "rc-v1",
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let clean = reconcile(&shop, "converge").await;
    assert_eq!(clean["differences"], 0, "{clean}");
    assert_eq!(clean["compared"], 2, "the sale and its void: {clean}");

    let orphan = converge.inject_sale("12.34", "USD", "NOT-OURS-1");
    let sale = converge
        .transactions()
        .into_iter()
        .find(|t| t.transaction_type == "SALE" && t.txn_id != orphan)
        .unwrap();
    converge.set_amount(&sale.txn_id, "29.00");
    let dirty = reconcile(&shop, "converge").await;
    assert_eq!(
        findings(&dirty),
        ["amount_mismatch", "orphan_charge"],
        "{dirty}"
    );
    let text = csv(&shop, &dirty).await;
    assert!(
        text.contains(&format!("orphan_charge,charge,{orphan},,,USD,,1234")),
        "{text}"
    );
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_reconciles_clean_then_reports_a_charge_made_outside_the_platform() {
    // Google Pay payments are the Stripe account's too: compared in the same run, never orphans.
    let shop = Shop::open_stripe(&[("payment.processors_by_department.cs", "gpay".into())]).await;
    let learner = shop.learner("learner-1");
    let course = shop.course("lms-rc4", 4900, false).await;
    shop.add(&learner, "course", &course).await;
    let oid = shop.checkout(&learner).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let paid = shop.pay(&learner, &oid, "pm_card_googlePay").await;
    assert_eq!(
        (&paid["status"], &paid["processor"]),
        (&json!("succeeded"), &json!("gpay")),
        "{paid}"
    );
    shop.order_status(&learner, &oid, "completed").await;
    let clean = reconcile(&shop, "stripe").await;
    assert_eq!(
        (&clean["differences"], &clean["compared"]),
        (&json!(0), &json!(1)),
        "{clean}"
    );

    // A charge made in Stripe's dashboard (or by another integration), not by the platform.
    let stripe = &shop.app.client;
    let url = format!("{}/v1/payment_intents", shop.stripe().url);
    let pi: Value = stripe
        .post(&url)
        .bearer_auth(STRIPE_SK)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("amount=777&currency=usd")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pi_id = pi["id"].as_str().unwrap();
    let confirmed = stripe
        .post(format!("{url}/{pi_id}/confirm"))
        .bearer_auth(STRIPE_SK)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("payment_method=pm_card_visa")
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), StatusCode::OK);
    let dirty = reconcile(&shop, "stripe").await;
    assert_eq!(findings(&dirty), ["orphan_charge"], "{dirty}");
    assert_eq!(dirty["findings"][0]["theirsAmountMinor"], 777);
    shop.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_that_cannot_list_or_a_bad_period_is_refused_and_records_nothing() {
    let shop = Shop::open(&[]).await;
    let now = chrono::Utc::now();
    for (body, code) in [
        (
            json!({"processor": "sandbox", "from": (now - chrono::Duration::hours(1)).to_rfc3339()}),
            "processor_cannot_reconcile",
        ),
        (
            json!({"processor": "nope", "from": (now - chrono::Duration::hours(1)).to_rfc3339()}),
            "unknown_processor",
        ),
        (
            json!({"processor": "sandbox", "from": now.to_rfc3339(), "to": (now - chrono::Duration::hours(1)).to_rfc3339()}),
            "invalid_period",
        ),
        (
            json!({"processor": "sandbox", "from": (now - chrono::Duration::days(40)).to_rfc3339()}),
            "invalid_period",
        ),
    ] {
        let (s, b) = post(&shop.app, &shop.admin, "/api/v2/admin/reconciliation", body).await;
        assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY, code);
    }
    let list = get_as_ok(&shop.app, &shop.admin, "/api/v2/admin/reconciliation").await;
    assert!(items_of(&list).is_empty(), "{list}");
    shop.close().await;
}

fn items_of(page: &Value) -> Vec<Value> {
    items(page).to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_reconciles_each_account_once_per_turn() {
    let shop = Shop::open_stripe(&[
        ("payment.reconcile_interval_secs", "1".into()),
        ("payment.reconcile_lag_secs", "0".into()),
    ])
    .await;
    let runs = testkit::eventually(WAIT, "two scheduled turns", || async {
        let list = get_as_ok(&shop.app, &shop.admin, "/api/v2/admin/reconciliation").await;
        let runs = items_of(&list);
        (runs.len() >= 2).then_some(runs)
    })
    .await;
    for run in &runs {
        assert_eq!(run["startedBy"], "scheduler", "{run}");
        // stripe and gpay are one account: one run a turn, under stripe; the sandbox cannot.
        assert_eq!(run["processor"], "stripe", "{run}");
        assert_eq!(run["differences"], 0, "{run}");
    }
    // Each turn starts where the last one ended: no period goes unchecked.
    let at = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert_eq!(
        at(&runs[0]["periodFrom"]),
        at(&runs[1]["periodTo"]),
        "{runs:?}"
    );
    shop.close().await;
}
