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
//! Fault switches: `fail_next` (HTTP 5xx, nothing done), `delay_next` / `delay_next_sale` (the
//! work is done, the answer comes late), `malformed_next` / `malformed_next_sale` (the work is
//! done, the answer is cut short).
// An outside system: it reads the wall clock and makes random ids as the real Converge would.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub merchant_id: String,
    pub user_id: String,
    pub pin: String,
}

/// One transaction as Converge keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    pub txn_id: String,
    /// `SALE`, `RETURN` or `VOID`.
    pub transaction_type: String,
    /// `"10.00"`.
    pub amount: String,
    pub currency: String,
    pub invoice_number: Option<String>,
    /// `0` approved, `1` declined.
    pub result: String,
    pub result_message: String,
    /// `PEN`, `STL` or `VOID`.
    pub trans_status: String,
    pub orig_txn_id: Option<String>,
    pub token: Option<String>,
    pub time: DateTime<Utc>,
    pub approval_code: Option<String>,
    pub card_masked: String,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub path: String,
    pub transaction_type: String,
    /// The request's fields (the PIN redacted).
    pub fields: Vec<(String, String)>,
    pub status: u16,
}

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

#[derive(Default)]
struct Store {
    txns: Vec<Txn>,
    /// Session token → (made at, used).
    sessions: HashMap<String, (DateTime<Utc>, bool)>,
    /// Card token → card number.
    tokens: HashMap<String, String>,
    txnqueries: usize,
    seq: u64,
}

struct State {
    config: Config,
    store: Mutex<Store>,
    faults: Mutex<Faults>,
    requests: Mutex<Vec<RecordedRequest>>,
}

/// A running fake Converge.
pub struct FakeConverge {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub url: String,
    state: Arc<State>,
    server: actix_web::dev::ServerHandle,
}

fn escape(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn unescape(v: &str) -> String {
    v.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The flat fields of `<txn><a>x</a>…</txn>`, names in lower case; `None` if it is not that.
pub fn read_txn(xml: &str) -> Option<BTreeMap<String, String>> {
    let inner = xml.trim().strip_prefix("<txn>")?.strip_suffix("</txn>")?;
    let mut out = BTreeMap::new();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let end = rest.strip_prefix('<')?.find('>')? + 1;
        let tag = &rest[1..end];
        if let Some(empty) = tag.strip_suffix('/') {
            out.insert(empty.trim().to_ascii_lowercase(), String::new());
            rest = rest[end + 1..].trim_start();
            continue;
        }
        if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return None;
        }
        let close = format!("</{tag}>");
        let at = rest[end + 1..].find(&close)? + end + 1;
        out.insert(tag.to_ascii_lowercase(), unescape(&rest[end + 1..at]));
        rest = rest[at + close.len()..].trim_start();
    }
    Some(out)
}

fn txn_xml(fields: &[(&str, String)]) -> String {
    let mut x = String::from("<txn>");
    for (k, v) in fields {
        if v.is_empty() {
            x.push_str(&format!("<{k}/>"));
        } else {
            x.push_str(&format!("<{k}>{}</{k}>", escape(v)));
        }
    }
    x.push_str("</txn>");
    x
}

fn error_xml(code: &str, name: &str, message: &str) -> String {
    txn_xml(&[
        ("errorCode", code.to_string()),
        ("errorName", name.to_string()),
        ("errorMessage", message.to_string()),
    ])
}

fn luhn_valid(digits: &str) -> bool {
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

/// `"12.34"` with exactly two decimals and more than zero, in minor units.
fn cents(amount: &str) -> Option<i64> {
    let (w, f) = amount.split_once('.')?;
    if f.len() != 2 || w.is_empty() || !w.bytes().chain(f.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let c = w.parse::<i64>().ok()?.checked_mul(100)? + f.parse::<i64>().ok()?;
    (c > 0).then_some(c)
}

fn decimal(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

impl Txn {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ssl_txn_id", self.txn_id.clone()),
            ("ssl_transaction_type", self.transaction_type.clone()),
            ("ssl_amount", self.amount.clone()),
            ("ssl_transaction_currency", self.currency.clone()),
            (
                "ssl_invoice_number",
                self.invoice_number.clone().unwrap_or_default(),
            ),
            ("ssl_result", self.result.clone()),
            ("ssl_result_message", self.result_message.clone()),
            ("ssl_trans_status", self.trans_status.clone()),
            (
                "ssl_txn_time",
                self.time.format("%m/%d/%Y %I:%M:%S %p").to_string(),
            ),
            ("ssl_card_number", self.card_masked.clone()),
            (
                "ssl_approval_code",
                self.approval_code.clone().unwrap_or_default(),
            ),
            (
                "ssl_orig_txn_id",
                self.orig_txn_id.clone().unwrap_or_default(),
            ),
        ]
    }

    fn approved(&self) -> bool {
        self.result == "0"
    }
}

/// A transaction to record.
struct New<'a> {
    kind: &'a str,
    amount: String,
    currency: String,
    invoice: Option<String>,
    approved: bool,
    orig: Option<String>,
    card: &'a str,
}

