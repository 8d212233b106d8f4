//! Sessions, card tokens, sales and queries over HTTP: no idempotency (two sales with one invoice
//! charge twice), Converge's error codes, and `txnquery` by id, invoice and dates.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_token_then_the_lightbox_then_an_approved_sale_is_counted() {
    let api = Api::start();
    let session = api.session().await;
    assert_eq!(session.len(), 64);
    assert!(session.bytes().all(|b| b.is_ascii_hexdigit()));
    let token = api.fake.lightbox_tokenize(&session, CARD_OK).unwrap();
    assert_eq!(
        api.fake.lightbox_tokenize(&session, CARD_OK).unwrap_err(),
        "session token already used"
    );
    let answer = api
        .xml(&[
            ("ssl_transaction_type", "CCSALE"),
            ("ssl_token", &token),
            ("ssl_amount", "10.00"),
            ("ssl_invoice_number", "INV-1"),
            ("ssl_description", "Course <A> & \"B\""),
        ])
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, "application/xml");
    let t = answer.txn();
    assert_eq!(t["ssl_result"], "0", "{t:?}");
    assert_eq!(t["ssl_result_message"], "APPROVAL");
    assert_eq!(t["ssl_amount"], "10.00");
    assert_eq!(t["ssl_invoice_number"], "INV-1");
    assert_eq!(t["ssl_card_number"], "41**********1111");
    assert_eq!(t["ssl_transaction_currency"], "USD");
    assert_eq!(t["ssl_token"], token);
    assert!(t["ssl_approval_code"].starts_with("CMC"));
    assert!(t["ssl_txn_id"].contains('-'));
    chrono::NaiveDateTime::parse_from_str(&t["ssl_txn_time"], "%m/%d/%Y %I:%M:%S %p").unwrap();
    assert_eq!((api.fake.sales(), api.fake.sale_attempts()), (1, 1));
    let kept = api.fake.transaction(&t["ssl_txn_id"]).unwrap();
    assert_eq!(
        (kept.transaction_type.as_str(), kept.trans_status.as_str()),
        ("SALE", "PEN")
    );
    assert_eq!(kept.token.as_deref(), Some(token.as_str()));
    let recorded = &api.fake.requests()[0];
    assert_eq!(recorded.transaction_type, "ccsale");
    assert_eq!(recorded.status, 200);
    assert!(recorded.fields.contains(&("ssl_pin".into(), "***".into())));
    assert!(
        recorded
            .fields
            .contains(&("ssl_description".into(), "Course <A> & \"B\"".into()))
    );
    api.fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_tokens_are_16_digits_keep_the_last_four_and_fail_luhn() {
    let api = Api::start();
    for card in [CARD_OK, CARD_MC, CARD_DECLINED].repeat(20) {
        let token = api.card_token(card).await;
        assert_eq!(token.len(), 16, "{token}");
        assert!(token.bytes().all(|b| b.is_ascii_digit()), "{token}");
        assert_eq!(&token[12..], &card[12..]);
        assert!(
            !luhn_valid(&token),
            "{token} must not pass for a card number"
        );
    }
    let session = api.session().await;
    assert_eq!(
        api.fake.lightbox_tokenize(&session, "4242424242424242"),
        Err("invalid card".to_string())
    );
    // A card refused by the Lightbox leaves the session open.
    assert!(api.fake.lightbox_tokenize(&session, CARD_MC).is_ok());
    assert!(
        api.fake
            .lightbox_tokenize("not-a-session", CARD_OK)
            .is_err()
    );
    api.fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_tokens_need_the_credentials_and_ccgettoken() {
    let api = Api::start();
    let path = "/hosted-payments/transaction_token";
    let wrong = api
        .form(
            path,
            &[
                ("ssl_merchant_id", MERCHANT),
                ("ssl_user_id", USER),
                ("ssl_pin", "WRONG"),
                ("ssl_transaction_type", "ccgettoken"),
            ],
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.body.as_str()),
        (401, "Authentication failed")
    );
    assert!(wrong.content_type.starts_with("text/plain"));
    let sale = api
        .form(
            path,
            &with_credentials(&[("ssl_transaction_type", "ccsale")]),
        )
        .await;
    assert_eq!(sale.status, 400, "{}", sale.body);
    let missing = api.form(path, &with_credentials(&[])).await;
    assert_eq!(missing.status, 400, "{}", missing.body);
    let ok = api
        .form(
            path,
            &with_credentials(&[
                ("ssl_transaction_type", "CCGETTOKEN"),
                ("ssl_amount", "10.00"),
                ("ssl_invoice_number", "INV-1"),
            ]),
        )
        .await;
    assert_eq!(ok.status, 200);
    assert!(ok.content_type.starts_with("text/plain"));
    assert!(api.fake.lightbox_tokenize(&ok.body, CARD_OK).is_ok());
    // The session endpoint is not an XML request.
    assert!(api.fake.requests().is_empty());
    api.fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_is_result_1_an_attempt_and_no_sale() {
    let api = Api::start();
    let token = api.card_token(CARD_DECLINED).await;
    let t = api.sale(&token, "25.00", "INV-D").await;
    assert_eq!(
        (t["ssl_result"].as_str(), t["ssl_result_message"].as_str()),
        ("1", "DECLINED")
    );
    assert_eq!((api.fake.sales(), api.fake.sale_attempts()), (0, 1));
    let kept = api.fake.transaction(&t["ssl_txn_id"]).unwrap();
    assert_eq!((kept.result.as_str(), kept.approval_code), ("1", None));
    let found = api.query(&[("ssl_invoice_number", "INV-D")]).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["ssl_result"], "1");
    api.fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sales_with_one_invoice_both_go_through_and_are_a_duplicate() {
    let api = Api::start();
    let token = api.card_token(CARD_OK).await;
    let a = api.sale(&token, "30.00", "INV-TWICE").await;
    let b = api.sale(&token, "30.00", "INV-TWICE").await;
    assert_eq!(
        (a["ssl_result"].as_str(), b["ssl_result"].as_str()),
        ("0", "0")
    );
    assert_ne!(a["ssl_txn_id"], b["ssl_txn_id"]);
    api.approved_sale("5.00", "INV-ONCE").await;
    assert_eq!(api.fake.sales(), 3);
    assert_eq!(api.fake.duplicate_sales(), [("INV-TWICE".to_string(), 2)]);
    api.fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_converge_error_codes_and_sell_nothing() {
    let api = Api::start();
    let token = api.card_token(CARD_OK).await;
    let sale = |amount: &'static str, token: String, invoice: &'static str| {
        let api = &api;
        async move {
            let t = api.sale(&token, amount, invoice).await;
            error_code(&t).map(str::to_string)
        }
    };
    for amount in ["10", "10.0", "10.000", "0.00", "-1.00", "ten", ""] {
        assert_eq!(
            sale(amount, token.clone(), "I").await.as_deref(),
            Some("5021"),
            "{amount}"
        );
    }
    let long = "X".repeat(26);
    let t = api
        .xml(&[
            ("ssl_transaction_type", "ccsale"),
            ("ssl_token", &token),
            ("ssl_amount", "1.00"),
            ("ssl_invoice_number", &long),
        ])
        .await
        .txn();
    assert_eq!(error_code(&t), Some("5005"));
    assert_eq!(t["errorname"], "Field Character Limit Exceeded");
    let unknown = sale("1.00", "1234567890123456".into(), "I").await;
    assert_eq!(unknown.as_deref(), Some("5000"));
    let card = api
        .xml(&[
            ("ssl_transaction_type", "ccsale"),
            ("ssl_card_number", CARD_OK),
            ("ssl_exp_date", "1230"),
            ("ssl_amount", "1.00"),
        ])
        .await
        .txn();
    assert_eq!(error_code(&card), Some("5000"));
    let other = api
        .xml(&[("ssl_transaction_type", "ccauthonly")])
        .await
        .txn();
    assert_eq!(error_code(&other), Some("4000"));
    for body in [
        vec![],
        vec![("xmldata", "<txn><ssl_pin>")],
        vec![("other", "x")],
    ] {
        let a = api.form("/VirtualMerchantDemo/processxml.do", &body).await;
        assert_eq!(a.status, 200);
        let t = a.txn();
        assert_eq!(error_code(&t), Some("4000"), "{body:?}");
        assert_eq!(t["errorname"], "Missing/Invalid Parameter");
    }
    assert_eq!((api.fake.sales(), api.fake.sale_attempts()), (0, 0));
    // Field names are case-insensitive.
    let upper = api
        .raw_xml(&[
            ("SSL_MERCHANT_ID", MERCHANT),
            ("ssl_User_Id", USER),
            ("SSL_PIN", PIN),
            ("SSL_TRANSACTION_TYPE", "CcSale"),
            ("SSL_TOKEN", &token),
            ("SSL_AMOUNT", "2.50"),
        ])
        .await
        .txn();
    assert_eq!(upper["ssl_result"], "0", "{upper:?}");
    api.fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_error_4025_and_do_nothing() {
    let api = Api::start();
    let token = api.card_token(CARD_OK).await;
    let answer = api
        .raw_xml(&[
            ("ssl_merchant_id", MERCHANT),
            ("ssl_user_id", USER),
            ("ssl_pin", "NOT-THE-PIN"),
            ("ssl_transaction_type", "ccsale"),
            ("ssl_token", &token),
            ("ssl_amount", "1.00"),
        ])
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        "<txn><errorCode>4025</errorCode><errorName>Invalid Credentials</errorName>\
         <errorMessage>The credentials supplied in the authorization request are invalid.\
         </errorMessage></txn>"
    );
    assert_eq!(api.fake.sale_attempts(), 0);
    assert_eq!(
        api.fake.requests()[0].fields[2],
        ("ssl_pin".into(), "***".into())
    );
    api.fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn txnquery_finds_by_id_by_invoice_and_by_date_range() {
    let api = Api::start();
    let a = api.approved_sale("12.00", "INV-A").await;
    let b = api.approved_sale("13.00", "INV-B").await;
    let by_invoice = api.query(&[("ssl_invoice_number", "INV-A")]).await;
    assert_eq!(by_invoice.len(), 1);
    let t = &by_invoice[0];
    assert_eq!(t["ssl_txn_id"], a["ssl_txn_id"]);
    assert_eq!(t["ssl_transaction_type"], "SALE");
    assert_eq!(t["ssl_amount"], "12.00");
    assert_eq!(t["ssl_transaction_currency"], "USD");
    assert_eq!(t["ssl_trans_status"], "PEN");
    assert_eq!(t["ssl_card_number"], "41**********1111");
    assert_eq!(t["ssl_orig_txn_id"], "");
    assert_eq!(t["ssl_txn_time"], a["ssl_txn_time"]);
    assert_eq!(t["ssl_approval_code"], a["ssl_approval_code"]);
    let by_id = api.query(&[("ssl_txn_id", &b["ssl_txn_id"])]).await;
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_id[0]["ssl_invoice_number"], "INV-B");
    assert!(
        api.query(&[("ssl_invoice_number", "NONE")])
            .await
            .is_empty()
    );
    let none = api
        .xml(&[("ssl_transaction_type", "txnquery"), ("ssl_txn_id", "x")])
        .await;
    assert!(
        none.body.contains("<ssl_txn_count>0</ssl_txn_count>"),
        "{}",
        none.body
    );

    // The sales' own day (the fake keeps UTC), so midnight cannot split the test.
    let today = chrono::NaiveDateTime::parse_from_str(&a["ssl_txn_time"], "%m/%d/%Y %I:%M:%S %p")
        .unwrap()
        .date();
    let day = |d: chrono::NaiveDate| d.format("%m/%d/%Y").to_string();
    let (yesterday, tomorrow) = (
        day(today.pred_opt().unwrap()),
        day(today.succ_opt().unwrap()),
    );
    let listed = api
        .query(&[
            ("ssl_search_start_date", &yesterday),
            ("ssl_search_end_date", &tomorrow),
        ])
        .await;
    let ids: Vec<&str> = listed.iter().map(|t| t["ssl_txn_id"].as_str()).collect();
    assert_eq!(ids, [a["ssl_txn_id"].as_str(), b["ssl_txn_id"].as_str()]);
    let long_ago = day(today - chrono::Duration::days(30));
    let earlier = api
        .query(&[
            ("ssl_search_start_date", &long_ago),
            ("ssl_search_end_date", &yesterday),
        ])
        .await;
    assert!(earlier.is_empty());
    let bad = api
        .xml(&[
            ("ssl_transaction_type", "txnquery"),
            ("ssl_search_start_date", "2026-01-01"),
        ])
        .await
        .txn();
    assert_eq!(error_code(&bad), Some("4000"));
    assert_eq!(api.fake.txnqueries(), 7);
    api.fake.stop().await;
}
