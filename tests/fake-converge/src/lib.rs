//! A fake Elavon Converge for tests and `make run`: the XML API (`POST …/processxml.do`, one form
//! field `xmldata=<txn>…</txn>`, credentials in the body, answers `<txn>` or `<txnlist>`) and
//! Hosted Payments session tokens (`POST /hosted-payments/transaction_token`).
//!
//! Like Converge it has **no idempotency**: every `ccsale` is a new transaction, so two sales with
//! one invoice number charge twice ([`FakeConverge::duplicate_sales`] tells tests). `txnquery`
//! finds transactions by id, by invoice number or by date range. Sales and returns stay `PEN`
//! until [`FakeConverge::settle_batch`]; `ccvoid` voids an unsettled sale whole, `ccreturn`
//! returns part or all of a settled one (capped). The Lightbox is played by
//! [`FakeConverge::lightbox_tokenize`] (and `POST /hosted-payments/lightbox` for `make run`): it
//! turns a test card typed into a session into an `ssl_token` of sixteen digits that keeps the
//! card's last four and fails the Luhn check, as a card token must. Test cards:
//! 4111111111111111 and 5105105105105100 approve, 4000000000000002 declines.
//!
//! Fault switches act on the XML API only: `fail_next` (HTTP 5xx, nothing done), `delay_next` /
//! `delay_next_sale` (the work is done, the answer comes late), `malformed_next` /
//! `malformed_next_sale` (the work is done, the answer is cut short).
// An outside system: it reads the wall clock and makes random ids as the real Converge would.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The credentials the fake accepts (in every XML request and session-token request).
#[derive(Debug, Clone)]
pub struct Config {
    /// `ssl_merchant_id`.
    pub merchant_id: String,
    /// `ssl_user_id`.
    pub user_id: String,
    /// `ssl_pin`.
    pub pin: String,
}

/// One transaction as Converge keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    /// `ssl_txn_id`, e.g. `281126A07-…`.
    pub txn_id: String,
    /// `SALE`, `RETURN` or `VOID`.
    pub transaction_type: String,
    /// `"10.00"`.
    pub amount: String,
    /// `USD` unless the request named another.
    pub currency: String,
    /// `ssl_invoice_number`, if the request had one.
    pub invoice_number: Option<String>,
    /// `0` approved, `1` declined.
    pub result: String,
    /// `APPROVAL` or `DECLINED`.
    pub result_message: String,
    /// `PEN`, `STL` or `VOID`.
    pub trans_status: String,
    /// For a return or a void: the sale's id.
    pub orig_txn_id: Option<String>,
    /// The card token a sale was made with.
    pub token: Option<String>,
    /// When it was made.
    pub time: DateTime<Utc>,
    /// `CMC…` when approved.
    pub approval_code: Option<String>,
    /// `41**********1111`.
    pub card_masked: String,
}

/// One XML API request as received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The URL path.
    pub path: String,
    /// `ssl_transaction_type`, lower case (empty when it could not be read).
    pub transaction_type: String,
    /// The request's `<txn>` fields, names in lower case, the PIN redacted.
    pub fields: Vec<(String, String)>,
    /// HTTP status answered.
    pub status: u16,
}

// ---------------------------------------------------------------------------------------------
// Flat XML