impl Store {
    fn txn(&mut self, n: New<'_>) -> Txn {
        let New {
            kind,
            amount,
            currency,
            invoice,
            approved,
            orig,
            card,
        } = n;
        self.seq += 1;
        let now = Utc::now();
        let t = Txn {
            txn_id: format!(
                "{}A{:02}-{}",
                now.format("%d%m%y"),
                self.seq % 100,
                uuid::Uuid::new_v4()
            ),
            transaction_type: kind.to_string(),
            amount,
            currency,
            invoice_number: invoice.filter(|i| !i.is_empty()),
            result: if approved { "0" } else { "1" }.to_string(),
            result_message: if approved { "APPROVAL" } else { "DECLINED" }.to_string(),
            trans_status: "PEN".to_string(),
            orig_txn_id: orig,
            token: None,
            time: now,
            approval_code: approved.then(|| format!("CMC{:03}", self.seq % 1000)),
            card_masked: format!(
                "{}**********{}",
                &card[..2.min(card.len())],
                &card[card.len().saturating_sub(4)..]
            ),
        };
        self.txns.push(t.clone());
        t
    }

    fn answer(t: &Txn, token: Option<&str>) -> String {
        let mut f = t.fields();
        if let Some(tok) = token {
            f.push(("ssl_token", tok.to_string()));
        }
        txn_xml(&f)
    }

    fn sale(&mut self, f: &BTreeMap<String, String>) -> String {
        let amount = f.get("ssl_amount").cloned().unwrap_or_default();
        if cents(&amount).is_none() {
            return error_xml("5021", "Invalid Amount", "The amount is not valid.");
        }
        let invoice = f.get("ssl_invoice_number").cloned();
        if invoice.as_ref().is_some_and(|i| i.len() > 25) {
            return error_xml(
                "5005",
                "Field Character Limit Exceeded",
                "ssl_invoice_number",
            );
        }
        let Some(card) = f.get("ssl_token").and_then(|t| self.tokens.get(t)).cloned() else {
            return error_xml(
                "5000",
                "Credit Card Number Invalid",
                "The token is not valid.",
            );
        };
        let currency = f
            .get("ssl_transaction_currency")
            .cloned()
            .unwrap_or_else(|| "USD".into());
        let approved = card != "4000000000000002";
        let mut t = self.txn(New {
            kind: "SALE",
            amount,
            currency,
            invoice,
            approved,
            orig: None,
            card: &card,
        });
        t.token = f.get("ssl_token").cloned();
        if let Some(last) = self.txns.last_mut() {
            last.token = t.token.clone();
        }
        Store::answer(&t, t.token.as_deref())
    }

