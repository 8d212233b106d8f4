//! The fake's flat-XML reader: whatever it is given it never panics, and every value written
//! escaped reads back exactly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fake_converge::{read_txn, read_txnlist, write_txn};
use proptest::prelude::*;

#[test]
fn lists_read_back_with_their_count() {
    let one = write_txn(&[("ssl_txn_id", "A-1"), ("ssl_invoice_number", "")]);
    let list = format!("<txnlist><ssl_txn_count>2</ssl_txn_count>{one}{one}</txnlist>");
    let txns = read_txnlist(&list).unwrap();
    assert_eq!(txns.len(), 2);
    assert_eq!(txns[1]["ssl_txn_id"], "A-1");
    assert_eq!(txns[1]["ssl_invoice_number"], "");
    let wrong = format!("<txnlist><ssl_txn_count>3</ssl_txn_count>{one}</txnlist>");
    assert!(read_txnlist(&wrong).is_none());
    assert_eq!(
        read_txnlist("<txnlist><ssl_txn_count>0</ssl_txn_count></txnlist>"),
        Some(vec![])
    );
    assert!(read_txnlist(&one).is_none());
    assert!(read_txn("<txn><ssl_result>0</ssl_res").is_none());
    assert_eq!(
        write_txn(&[("a", "<&>\"'")]),
        "<txn><a>&lt;&amp;&gt;&quot;&apos;</a></txn>"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn reading_any_text_never_panics(s in "\\PC{0,200}") {
        let _ = read_txn(&s);
        let _ = read_txnlist(&s);
    }

    #[test]
    fn reading_xml_shaped_text_never_panics(
        parts in proptest::collection::vec(
            proptest::sample::select(vec![
                "<txn>", "</txn>", "<txnlist>", "</txnlist>", "<ssl_txn_count>",
                "</ssl_txn_count>", "<a>", "</a>", "<a/>", "<", ">", "/", "&", ";", "&amp;",
                "&lt", "é", "0", " ", "<?xml ?>", "<?xml", "?>", "\u{1F600}",
            ]),
            0..30,
        ),
    ) {
        let s = parts.concat();
        let _ = read_txn(&s);
        let _ = read_txnlist(&s);
    }

    #[test]
    fn escaped_values_round_trip(
        a in "\\PC{0,60}",
        b in "[&<>\"' a-z;]{0,30}",
        name in "[a-zA-Z_][a-zA-Z0-9_]{0,20}",
    ) {
        let key = format!("x{name}");
        let xml = write_txn(&[("ssl_description", a.as_str()), (key.as_str(), b.as_str())]);
        let back = read_txn(&xml).unwrap();
        prop_assert_eq!(&back["ssl_description"], &a);
        prop_assert_eq!(&back[&key.to_ascii_lowercase()], &b);
        let list = format!("<txnlist><ssl_txn_count>1</ssl_txn_count>{xml}</txnlist>");
        prop_assert_eq!(&read_txnlist(&list).unwrap()[0]["ssl_description"], &a);
    }
}
