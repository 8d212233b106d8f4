//! Shared by the integration tests: a fake on a free port and raw calls to it over HTTP, the
//! form bodies built with serde_urlencoded as a client would.
#![allow(dead_code)]

use fake_converge::{Config, FakeConverge, read_txn, read_txnlist, write_txn};
use std::collections::BTreeMap;
use std::time::Duration;

pub const MERCHANT: &str = "0021999";
pub const USER: &str = "cadenceapi";
pub const PIN: &str = "CADENCEFAKEPIN0123456789";
pub const CARD_OK: &str = "4111111111111111";
pub const CARD_MC: &str = "5105105105105100";
pub const CARD_DECLINED: &str = "4000000000000002";

pub type Fields = BTreeMap<String, String>;

/// A fake on a free port and a client for it.
pub struct Api {
    pub fake: FakeConverge,
    pub http: reqwest::Client,
}

/// A raw answer.
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Answer {
    /// The answer as one `<txn>`.
    pub fn txn(&self) -> Fields {
        read_txn(&self.body).unwrap_or_else(|| panic!("not a <txn>: {}", self.body))
    }

    /// The answer as a `<txnlist>`.
    pub fn list(&self) -> Vec<Fields> {
        read_txnlist(&self.body).unwrap_or_else(|| panic!("not a <txnlist>: {}", self.body))
    }
}

pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder().timeout(timeout).build().unwrap()
}

impl Api {
    pub fn start() -> Api {
        let fake = FakeConverge::start(
            Config {
                merchant_id: MERCHANT.into(),
                user_id: USER.into(),
                pin: PIN.into(),
            },
            0,
        )
        .unwrap();
        Api {
            fake,
            http: client(Duration::from_secs(10)),
        }
    }

    pub fn xml_url(&self) -> String {
        format!("{}/VirtualMerchantDemo/processxml.do", self.fake.url)
    }

    /// Posts a form body to `path`.
    pub async fn form(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let r = self
            .http
            .post(format!("{}{path}", self.fake.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Answer {
            status,
            content_type,
            body: r.text().await.unwrap(),
        }
    }

    /// Posts `xmldata` holding exactly `fields` (no credentials added).
    pub async fn raw_xml(&self, fields: &[(&str, &str)]) -> Answer {
        let xml = write_txn(fields);
        self.form(
            "/VirtualMerchantDemo/processxml.do",
            &[("xmldata", xml.as_str())],
        )
        .await
    }

    /// Posts `xmldata` with the credentials and `fields`.
    pub async fn xml(&self, fields: &[(&str, &str)]) -> Answer {
        self.raw_xml(&with_credentials(fields)).await
    }

    /// A Hosted Payments session token.
    pub async fn session(&self) -> String {
        let a = self
            .form(
                "/hosted-payments/transaction_token",
                &with_credentials(&[("ssl_transaction_type", "ccgettoken"), ("ssl_verify", "N")]),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.body
    }

    /// A card token, as the Lightbox gives it for `card`.
    pub async fn card_token(&self, card: &str) -> String {
        let session = self.session().await;
        self.fake.lightbox_tokenize(&session, card).unwrap()
    }

    /// A `ccsale` of `amount` with `token` and `invoice`.
    pub async fn sale(&self, token: &str, amount: &str, invoice: &str) -> Fields {
        self.xml(&[
            ("ssl_transaction_type", "ccsale"),
            ("ssl_token", token),
            ("ssl_amount", amount),
            ("ssl_invoice_number", invoice),
        ])
        .await
        .txn()
    }

    /// An approved sale with a fresh 4111… token.
    pub async fn approved_sale(&self, amount: &str, invoice: &str) -> Fields {
        let token = self.card_token(CARD_OK).await;
        let t = self.sale(&token, amount, invoice).await;
        assert_eq!(t["ssl_result"], "0", "{t:?}");
        t
    }

    /// `txnquery` with `fields`.
    pub async fn query(&self, fields: &[(&str, &str)]) -> Vec<Fields> {
        let mut f = vec![("ssl_transaction_type", "txnquery")];
        f.extend_from_slice(fields);
        self.xml(&f).await.list()
    }
}

/// The credentials, then `fields`.
pub fn with_credentials<'a>(fields: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![
        ("ssl_merchant_id", MERCHANT),
        ("ssl_user_id", USER),
        ("ssl_pin", PIN),
    ];
    f.extend_from_slice(fields);
    f
}

/// `errorCode` of an answer, if it is an error.
pub fn error_code(t: &Fields) -> Option<&str> {
    t.get("errorcode").map(String::as_str)
}

pub fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}