    fn refund(&mut self, kind: &str, f: &BTreeMap<String, String>) -> String {
        let id = f.get("ssl_txn_id").cloned().unwrap_or_default();
        let Some(sale) = self
            .txns
            .iter()
            .find(|t| t.txn_id == id && t.transaction_type == "SALE" && t.approved())
            .cloned()
        else {
            return error_xml(
                "5040",
                "Invalid Transaction ID",
                "The transaction ID is invalid.",
            );
        };
        let returned: i64 = self
            .txns
            .iter()
            .filter(|t| t.orig_txn_id.as_deref() == Some(id.as_str()) && t.approved())
            .map(|t| cents(&t.amount).unwrap_or(0))
            .sum();
        let invoice = f.get("ssl_invoice_number").cloned();
        if kind == "VOID" {
            if sale.trans_status == "STL" {
                return error_xml("5093", "Transaction settled", "Use a return.");
            }
            if sale.trans_status == "VOID" || returned > 0 {
                return error_xml(
                    "5094",
                    "Transaction cannot be voided",
                    "Already voided or returned.",
                );
            }
            if let Some(s) = self.txns.iter_mut().find(|t| t.txn_id == id) {
                s.trans_status = "VOID".into();
            }
            let amount = sale.amount.clone();
            let mut t = self.txn(New {
                kind: "VOID",
                amount,
                currency: sale.currency.clone(),
                invoice,
                approved: true,
                orig: Some(id),
                card: "0000",
            });
            t.card_masked = sale.card_masked.clone();
            return Store::answer(&t, None);
        }
        if sale.trans_status != "STL" {
            return error_xml("5091", "Transaction not settled", "Use a void.");
        }
        let amount = f.get("ssl_amount").cloned().unwrap_or_default();
        let Some(want) = cents(&amount) else {
            return error_xml("5021", "Invalid Amount", "The amount is not valid.");
        };
        if want > cents(&sale.amount).unwrap_or(0) - returned {
            return error_xml("5092", "Amount exceeds original transaction", "Too much.");
        }
        let t = self.txn(New {
            kind: "RETURN",
            amount: decimal(want),
            currency: sale.currency.clone(),
            invoice,
            approved: true,
            orig: Some(id),
            card: "0000",
        });
        Store::answer(&t, None)
    }

    fn query(&mut self, f: &BTreeMap<String, String>) -> String {
        self.txnqueries += 1;
        let day = |k: &str| {
            f.get(k)
                .and_then(|d| NaiveDate::parse_from_str(d, "%m/%d/%Y").ok())
        };
        let found: Vec<&Txn> = if let Some(id) = f.get("ssl_txn_id") {
            self.txns.iter().filter(|t| &t.txn_id == id).collect()
        } else if let Some(inv) = f.get("ssl_invoice_number") {
            self.txns
                .iter()
                .filter(|t| t.invoice_number.as_ref() == Some(inv))
                .collect()
        } else if let (Some(from), Some(to)) =
            (day("ssl_search_start_date"), day("ssl_search_end_date"))
        {
            self.txns
                .iter()
                .filter(|t| t.time.date_naive() >= from && t.time.date_naive() <= to)
                .collect()
        } else {
            return error_xml(
                "4000",
                "Missing/Invalid Parameter",
                "txnquery needs a search field",
            );
        };
        let mut x = format!("<txnlist><ssl_txn_count>{}</ssl_txn_count>", found.len());
        for t in found {
            x.push_str(&txn_xml(&t.fields()));
        }
        x.push_str("</txnlist>");
        x
    }
}

async fn xml_api(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let path = req.path().to_string();
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let fields = form
        .iter()
        .find(|(k, _)| k == "xmldata")
        .and_then(|(_, x)| read_txn(x));
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
            if malformed {
                f.malformed -= 1;
            }
            if kind == "ccsale" {
                delay = delay.or(f.delay_sale.take());
                malformed = malformed || std::mem::take(&mut f.malformed_sale);
            }
            (None, delay, malformed)
        }
    };
    let redacted = |f: &BTreeMap<String, String>| {
        f.iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    if k == "ssl_pin" {
                        "***".into()
                    } else {
                        v.clone()
                    },
                )
            })
            .collect::<Vec<_>>()
    };
    let recorded = |status: u16| RecordedRequest {
        path: path.clone(),
        transaction_type: kind.clone(),
        fields: fields.as_ref().map(redacted).unwrap_or_default(),
        status,
    };
    if let Some(status) = fail {
        state.requests.lock().unwrap().push(recorded(status));
        return HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
            .content_type("text/html")
            .body("<html><body>Service Unavailable</body></html>");
    }
    let answer = match &fields {
        None => error_xml(
            "4000",
            "Missing/Invalid Parameter",
            "xmldata is missing or not a txn",
        ),
        Some(f)
            if f.get("ssl_merchant_id") != Some(&state.config.merchant_id)
                || f.get("ssl_user_id") != Some(&state.config.user_id)
                || f.get("ssl_pin") != Some(&state.config.pin) =>
        {
            error_xml(
                "4025",
                "Invalid Credentials",
                "The credentials supplied in the authorization request are invalid.",
            )
        }
        Some(f) => {
            let mut store = state.store.lock().unwrap();
            match kind.as_str() {
                "ccsale" => store.sale(f),
                "ccreturn" => store.refund("RETURN", f),
                "ccvoid" | "ccdelete" => store.refund("VOID", f),
                "txnquery" => store.query(f),
                _ => error_xml(
                    "4000",
                    "Missing/Invalid Parameter",
                    "unknown transaction type",
                ),
            }
        }
    };
    state.requests.lock().unwrap().push(recorded(200));
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    if malformed {
        let cut = &answer[..answer.len() / 2];
        return HttpResponse::Ok()
            .content_type("application/xml")
            .body(cut.to_string());
    }
    HttpResponse::Ok()
        .content_type("application/xml")
        .body(answer)
}

