//! Voids before the batch settles, returns after it (capped), and the reconciliation hooks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

fn refund<'a>(kind: &'a str, id: &'a str, amount: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("ssl_transaction_type", kind),
        ("ssl_txn_id", id),
        ("ssl_amount", amount),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_void_before_settlement_voids_the_sale_whole() {
    let api = Api::start();
    let sale = api.approved_sale("40.00", "INV-V").await;
    let id = sale["ssl_txn_id"].as_str();
    let mut fields = refund("ccvoid", id, "40.00").to_vec();
    fields.push(("ssl_invoice_number", "REFUND-1"));
    let void = api.xml(&fields).await.txn();
    assert_eq!(
        (
            void["ssl_result"].as_str(),
            void["ssl_result_message"].as_str()
        ),
        ("0", "APPROVAL"),
        "{void:?}"
    );
    assert_ne!(void["ssl_txn_id"], id);
    assert_eq!(void["ssl_amount"], "40.00");
    assert_eq!(api.fake.voids(), 1);
    assert_eq!(api.fake.transaction(id).unwrap().trans_status, "VOID");
    let kept = api.fake.transaction(&void["ssl_txn_id"]).unwrap();
    assert_eq!(kept.transaction_type, "VOID");
    assert_eq!(kept.orig_txn_id.as_deref(), Some(id));
    assert_eq!(kept.invoice_number.as_deref(), Some("REFUND-1"));
    let found = api.query(&[("ssl_invoice_number", "REFUND-1")]).await;
    assert_eq!(found[0]["ssl_transaction_type"], "VOID");
    assert_eq!(found[0]["ssl_orig_txn_id"], id);
    // Voided already: no second void (ccdelete is the same), and nothing settles.
    let again = api.xml(&refund("ccdelete", id, "40.00")).await.txn();
    assert_eq!(error_code(&again), Some("5094"));
    api.fake.settle_batch();
    assert_eq!(api.fake.transaction(id).unwrap().trans_status, "VOID");
    let returned = api.xml(&refund("ccreturn", id, "1.00")).await.txn();
    assert!(
        error_code(&returned).is_some(),
        "a voided sale has nothing to return"
    );
    assert_eq!((api.fake.voids(), api.fake.returns()), (1, 0));
    api.fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_waits_for_settlement_then_parts_are_returned_up_to_the_sale() {
    let api = Api::start();
    let sale = api.approved_sale("30.00", "INV-R").await;
    let id = sale["ssl_txn_id"].as_str();
    let early = api.xml(&refund("ccreturn", id, "10.00")).await.txn();
    assert_eq!(error_code(&early), Some("5091"));
    assert_eq!(early["errorname"], "Transaction not settled, use void");
    api.fake.settle_batch();
    assert_eq!(api.fake.transaction(id).unwrap().trans_status, "STL");
    let void = api.xml(&refund("ccvoid", id, "30.00")).await.txn();
    assert_eq!(error_code(&void), Some("5093"));
    let bad = api.xml(&refund("ccreturn", id, "10")).await.txn();
    assert_eq!(error_code(&bad), Some("5021"));
    let unknown = api.xml(&refund("ccreturn", "nope-1", "1.00")).await.txn();
    assert_eq!(error_code(&unknown), Some("5040"));

    let part = api.xml(&refund("ccreturn", id, "10.00")).await.txn();
    assert_eq!(part["ssl_result"], "0", "{part:?}");
    assert_eq!(part["ssl_result_message"], "APPROVAL");
    assert_eq!(part["ssl_amount"], "10.00");
    assert_ne!(part["ssl_txn_id"], id);
    let kept = api.fake.transaction(&part["ssl_txn_id"]).unwrap();
    assert_eq!(
        (kept.transaction_type.as_str(), kept.trans_status.as_str()),
        ("RETURN", "PEN")
    );
    assert_eq!(kept.orig_txn_id.as_deref(), Some(id));
    assert_eq!(kept.card_masked, "41**********1111");
    let over = api.xml(&refund("ccreturn", id, "20.01")).await.txn();
    assert_eq!(error_code(&over), Some("5092"));
    assert_eq!(over["errorname"], "Amount exceeds original transaction");
    // No idempotency: the same return twice is two returns.
    for _ in 0..2 {
        let t = api.xml(&refund("ccreturn", id, "10.00")).await.txn();
        assert_eq!(t["ssl_result"], "0", "{t:?}");
    }
    let more = api.xml(&refund("ccreturn", id, "0.01")).await.txn();
    assert_eq!(error_code(&more), Some("5092"));
    assert_eq!(api.fake.returns(), 3);
    // The returns settle with the next batch.
    api.fake.settle_batch();
    assert!(
        api.fake
            .transactions()
            .iter()
            .all(|t| t.trans_status == "STL")
    );
    api.fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_sale_cannot_be_refunded() {
    let api = Api::start();
    let token = api.card_token(CARD_DECLINED).await;
    let t = api.sale(&token, "9.00", "INV-X").await;
    let id = t["ssl_txn_id"].as_str();
    let void = api.xml(&refund("ccvoid", id, "9.00")).await.txn();
    assert_eq!(error_code(&void), Some("5040"));
    api.fake.settle_batch();
    assert_eq!(api.fake.transaction(id).unwrap().trans_status, "PEN");
    api.fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_sales_and_changed_amounts_show_through_txnquery() {
    let api = Api::start();
    let ours = api.approved_sale("30.00", "INV-OURS").await;
    let orphan = api.fake.inject_sale("12.34", "USD", "NOT-OURS-1");
    assert_eq!(api.fake.sales(), 2);
    assert_eq!(
        api.fake.sale_attempts(),
        1,
        "an injected sale was no ccsale"
    );
    api.fake.set_amount(&ours["ssl_txn_id"], "29.00");
    let found = api.query(&[("ssl_invoice_number", "NOT-OURS-1")]).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["ssl_txn_id"], orphan);
    assert_eq!(found[0]["ssl_amount"], "12.34");
    assert_eq!(found[0]["ssl_result"], "0");
    assert_eq!(found[0]["ssl_transaction_type"], "SALE");
    let changed = api.query(&[("ssl_txn_id", &ours["ssl_txn_id"])]).await;
    assert_eq!(changed[0]["ssl_amount"], "29.00");
    assert_eq!(
        api.fake
            .transaction(&orphan)
            .unwrap()
            .invoice_number
            .as_deref(),
        Some("NOT-OURS-1")
    );
    api.fake.stop().await;
}