fn escape(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The five entities back to text in one pass; anything else after `&` is kept as it is.
fn unescape(v: &str) -> String {
    const ENTITIES: [(&str, char); 5] = [
        ("&amp;", '&'),
        ("&lt;", '<'),
        ("&gt;", '>'),
        ("&quot;", '"'),
        ("&apos;", '\''),
    ];
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        match ENTITIES.iter().find(|(e, _)| tail.starts_with(e)) {
            Some((e, c)) => {
                out.push(*c);
                rest = &tail[e.len()..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The elements of `body`, side by side: `<a>x</a><b/>…` → `[(a, x), (b, "")]`, names in lower
/// case, contents raw (not unescaped). `None` for anything else.
fn elements(body: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = body.trim();
    while !rest.is_empty() {
        let end = rest.strip_prefix('<')?.find('>')? + 1;
        let tag = &rest[1..end];
        let (name, empty) = match tag.strip_suffix('/') {
            Some(n) => (n.trim(), true),
            None => (tag, false),
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return None;
        }
        if empty {
            out.push((name.to_ascii_lowercase(), String::new()));
            rest = rest[end + 1..].trim_start();
            continue;
        }
        let close = format!("</{name}>");
        let at = rest[end + 1..].find(&close)? + end + 1;
        out.push((name.to_ascii_lowercase(), rest[end + 1..at].to_string()));
        rest = rest[at + close.len()..].trim_start();
    }
    Some(out)
}

/// The one root element of a document (after an optional `<?xml …?>`): its name and content.
fn root(xml: &str) -> Option<(String, String)> {
    let mut doc = xml.trim();
    if let Some(decl) = doc.strip_prefix("<?xml") {
        doc = &decl[decl.find("?>")? + 2..];
    }
    let [one] = <[(String, String); 1]>::try_from(elements(doc)?).ok()?;
    Some(one)
}

fn flat(inner: &str) -> Option<BTreeMap<String, String>> {
    elements(inner)?
        .into_iter()
        .map(|(k, v)| (!v.contains('<')).then(|| (k, unescape(&v))))
        .collect()
}

/// The fields of a flat `<txn><a>x</a>…</txn>` (an `<?xml …?>` declaration may come first),
/// names in lower case, values unescaped; `None` if the text is not that.
pub fn read_txn(xml: &str) -> Option<BTreeMap<String, String>> {
    let (name, inner) = root(xml)?;
    (name == "txn").then(|| flat(&inner))?
}

/// The transactions of a `<txnlist><ssl_txn_count>N</ssl_txn_count><txn>…</txn>…</txnlist>`
/// (the count, if present, must match); `None` if the text is not that.
pub fn read_txnlist(xml: &str) -> Option<Vec<BTreeMap<String, String>>> {
    let (name, inner) = root(xml)?;
    if name != "txnlist" {
        return None;
    }
    let mut txns = Vec::new();
    let mut count = None;
    for (k, v) in elements(&inner)? {
        match k.as_str() {
            "txn" => txns.push(flat(&v)?),
            "ssl_txn_count" => count = Some(v.trim().parse::<usize>().ok()?),
            _ => return None,
        }
    }
    count.is_none_or(|c| c == txns.len()).then_some(txns)
}

/// `<txn><a>x</a>…</txn>` with every value escaped (an empty value is `<a></a>`).
pub fn write_txn<K: AsRef<str>, V: AsRef<str>>(fields: &[(K, V)]) -> String {
    let mut x = String::from("<txn>");
    for (k, v) in fields {
        let k = k.as_ref();
        x.push_str(&format!("<{k}>{}</{k}>", escape(v.as_ref())));
    }
    x.push_str("</txn>");
    x
}

fn error_xml(code: &str, name: &str, message: &str) -> String {
    write_txn(&[
        ("errorCode", code),
        ("errorName", name),
        ("errorMessage", message),
    ])
}

fn bad_parameter(message: &str) -> String {
    error_xml("4000", "Missing/Invalid Parameter", message)
}

fn bad_amount() -> String {
    error_xml("5021", "Invalid Amount", "The amount supplied is invalid.")
}

// ---------------------------------------------------------------------------------------------
// Cards and amounts

fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b.wrapping_sub(b'0'));
            match (i % 2 == 1, d * 2) {
                (true, x) if x > 9 => x - 9,
                (true, x) => x,
                (false, _) => d,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn mask(card: &str) -> String {
    let first = card.get(..2).unwrap_or(card);
    let last = card.get(card.len().saturating_sub(4)..).unwrap_or(card);
    format!("{first}**********{last}")
}

/// `"12.34"` with exactly two decimals and more than zero, in minor units.
fn cents(amount: &str) -> Option<i64> {
    let (w, f) = amount.split_once('.')?;
    if f.len() != 2 || w.is_empty() || !w.bytes().chain(f.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let c = w
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(f.parse::<i64>().ok()?)?;
    (c > 0).then_some(c)
}

fn decimal(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

// ---------------------------------------------------------------------------------------------
// The store

impl Txn {
    fn fields(&self) -> Vec<(&'static str, String)> {
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        vec![
            ("ssl_result", self.result.clone()),
            ("ssl_result_message", self.result_message.clone()),
            ("ssl_txn_id", self.txn_id.clone()),
            ("ssl_approval_code", opt(&self.approval_code)),
            ("ssl_amount", self.amount.clone()),
            ("ssl_invoice_number", opt(&self.invoice_number)),
            ("ssl_card_number", self.card_masked.clone()),
            (
                "ssl_txn_time",
                self.time.format("%m/%d/%Y %I:%M:%S %p").to_string(),
            ),
            ("ssl_transaction_currency", self.currency.clone()),
            ("ssl_transaction_type", self.transaction_type.clone()),
            ("ssl_trans_status", self.trans_status.clone()),
            ("ssl_orig_txn_id", opt(&self.orig_txn_id)),
        ]
    }

    fn approved(&self) -> bool {
        self.result == "0"
    }
}

/// A transaction to record.
struct New {
    kind: &'static str,
    amount: String,
    currency: String,
    invoice: Option<String>,
    approved: bool,
    orig: Option<String>,
    card_masked: String,
    token: Option<String>,
}

#[derive(Default)]
struct Store {
    txns: Vec<Txn>,
    /// Session token → (made at, used).
    sessions: HashMap<String, (DateTime<Utc>, bool)>,
    /// Card token → card number.
    tokens: HashMap<String, String>,
    txnqueries: usize,
    sale_attempts: usize,
    seq: u64,
}

/// A request's field, absent when empty.
fn field<'a>(f: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    f.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

impl Store {
    fn record(&mut self, n: New) -> Txn {
        self.seq += 1;
        let now = Utc::now();
        let t = Txn {
            txn_id: format!(
                "{}A{:02}-{}",
                now.format("%d%m%y"),
                self.seq % 100,
                uuid::Uuid::new_v4()
            ),
            transaction_type: n.kind.to_string(),
            amount: n.amount,
            currency: n.currency,
            invoice_number: n.invoice.filter(|i| !i.is_empty()),
            result: if n.approved { "0" } else { "1" }.to_string(),
            result_message: if n.approved { "APPROVAL" } else { "DECLINED" }.to_string(),
            trans_status: if n.kind == "VOID" { "VOID" } else { "PEN" }.to_string(),
            orig_txn_id: n.orig,
            token: n.token,
            time: now,
            approval_code: n.approved.then(|| format!("CMC{:03}", self.seq % 1000)),
            card_masked: n.card_masked,
        };
        self.txns.push(t.clone());
        t
    }

    fn sale(&mut self, f: &BTreeMap<String, String>) -> String {
        let amount = field(f, "ssl_amount").unwrap_or_default();
        if cents(amount).is_none() {
            return bad_amount();
        }
        let invoice = field(f, "ssl_invoice_number").map(str::to_string);
        if invoice.as_ref().is_some_and(|i| i.chars().count() > 25) {
            return error_xml(
                "5005",
                "Field Character Limit Exceeded",
                "ssl_invoice_number is longer than 25 characters.",
            );
        }
        let token = field(f, "ssl_token");
        let Some(card) = token.and_then(|t| self.tokens.get(t)).cloned() else {
            return error_xml(
                "5000",
                "Credit Card Number Invalid",
                "The token supplied is not valid (card numbers are not taken).",
            );
        };
        self.sale_attempts += 1;
        let t = self.record(New {
            kind: "SALE",
            amount: amount.to_string(),
            currency: field(f, "ssl_transaction_currency")
                .unwrap_or("USD")
                .to_ascii_uppercase(),
            invoice,
            approved: card != "4000000000000002",
            orig: None,
            card_masked: mask(&card),
            token: token.map(str::to_string),
        });
        let mut answer = t.fields();
        answer.push(("ssl_token", t.token.clone().unwrap_or_default()));
        write_txn(&answer)
    }

    /// `ccreturn` (`kind` RETURN) or `ccvoid` (`kind` VOID) of the sale `ssl_txn_id`.
    fn refund(&mut self, kind: &'static str, f: &BTreeMap<String, String>) -> String {
        let id = field(f, "ssl_txn_id").unwrap_or_default().to_string();
        let Some(sale) = self
            .txns
            .iter()
            .find(|t| t.txn_id == id && t.transaction_type == "SALE" && t.approved())
            .cloned()
        else {
            return error_xml(
                "5040",
                "Invalid Transaction ID",
                "The transaction ID is invalid for this transaction type.",
            );
        };
        let returned: i64 = self
            .txns
            .iter()
            .filter(|t| t.transaction_type == "RETURN" && t.approved())
            .filter(|t| t.orig_txn_id.as_deref() == Some(id.as_str()))
            .map(|t| cents(&t.amount).unwrap_or(0))
            .sum();
        let sale_cents = cents(&sale.amount).unwrap_or(0);
        let amount = match kind {
            "VOID" if sale.trans_status == "STL" => {
                let m = "The transaction is settled: use a return.";
                return error_xml("5093", "Transaction settled, use return", m);
            }
            "VOID" if sale.trans_status == "VOID" || returned > 0 => {
                let m = "The transaction was already voided or returned.";
                return error_xml("5094", "Transaction cannot be voided", m);
            }
            "VOID" => sale.amount.clone(),
            _ if sale.trans_status == "PEN" => {
                let m = "The transaction is not settled yet: use a void.";
                return error_xml("5091", "Transaction not settled, use void", m);
            }
            _ => {
                let Some(want) = field(f, "ssl_amount").and_then(cents) else {
                    return bad_amount();
                };
                // A voided sale has nothing left to return.
                let left = if sale.trans_status == "VOID" {
                    0
                } else {
                    sale_cents - returned
                };
                if want > left {
                    let m = "The amount exceeds what is left of the original transaction.";
                    return error_xml("5092", "Amount exceeds original transaction", m);
                }
                decimal(want)
            }
        };
        if kind == "VOID"
            && let Some(s) = self.txns.iter_mut().find(|t| t.txn_id == id)
        {
            s.trans_status = "VOID".into();
        }
        let t = self.record(New {
            kind,
            amount,
            currency: sale.currency.clone(),
            invoice: field(f, "ssl_invoice_number").map(str::to_string),
            approved: true,
            orig: Some(id),
            card_masked: sale.card_masked.clone(),
            token: sale.token.clone(),
        });
        write_txn(&t.fields())
    }

    fn query(&mut self, f: &BTreeMap<String, String>) -> String {
        self.txnqueries += 1;
        // `MM/DD/YYYY`, a time after it ignored.
        let day = |d: &str| {
            let d = d.split_whitespace().next().unwrap_or_default();
            NaiveDate::parse_from_str(d, "%m/%d/%Y").ok()
        };
        let range = match (
            field(f, "ssl_search_start_date"),
            field(f, "ssl_search_end_date"),
        ) {
            (None, None) => None,
            (Some(a), Some(b)) => match (day(a), day(b)) {
                (Some(a), Some(b)) => Some((a, b)),
                _ => return bad_parameter("The search dates must be MM/DD/YYYY."),
            },
            _ => return bad_parameter("Both search dates are needed."),
        };
        let id = field(f, "ssl_txn_id");
        let invoice = field(f, "ssl_invoice_number");
        if id.is_none() && invoice.is_none() && range.is_none() {
            return bad_parameter("txnquery needs ssl_txn_id, ssl_invoice_number or dates.");
        }
        let found: Vec<&Txn> = self
            .txns
            .iter()
            .filter(|t| id.is_none_or(|i| t.txn_id == i))
            .filter(|t| invoice.is_none_or(|i| t.invoice_number.as_deref() == Some(i)))
            .filter(|t| range.is_none_or(|(a, b)| (a..=b).contains(&t.time.date_naive())))
            .collect();
        let mut x = format!("<txnlist><ssl_txn_count>{}</ssl_txn_count>", found.len());
        for t in found {
            x.push_str(&write_txn(&t.fields()));
        }
        x.push_str("</txnlist>");
        x
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

#[derive(Default)]
struct Faults {
    fail: u32,
    fail_status: u16,
    delay: u32,
    delay_for: Duration,
    delay_sale: Option<Duration>,
    malformed: u32,
    malformed_sale: bool,
}

struct State {
    config: Config,
    store: Mutex<Store>,
    faults: Mutex<Faults>,
    requests: Mutex<Vec<RecordedRequest>>,
}

impl State {
    fn new(config: Config) -> State {
        State {
            config,
            store: Mutex::new(Store::default()),
            faults: Mutex::new(Faults::default()),
            requests: Mutex::new(Vec::new()),
        }
    }

    fn authentic(&self, f: &impl Fn(&str) -> Option<String>) -> bool {
        let c = &self.config;
        f("ssl_merchant_id").as_ref() == Some(&c.merchant_id)
            && f("ssl_user_id").as_ref() == Some(&c.user_id)
            && f("ssl_pin").as_ref() == Some(&c.pin)
    }
}

/// A form body's fields, names in lower case.
fn form(body: &[u8]) -> HashMap<String, String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

fn text(status: StatusCode, body: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain")
        .body(body.into())
}

async fn xml_api(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let xmldata = form(&body)
        .remove("xmldata")
        .or_else(|| form(req.query_string().as_bytes()).remove("xmldata"));
    let fields = xmldata.as_deref().and_then(read_txn);
    let kind = fields
        .as_ref()
        .and_then(|f| f.get("ssl_transaction_type"))
        .map(|k| k.to_ascii_lowercase())
        .unwrap_or_default();
    let (fail, delay, malformed) = {
        let mut f = state.faults.lock().unwrap();
        if f.fail > 0 {
            f.fail -= 1;
            (Some(f.fail_status), None, false)
        } else {
            let mut delay = (f.delay > 0).then(|| {
                f.delay -= 1;
                f.delay_for
            });
            let mut malformed = f.malformed > 0;
            f.malformed = f.malformed.saturating_sub(1);
            if kind == "ccsale" {
                delay = delay.or(f.delay_sale.take());
                malformed = malformed || std::mem::take(&mut f.malformed_sale);
            }
            (None, delay, malformed)
        }
    };
    let status = StatusCode::from_u16(fail.unwrap_or(200)).unwrap_or(StatusCode::BAD_GATEWAY);
    let redacted = fields.iter().flatten().map(|(k, v)| {
        let v = if k == "ssl_pin" { "***" } else { v.as_str() };
        (k.clone(), v.to_string())
    });
    state.requests.lock().unwrap().push(RecordedRequest {
        path: req.path().to_string(),
        transaction_type: kind.clone(),
        fields: redacted.collect(),
        status: status.as_u16(),
    });
    if fail.is_some() {
        return HttpResponse::build(status)
            .content_type("text/html")
            .body("<html><body><h1>Service Unavailable</h1></body></html>");
    }
    let answer = match &fields {
        None => bad_parameter("xmldata is missing or is not a <txn> document."),
        Some(f) if !state.authentic(&|k| f.get(k).cloned()) => error_xml(
            "4025",
            "Invalid Credentials",
            "The credentials supplied in the authorization request are invalid.",
        ),
        Some(f) => {
            let mut store = state.store.lock().unwrap();
            match kind.as_str() {
                "ccsale" => store.sale(f),
                "ccreturn" => store.refund("RETURN", f),
                "ccvoid" | "ccdelete" => store.refund("VOID", f),
                "txnquery" => store.query(f),
                _ => bad_parameter("The transaction type is not supported."),
            }
        }
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let body = if malformed {
        let mut cut = answer.len() / 2;
        while !answer.is_char_boundary(cut) {
            cut -= 1;
        }
        answer[..cut].to_string()
    } else {
        answer
    };
    HttpResponse::Ok()
        .content_type("application/xml")
        .body(body)
}

async fn transaction_token(body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let f = form(&body);
    let required = [
        "ssl_merchant_id",
        "ssl_user_id",
        "ssl_pin",
        "ssl_transaction_type",
    ];
    if let Some(missing) = required
        .iter()
        .find(|k| f.get(**k).is_none_or(String::is_empty))
    {
        return text(StatusCode::BAD_REQUEST, format!("{missing} is required"));
    }
    if !state.authentic(&|k| f.get(k).cloned()) {
        return text(StatusCode::UNAUTHORIZED, "Authentication failed");
    }
    if !f["ssl_transaction_type"].eq_ignore_ascii_case("ccgettoken") {
        let m = "ssl_transaction_type must be ccgettoken";
        return text(StatusCode::BAD_REQUEST, m);
    }
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let mut store = state.store.lock().unwrap();
    store.sessions.insert(token.clone(), (Utc::now(), false));
    text(StatusCode::OK, token)
}

/// `make run`'s stand-in for the Lightbox: `ssl_txn_auth_token` and `card` → the card token.
async fn lightbox(body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let f = form(&body);
    let (Some(session), Some(card)) = (f.get("ssl_txn_auth_token"), f.get("card")) else {
        let m = "ssl_txn_auth_token and card are required";
        return text(StatusCode::BAD_REQUEST, m);
    };
    match tokenize(&state, session, card) {
        Ok(t) => text(StatusCode::OK, t),
        Err(e) => text(StatusCode::BAD_REQUEST, e),
    }
}

fn tokenize(state: &State, session: &str, card: &str) -> Result<String, String> {
    let mut store = state.store.lock().unwrap();
    let Some((made, used)) = store.sessions.get_mut(session) else {
        return Err("unknown session token".into());
    };
    if *used {
        return Err("session token already used".into());
    }
    if Utc::now() - *made > chrono::Duration::minutes(15) {
        return Err("session token expired".into());
    }
    if !matches!(
        card,
        "4111111111111111" | "5105105105105100" | "4000000000000002"
    ) {
        return Err("invalid card".into());
    }
    *used = true;
    // Sixteen digits, the card's last four kept, never a valid card number: changing the first
    // (doubled) digit by one always changes the Luhn sum modulo 10.
    let n = uuid::Uuid::new_v4().as_u128() % 1_000_000_000_000;
    let mut token = format!("{n:012}{}", &card[card.len() - 4..]);
    if luhn_valid(&token) {
        let first = (token.as_bytes()[0] - b'0' + 1) % 10;
        token.replace_range(0..1, &first.to_string());
    }
    store.tokens.insert(token.clone(), card.to_string());
    Ok(token)
}

/// A running fake Converge.
pub struct FakeConverge {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub url: String,
    state: Arc<State>,
    server: actix_web::dev::ServerHandle,
}

impl FakeConverge {
    /// Starts on `port` (0 for any) on 127.0.0.1. Call from within a tokio runtime. The XML API
    /// is `{url}/VirtualMerchantDemo/processxml.do` (also `/VirtualMerchant/…`), Hosted Payments
    /// `{url}/hosted-payments`.
    pub fn start(config: Config, port: u16) -> std::io::Result<FakeConverge> {
        telemetry::install_crypto_provider();
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let state = Arc::new(State::new(config));
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(
                    "/hosted-payments/transaction_token",
                    web::post().to(transaction_token),
                )
                .route("/hosted-payments/lightbox", web::post().to(lightbox))
                .route(
                    "/VirtualMerchantDemo/processxml.do",
                    web::post().to(xml_api),
                )
                .route("/VirtualMerchant/processxml.do", web::post().to(xml_api))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(FakeConverge {
            url,
            state,
            server: handle,
        })
    }

    /// Stops the server, letting answers in flight finish.
    pub async fn stop(self) {
        self.server.stop(true).await;
    }

    /// What the Lightbox / Hosted Payments page gives the browser after the learner types `card`
    /// into the session `session_token` (from `/hosted-payments/transaction_token`): the card
    /// token (`ssl_token`). Err if the session is unknown, already used or expired (15 minutes),
    /// or `"invalid card"` for a card other than the three test cards (the session stays open).
    pub fn lightbox_tokenize(&self, session_token: &str, card: &str) -> Result<String, String> {
        tokenize(&self.state, session_token, card)
    }

    /// Approved sales ever (injected ones included).
    pub fn sales(&self) -> usize {
        self.count(|t| t.transaction_type == "SALE" && t.approved())
    }

    /// `ccsale` requests that reached the card (approved and declined).
    pub fn sale_attempts(&self) -> usize {
        self.state.store.lock().unwrap().sale_attempts
    }

    /// Approved returns.
    pub fn returns(&self) -> usize {
        self.count(|t| t.transaction_type == "RETURN")
    }

    /// Voids.
    pub fn voids(&self) -> usize {
        self.count(|t| t.transaction_type == "VOID")
    }

    fn count(&self, f: impl Fn(&Txn) -> bool) -> usize {
        let store = self.state.store.lock().unwrap();
        store.txns.iter().filter(|t| f(t)).count()
    }

    /// Invoice numbers with more than one approved sale (a double charge), with the count.
    pub fn duplicate_sales(&self) -> Vec<(String, usize)> {
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for t in self.transactions() {
            if t.transaction_type == "SALE"
                && t.approved()
                && let Some(inv) = t.invoice_number
            {
                *by.entry(inv).or_default() += 1;
            }
        }
        by.into_iter().filter(|(_, n)| *n > 1).collect()
    }

    /// `txnquery` requests answered (whatever they found).
    pub fn txnqueries(&self) -> usize {
        self.state.store.lock().unwrap().txnqueries
    }

    /// Every XML API request, in order (failed ones with their status).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// One transaction by `ssl_txn_id`.
    pub fn transaction(&self, txn_id: &str) -> Option<Txn> {
        self.transactions().into_iter().find(|t| t.txn_id == txn_id)
    }

    /// Every transaction, oldest first.
    pub fn transactions(&self) -> Vec<Txn> {
        self.state.store.lock().unwrap().txns.clone()
    }

    /// The next `n` XML requests are answered HTTP `status` with an HTML page; nothing is done.
    pub fn fail_next(&self, n: u32, status: u16) {
        let mut f = self.state.faults.lock().unwrap();
        f.fail = n;
        f.fail_status = status;
    }

    /// The next `n` XML requests do their work and answer after `d`.
    pub fn delay_next(&self, n: u32, d: Duration) {
        let mut f = self.state.faults.lock().unwrap();
        f.delay = n;
        f.delay_for = d;
    }

    /// The next `ccsale` is made and answered after `d`.
    pub fn delay_next_sale(&self, d: Duration) {
        self.state.faults.lock().unwrap().delay_sale = Some(d);
    }

    /// The next `n` XML requests do their work, then answer 200 with a body cut in half.
    pub fn malformed_next(&self, n: u32) {
        self.state.faults.lock().unwrap().malformed = n;
    }

    /// The next `ccsale` is made, then answered with a body cut in half.
    pub fn malformed_next_sale(&self) {
        self.state.faults.lock().unwrap().malformed_sale = true;
    }

    /// The nightly batch: every approved sale and return still `PEN` becomes `STL`.
    pub fn settle_batch(&self) {
        let mut store = self.state.store.lock().unwrap();
        for t in store.txns.iter_mut() {
            let kind = t.transaction_type.as_str();
            if t.trans_status == "PEN" && t.approved() && matches!(kind, "SALE" | "RETURN") {
                t.trans_status = "STL".into();
            }
        }
    }

    /// An approved sale made outside the platform (Converge sends no webhook), `PEN`, on a
    /// 4111… card; its `ssl_txn_id`.
    pub fn inject_sale(&self, amount: &str, currency: &str, invoice: &str) -> String {
        let mut store = self.state.store.lock().unwrap();
        let t = store.record(New {
            kind: "SALE",
            amount: amount.to_string(),
            currency: currency.to_string(),
            invoice: Some(invoice.to_string()),
            approved: true,
            orig: None,
            card_masked: mask("4111111111111111"),
            token: None,
        });
        t.txn_id
    }

    /// Changes a transaction's amount in place (a difference for reconciliation to find).
    pub fn set_amount(&self, txn_id: &str, amount: &str) {
        let mut store = self.state.store.lock().unwrap();
        if let Some(t) = store.txns.iter_mut().find(|t| t.txn_id == txn_id) {
            t.amount = amount.to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        State::new(Config {
            merchant_id: "m".into(),
            user_id: "u".into(),
            pin: "p".into(),
        })
    }

    fn session(state: &State, age: chrono::Duration) -> String {
        let s = uuid::Uuid::new_v4().to_string();
        let mut store = state.store.lock().unwrap();
        store.sessions.insert(s.clone(), (Utc::now() - age, false));
        s
    }

    #[test]
    fn tokens_keep_the_last_four_and_are_never_card_numbers() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("5105105105105100"));
        assert!(!luhn_valid("4111111111111112"));
        let state = state();
        for n in 0..300 {
            let card = ["4111111111111111", "5105105105105100"][n % 2];
            let s = session(&state, chrono::Duration::zero());
            let t = tokenize(&state, &s, card).unwrap();
            assert_eq!(t.len(), 16);
            assert!(t.bytes().all(|b| b.is_ascii_digit()));
            assert!(t.ends_with(&card[12..]));
            assert!(!luhn_valid(&t), "{t}");
            assert!(tokenize(&state, &s, card).is_err(), "single use");
        }
    }

    #[test]
    fn sessions_expire_and_bad_cards_leave_them_open() {
        let state = state();
        let old = session(&state, chrono::Duration::minutes(16));
        assert_eq!(
            tokenize(&state, &old, "4111111111111111").unwrap_err(),
            "session token expired"
        );
        let s = session(&state, chrono::Duration::minutes(14));
        assert_eq!(
            tokenize(&state, &s, "4242424242424242").unwrap_err(),
            "invalid card"
        );
        assert!(tokenize(&state, &s, "4000000000000002").is_ok());
        assert!(tokenize(&state, "nope", "4111111111111111").is_err());
    }

    #[test]
    fn requests_read_back_and_amounts_are_strict() {
        let f = read_txn(
            "<?xml version=\"1.0\"?><txn><ssl_Amount>1.00</ssl_Amount>\
             <ssl_description>a &amp;amp; b &bogus</ssl_description><x/></txn>",
        )
        .unwrap();
        assert_eq!(f["ssl_amount"], "1.00");
        assert_eq!(f["ssl_description"], "a &amp; b &bogus");
        assert_eq!(f["x"], "");
        assert!(read_txn("<txn><a>1</b></txn>").is_none());
        assert!(read_txn("<txn><a><b>1</b></a></txn>").is_none());
        assert!(read_txn("<txn></txn><txn></txn>").is_none());
        assert_eq!(cents("12.34"), Some(1234));
        for bad in [
            "12.3",
            "0.00",
            "-1.00",
            "1",
            "a.bc",
            ".10",
            "92233720368547758.08",
        ] {
            assert_eq!(cents(bad), None, "{bad}");
        }
        assert_eq!(mask("4111111111111111"), "41**********1111");
        assert_eq!(decimal(1005), "10.05");
    }
}