async fn transaction_token(body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let f: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let c = &state.config;
    if f.get("ssl_merchant_id") != Some(&c.merchant_id)
        || f.get("ssl_user_id") != Some(&c.user_id)
        || f.get("ssl_pin") != Some(&c.pin)
    {
        return HttpResponse::Unauthorized()
            .content_type("text/plain")
            .body("Authentication failed");
    }
    if f.get("ssl_transaction_type")
        .map(|t| t.to_ascii_lowercase())
        .as_deref()
        != Some("ccgettoken")
    {
        return HttpResponse::BadRequest()
            .content_type("text/plain")
            .body("ssl_transaction_type must be ccgettoken");
    }
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    state
        .store
        .lock()
        .unwrap()
        .sessions
        .insert(token.clone(), (Utc::now(), false));
    HttpResponse::Ok().content_type("text/plain").body(token)
}

/// `make run`'s stand-in for the Lightbox: `ssl_txn_auth_token` and `card` → the card token.
async fn lightbox(body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let f: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let (Some(session), Some(card)) = (f.get("ssl_txn_auth_token"), f.get("card")) else {
        return HttpResponse::BadRequest().body("ssl_txn_auth_token and card are required");
    };
    match tokenize(&state, session, card) {
        Ok(t) => HttpResponse::Ok().content_type("text/plain").body(t),
        Err(e) => HttpResponse::BadRequest()
            .content_type("text/plain")
            .body(e),
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
    // Sixteen digits, the card's last four kept, never a valid card number (Luhn fails).
    let n = uuid::Uuid::new_v4().as_u128();
    let mut token = format!("{:012}{}", n % 1_000_000_000_000, &card[card.len() - 4..]);
    if luhn_valid(&token) {
        let first = (token.as_bytes()[0] - b'0' + 1) % 10;
        token.replace_range(0..1, &first.to_string());
    }
    store.tokens.insert(token.clone(), card.to_string());
    Ok(token)
}

impl FakeConverge {
    /// Starts on `port` (0 for any) on 127.0.0.1. Call from within a tokio runtime.
    pub fn start(config: Config, port: u16) -> std::io::Result<FakeConverge> {
        telemetry::install_crypto_provider();
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let state = Arc::new(State {
            config,
            store: Mutex::new(Store::default()),
            faults: Mutex::new(Faults::default()),
            requests: Mutex::new(Vec::new()),
        });
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

    pub async fn stop(self) {
        self.server.stop(true).await;
    }

    /// What the Lightbox hands the browser after `card` was typed into session `session_token`:
    /// the card token. Sessions are single-use and last 15 minutes.
    pub fn lightbox_tokenize(&self, session_token: &str, card: &str) -> Result<String, String> {
        tokenize(&self.state, session_token, card)
    }

    /// Approved sales ever.
    pub fn sales(&self) -> usize {
        self.count(|t| t.transaction_type == "SALE" && t.approved())
    }

    /// Sales that reached the card (approved and declined).
    pub fn sale_attempts(&self) -> usize {
        self.count(|t| t.transaction_type == "SALE")
    }

    pub fn returns(&self) -> usize {
        self.count(|t| t.transaction_type == "RETURN")
    }

    pub fn voids(&self) -> usize {
        self.count(|t| t.transaction_type == "VOID")
    }

    fn count(&self, f: impl Fn(&Txn) -> bool) -> usize {
        self.state
            .store
            .lock()
            .unwrap()
            .txns
            .iter()
            .filter(|t| f(t))
            .count()
    }

    /// Invoice numbers with more than one approved sale (a double charge), with the count.
    pub fn duplicate_sales(&self) -> Vec<(String, usize)> {
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for t in self.transactions() {
            if t.transaction_type == "SALE" && t.approved() {
                *by.entry(t.invoice_number.unwrap_or_default()).or_default() += 1;
            }
        }
        by.into_iter().filter(|(_, n)| *n > 1).collect()
    }

    pub fn txnqueries(&self) -> usize {
        self.state.store.lock().unwrap().txnqueries
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn transaction(&self, txn_id: &str) -> Option<Txn> {
        self.transactions().into_iter().find(|t| t.txn_id == txn_id)
    }

    pub fn transactions(&self) -> Vec<Txn> {
        self.state.store.lock().unwrap().txns.clone()
    }

    /// The next `n` requests are answered HTTP `status` with an HTML page; nothing is done.
    pub fn fail_next(&self, n: u32, status: u16) {
        let mut f = self.state.faults.lock().unwrap();
        f.fail = n;
        f.fail_status = status;
    }

    /// The next `n` requests do their work and answer after `d`.
    pub fn delay_next(&self, n: u32, d: Duration) {
        let mut f = self.state.faults.lock().unwrap();
        f.delay = n;
        f.delay_for = d;
    }

    /// The next sale is made and answered after `d`.
    pub fn delay_next_sale(&self, d: Duration) {
        self.state.faults.lock().unwrap().delay_sale = Some(d);
    }

    /// The next `n` requests do their work, then answer with a body cut in half.
    pub fn malformed_next(&self, n: u32) {
        self.state.faults.lock().unwrap().malformed = n;
    }

    /// The next sale is made, then answered with a body cut in half.
    pub fn malformed_next_sale(&self) {
        self.state.faults.lock().unwrap().malformed_sale = true;
    }

    /// The nightly batch: every approved sale and return still `PEN` becomes `STL`.
    pub fn settle_batch(&self) {
        let mut store = self.state.store.lock().unwrap();
        for t in store.txns.iter_mut() {
            if t.trans_status == "PEN" && t.approved() && t.transaction_type != "VOID" {
                t.trans_status = "STL".into();
            }
        }
    }

    /// An approved sale made outside the platform (Converge sends no webhook); its id.
    pub fn inject_sale(&self, amount: &str, currency: &str, invoice: &str) -> String {
        let mut store = self.state.store.lock().unwrap();
        let t = store.txn(New {
            kind: "SALE",
            amount: amount.to_string(),
            currency: currency.to_string(),
            invoice: Some(invoice.to_string()),
            approved: true,
            orig: None,
            card: "4111111111111111",
        });
        t.txn_id
    }

    /// Changes a transaction's amount in place.
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

    #[test]
    fn tokens_keep_the_last_four_and_are_never_card_numbers() {
        assert!(luhn_valid("4111111111111111"));
        assert!(!luhn_valid("4111111111111112"));
        let state = State {
            config: Config {
                merchant_id: "m".into(),
                user_id: "u".into(),
                pin: "p".into(),
            },
            store: Mutex::new(Store::default()),
            faults: Mutex::new(Faults::default()),
            requests: Mutex::new(Vec::new()),
        };
        for n in 0..200 {
            let s = format!("session-{n}");
            state
                .store
                .lock()
                .unwrap()
                .sessions
                .insert(s.clone(), (Utc::now(), false));
            let t = tokenize(&state, &s, "4111111111111111").unwrap();
            assert_eq!(t.len(), 16);
            assert!(t.ends_with("1111"));
            assert!(!luhn_valid(&t), "{t}");
            assert!(
                tokenize(&state, &s, "4111111111111111").is_err(),
                "single use"
            );
        }
    }

    #[test]
    fn requests_read_back_and_amounts_are_strict() {
        let f = read_txn("<txn><ssl_Amount>1.00</ssl_Amount><ssl_description>a &amp; b</ssl_description><x/></txn>").unwrap();
        assert_eq!(f["ssl_amount"], "1.00");
        assert_eq!(f["ssl_description"], "a & b");
        assert!(read_txn("<txn><a>1</b></txn>").is_none());
        assert_eq!(cents("12.34"), Some(1234));
        for bad in ["12.3", "0.00", "-1.00", "1", "a.bc"] {
            assert_eq!(cents(bad), None, "{bad}");
        }
    }
}
