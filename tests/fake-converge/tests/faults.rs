//! Faults in front of Converge (a 5xx: nothing done) and after the work (a late or garbled
//! answer: the sale was made, and `txnquery` finds it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use fake_converge::{read_txn, write_txn};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_next_answers_a_5xx_page_and_does_nothing() {
    let api = Api::start();
    let token = api.card_token(CARD_OK).await;
    api.fake.fail_next(2, 500);
    for _ in 0..2 {
        let xml = write_txn(&with_credentials(&[
            ("ssl_transaction_type", "ccsale"),
            ("ssl_token", &token),
            ("ssl_amount", "10.00"),
            ("ssl_invoice_number", "INV-F"),
        ]));
        let a = api
            .form("/VirtualMerchantDemo/processxml.do", &[("xmldata", &xml)])
            .await;
        assert_eq!(a.status, 500);
        assert!(
            a.content_type.starts_with("text/html"),
            "{}",
            a.content_type
        );
        assert!(read_txn(&a.body).is_none());
    }
    assert!(api.fake.transactions().is_empty());
    assert_eq!((api.fake.sales(), api.fake.sale_attempts()), (0, 0));
    api.fake.fail_next(1, 503);
    let q = api
        .xml(&[
            ("ssl_transaction_type", "txnquery"),
            ("ssl_invoice_number", "INV-F"),
        ])
        .await;
    assert_eq!(q.status, 503);
    assert_eq!(api.fake.txnqueries(), 0, "a failed query was never asked");
    assert!(
        api.query(&[("ssl_invoice_number", "INV-F")])
            .await
            .is_empty()
    );
    let kinds: Vec<String> = api
        .fake
        .requests()
        .iter()
        .map(|r| format!("{}:{}", r.transaction_type, r.status))
        .collect();
    assert_eq!(
        kinds,
        ["ccsale:500", "ccsale:500", "txnquery:503", "txnquery:200"]
    );
    // The switch is spent: the sale goes through now.
    api.sale(&token, "10.00", "INV-F").await;
    assert_eq!(api.fake.sales(), 1);
    api.fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_sale_is_made_though_the_client_gave_up_and_txnquery_finds_it() {
    let api = Api::start();
    let token = api.card_token(CARD_OK).await;
    api.fake.delay_next(1, Duration::from_millis(1500));
    let xml = write_txn(&with_credentials(&[
        ("ssl_transaction_type", "ccsale"),
        ("ssl_token", &token),
        ("ssl_amount", "18.00"),
        ("ssl_invoice_number", "INV-SLOW"),
    ]));
    let impatient = client(Duration::from_millis(300));
    let started = Instant::now();
    let gave_up = impatient
        .post(api.xml_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("xmldata", xml)]).unwrap())
        .send()
        .await;
    assert!(gave_up.unwrap_err().is_timeout());
    assert!(started.elapsed() < Duration::from_millis(1400));
    // Asked at once, while the answer is still being held back: the sale is there.
    let found = api.query(&[("ssl_invoice_number", "INV-SLOW")]).await;
    assert_eq!(found.len(), 1);
    assert_eq!(
        (
            found[0]["ssl_result"].as_str(),
            found[0]["ssl_amount"].as_str()
        ),
        ("0", "18.00")
    );
    assert_eq!(api.fake.sales(), 1);

    // A delayed answer does come, late.
    api.fake.delay_next(1, Duration::from_millis(400));
    let started = Instant::now();
    assert_eq!(
        api.query(&[("ssl_invoice_number", "INV-SLOW")]).await.len(),
        1
    );
    assert!(started.elapsed() >= Duration::from_millis(400));
    // Only the sale is held back by delay_next_sale.
    api.fake.delay_next_sale(Duration::from_millis(400));
    let started = Instant::now();
    api.query(&[("ssl_invoice_number", "INV-SLOW")]).await;
    assert!(started.elapsed() < Duration::from_millis(400));
    api.sale(&token, "1.00", "INV-SLOW-2").await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    api.fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_answers_are_cut_short_but_the_work_is_done() {
    let api = Api::start();
    let token = api.card_token(CARD_OK).await;
    api.fake.malformed_next(2);
    for invoice in ["INV-M1", "INV-M2"] {
        let a = api
            .xml(&[
                ("ssl_transaction_type", "ccsale"),
                ("ssl_token", &token),
                ("ssl_amount", "7.00"),
                ("ssl_invoice_number", invoice),
            ])
            .await;
        assert_eq!(a.status, 200);
        assert!(a.body.starts_with("<txn>"), "{}", a.body);
        assert!(read_txn(&a.body).is_none(), "{}", a.body);
    }
    assert_eq!(api.fake.sales(), 2);
    let found = api.query(&[("ssl_invoice_number", "INV-M2")]).await;
    assert_eq!(found[0]["ssl_result"], "0");
    // Only the sale is garbled by malformed_next_sale.
    api.fake.malformed_next_sale();
    assert_eq!(
        api.query(&[("ssl_invoice_number", "INV-M1")]).await.len(),
        1
    );
    let a = api
        .xml(&[
            ("ssl_transaction_type", "ccsale"),
            ("ssl_token", &token),
            ("ssl_amount", "7.00"),
            ("ssl_invoice_number", "INV-M3"),
        ])
        .await;
    assert!(read_txn(&a.body).is_none(), "{}", a.body);
    assert_eq!(api.fake.sales(), 3);
    assert!(
        api.sale(&token, "7.00", "INV-M4")
            .await
            .contains_key("ssl_txn_id")
    );
    api.fake.stop().await;
}
