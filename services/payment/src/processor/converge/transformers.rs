//! Converge's wire format and the one mapping of its answers to ours. Requests are a form field
//! `xmldata` holding `<txn>` with one element per field; answers are `<txn>` (or `<txnlist>` of
//! them) with `ssl_result` `0` for an approval, or `errorCode`/`errorMessage`. The reader takes
//! only that flat shape and refuses anything else with a typed error: a malformed answer never
//! panics and never reads as an approval.
//!
//! Amounts are decimal strings (`"10.00"`), converted exactly by the currency's exponent: an
//! amount with more decimals than its currency has is an error, never rounded.

use crate::processor::{
    Activity, ActivityKind, ActivityStatus, IntentState, MethodType, Outcome, ProcessorError,
    ProcessorRefund, RefundState,
};
use kernel::{Currency, Money};
use std::collections::BTreeMap;

/// Converge keeps invoice numbers up to this long.
pub const INVOICE_LEN: usize = 25;

/// One `<txn>`: its fields by lower-case name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn(pub BTreeMap<String, String>);

impl Txn {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn need(&self, name: &str) -> Result<&str, ProcessorError> {
        self.get(name)
            .ok_or_else(|| ProcessorError::Permanent(format!("Converge answer without {name}")))
    }

    pub fn approved(&self) -> bool {
        self.get("ssl_result") == Some("0")
    }

    pub fn kind(&self) -> &str {
        self.get("ssl_transaction_type").unwrap_or_default()
    }

    pub fn txn_id(&self) -> Result<&str, ProcessorError> {
        self.need("ssl_txn_id")
    }

    /// `errorCode` and its message, when Converge refused the request itself.
    pub fn error(&self) -> Option<(String, String)> {
        let code = self.get("errorcode")?;
        let message = self
            .get("errormessage")
            .or_else(|| self.get("errorname"))
            .unwrap_or_default();
        Some((code.to_string(), message.to_string()))
    }
}

/// A request: `xmldata=<txn>…</txn>` with every value escaped.
pub fn request(fields: &[(&str, &str)]) -> Result<String, ProcessorError> {
    let mut xml = String::from("<txn>");
    for (k, v) in fields {
        xml.push_str(&format!("<{k}>{}</{k}>", escape(v)));
    }
    xml.push_str("</txn>");
    serde_urlencoded::to_string([("xmldata", xml)])
        .map_err(|e| ProcessorError::Permanent(format!("Converge request: {e}")))
}

fn escape(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn unescape(v: &str) -> Result<String, String> {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail.find(';').ok_or("an unterminated entity")?;
        out.push(match &tail[..=end] {
            "&amp;" => '&',
            "&lt;" => '<',
            "&gt;" => '>',
            "&quot;" => '"',
            "&apos;" => '\'',
            _ => return Err("an unknown entity".into()),
        });
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Reads the flat elements of `body` (the inside of one parent): `<a>x</a><b/>…`.
fn elements(body: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = body.trim();
    while !rest.is_empty() {
        let open_end = rest
            .strip_prefix('<')
            .and_then(|r| r.find('>'))
            .ok_or("text outside an element")?
            + 1;
        let tag = &rest[1..open_end];
        if let Some(empty) = tag.strip_suffix('/') {
            out.push((name(empty)?, String::new()));
            rest = rest[open_end + 1..].trim_start();
            continue;
        }
        let name = name(tag)?;
        let close = format!("</{}>", tag.trim());
        let body_start = open_end + 1;
        let close_at = rest[body_start..]
            .find(&close)
            .ok_or_else(|| format!("<{name}> is not closed"))?
            + body_start;
        out.push((name, rest[body_start..close_at].to_string()));
        rest = rest[close_at + close.len()..].trim_start();
    }
    Ok(out)
}

fn name(tag: &str) -> Result<String, String> {
    let n = tag.trim();
    if n.is_empty()
        || n.len() > 64
        || !n
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "not an element name: {:?}",
            n.chars().take(20).collect::<String>()
        ));
    }
    Ok(n.to_ascii_lowercase())
}

fn txn_of(inner: &str) -> Result<Txn, String> {
    let mut t = BTreeMap::new();
    for (k, v) in elements(inner)? {
        if v.contains('<') {
            return Err(format!("<{k}> holds elements"));
        }
        t.insert(k, unescape(v.trim())?);
    }
    Ok(Txn(t))
}

fn strip_declaration(body: &str) -> &str {
    let b = body.trim();
    match b
        .strip_prefix("<?xml")
        .and_then(|r| r.find("?>").map(|e| &r[e + 2..]))
    {
        Some(rest) => rest.trim(),
        None => b,
    }
}

fn bad(m: String) -> ProcessorError {
    ProcessorError::Permanent(format!("malformed Converge answer: {m}"))
}

/// The one root element of an answer: its name and what it holds.
fn root(body: &[u8]) -> Result<(String, String), ProcessorError> {
    let text = std::str::from_utf8(body).map_err(|e| bad(e.to_string()))?;
    let [(root, inner)] = elements(strip_declaration(text))
        .map_err(bad)?
        .try_into()
        .map_err(|_| bad("not one root element".into()))?;
    Ok((root, inner))
}

/// An answer that is one `<txn>`.
pub fn parse_txn(body: &[u8]) -> Result<Txn, ProcessorError> {
    let (root, inner) = root(body)?;
    if root != "txn" {
        return Err(bad(format!("root <{root}>")));
    }
    txn_of(&inner).map_err(bad)
}

/// An answer to `txnquery`: `<txnlist>` of `<txn>` (a count element may come with them), or one
/// `<txn>` holding an error.
pub fn parse_list(body: &[u8]) -> Result<Vec<Txn>, ProcessorError> {
    let (root, inner) = root(body)?;
    match root.as_str() {
        "txnlist" => {
            let mut txns = Vec::new();
            let mut count = None;
            for (k, v) in elements(&inner).map_err(bad)? {
                match k.as_str() {
                    "txn" => txns.push(txn_of(&v).map_err(bad)?),
                    "ssl_txn_count" => count = Some(v.trim().to_string()),
                    other => return Err(bad(format!("<{other}> in <txnlist>"))),
                }
            }
            if let Some(c) = count
                && c.parse::<usize>().ok() != Some(txns.len())
            {
                return Err(bad(format!("count {c} but {} transactions", txns.len())));
            }
            Ok(txns)
        }
        "txn" => {
            let t = txn_of(&inner).map_err(bad)?;
            match t.error() {
                Some((code, message)) => Err(ProcessorError::Permanent(format!(
                    "Converge error {code}: {message}"
                ))),
                None => Ok(vec![t]),
            }
        }
        other => Err(bad(format!("root <{other}>"))),
    }
}

/// Our money → Converge's decimal string, exactly.
pub fn to_decimal(m: Money) -> String {
    let exp = u32::from(m.currency().exponent());
    let minor = m.amount_minor();
    if exp == 0 {
        return minor.to_string();
    }
    let unit = 10_i64.pow(exp);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let unit = unit.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / unit,
        abs % unit,
        width = exp as usize
    )
}

/// Converge's decimal string → our money; more decimals than the currency has, or anything but
/// digits and one point, is an error.
pub fn from_decimal(s: &str, currency: Currency) -> Result<Money, ProcessorError> {
    let bad = || ProcessorError::Permanent(format!("Converge amount `{s}` is not {currency}"));
    let exp = u32::from(currency.exponent());
    let (whole, frac) = match s.trim().split_once('.') {
        Some((w, f)) => (w, f),
        None => (s.trim(), ""),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > exp as usize {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac_value: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<i64>().map_err(|_| bad())? * 10_i64.pow(exp - frac.len() as u32)
    };
    whole
        .checked_mul(10_i64.pow(exp))
        .and_then(|w| w.checked_add(frac_value))
        .map(|minor| Money::new(minor, currency))
        .ok_or_else(bad)
}

/// The invoice number of one of our ids (a payment, a refund): the UUID in base 36, 25
/// characters, so it fits Converge's field and is unique as the id is.
pub fn invoice(id: &str) -> Result<String, ProcessorError> {
    let u = uuid::Uuid::parse_str(id)
        .map_err(|_| ProcessorError::Permanent(format!("`{id}` is not a UUID")))?;
    let mut n = u.as_u128();
    let mut out = [b'0'; INVOICE_LEN];
    for slot in out.iter_mut().rev() {
        let d = (n % 36) as u8;
        *slot = if d < 10 { b'0' + d } else { b'A' + d - 10 };
        n /= 36;
    }
    Ok(out.iter().map(|&b| char::from(b)).collect())
}

fn currency_of(t: &Txn, fallback: Currency) -> Result<Currency, ProcessorError> {
    match t.get("ssl_transaction_currency") {
        Some(c) => Currency::parse(c)
            .map_err(|e| ProcessorError::Permanent(format!("Converge currency: {e}"))),
        None => Ok(fallback),
    }
}

pub fn amount(t: &Txn, fallback: Currency) -> Result<Money, ProcessorError> {
    from_decimal(t.need("ssl_amount")?, currency_of(t, fallback)?)
}

/// The one mapping of a sale's answer to our outcome. Converge keeps no fee per transaction:
/// the fee is zero (its statement's fees are outside the platform).
pub fn sale_outcome(t: &Txn, currency: Currency) -> Result<Outcome, ProcessorError> {
    if let Some((code, message)) = t.error() {
        // 5000-series: the token or a field was refused; the learner may try another card.
        return if code.starts_with('5') {
            Ok(Outcome::Failed {
                fingerprint: None,
                reason: format!("converge_{code}: {message}"),
            })
        } else {
            Err(ProcessorError::Permanent(format!(
                "Converge error {code}: {message}"
            )))
        };
    }
    match t.need("ssl_result")? {
        "0" => Ok(Outcome::Succeeded {
            transaction_id: t.txn_id()?.to_string(),
            fee: Money::zero(currency),
            method: MethodType::Card,
        }),
        _ => Ok(Outcome::Failed {
            fingerprint: None,
            reason: t
                .get("ssl_result_message")
                .unwrap_or("DECLINED")
                .to_ascii_lowercase(),
        }),
    }
}

pub fn is_sale(t: &Txn) -> bool {
    t.kind().eq_ignore_ascii_case("sale") || t.kind().eq_ignore_ascii_case("ccsale")
}

/// The intent's state from every transaction with its invoice number: an approved sale (voided
/// or not: a void is a refund) is the capture; anything else is still open.
pub fn state_of(txns: &[Txn], currency: Currency) -> Result<IntentState, ProcessorError> {
    match txns.iter().find(|t| is_sale(t) && t.approved()) {
        Some(approved) => Ok(IntentState::Outcome(sale_outcome(approved, currency)?)),
        // A decline found by asking may be an earlier attempt's while the current one is still
        // being authorised: only the sale's own answer says a decline.
        None => Ok(IntentState::Open),
    }
}

/// Converge's `ssl_txn_time` (`11/28/2026 10:15:02 PM`, the account's time zone: UTC here).
pub fn time(t: &Txn) -> Result<chrono::DateTime<chrono::Utc>, ProcessorError> {
    let raw = t.need("ssl_txn_time")?;
    chrono::NaiveDateTime::parse_from_str(raw, "%m/%d/%Y %I:%M:%S %p")
        .map(|n| n.and_utc())
        .map_err(|e| ProcessorError::Permanent(format!("Converge time `{raw}`: {e}")))
}

/// A listed transaction as reconciliation compares it: a sale is a charge (declined: failed),
/// a return or a void is a refund of the sale it names.
pub fn activity(t: &Txn, fallback: Currency) -> Result<Activity, ProcessorError> {
    let status = if t.approved() {
        ActivityStatus::Succeeded
    } else {
        ActivityStatus::Failed
    };
    let kind = if is_sale(t) {
        ActivityKind::Charge
    } else {
        ActivityKind::Refund
    };
    Ok(Activity {
        kind,
        id: t.txn_id()?.to_string(),
        intent_id: (kind == ActivityKind::Charge)
            .then(|| t.get("ssl_invoice_number").map(str::to_string))
            .flatten(),
        charge_id: (kind == ActivityKind::Refund)
            .then(|| t.get("ssl_orig_txn_id").map(str::to_string))
            .flatten(),
        amount: amount(t, fallback)?,
        fee: None,
        status,
        at: time(t)?,
    })
}

/// A return or a void as our refund; `refund_id` is ours when its invoice number says so.
pub fn refund(
    t: &Txn,
    intent_id: &str,
    refund_id: Option<&str>,
    currency: Currency,
) -> Result<ProcessorRefund, ProcessorError> {
    let status = if t.approved() {
        RefundState::Succeeded
    } else {
        RefundState::Failed(
            t.get("ssl_result_message")
                .unwrap_or("refused by Converge")
                .to_string(),
        )
    };
    Ok(ProcessorRefund {
        id: t.txn_id()?.to_string(),
        intent_id: intent_id.to_string(),
        amount: amount(t, currency)?,
        status,
        refund_id: refund_id.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn amounts_convert_exactly() {
        let jpy = Currency::parse("JPY").unwrap();
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(to_decimal(Money::new(4900, usd())), "49.00");
        assert_eq!(to_decimal(Money::new(5, usd())), "0.05");
        assert_eq!(to_decimal(Money::new(1234, jpy)), "1234");
        assert_eq!(to_decimal(Money::new(1234, kwd)), "1.234");
        assert_eq!(
            from_decimal("49.00", usd()).unwrap(),
            Money::new(4900, usd())
        );
        assert_eq!(
            from_decimal("49.5", usd()).unwrap(),
            Money::new(4950, usd())
        );
        assert_eq!(from_decimal("49", usd()).unwrap(), Money::new(4900, usd()));
        for bad in [
            "49.001",
            "",
            ".5",
            "-1.00",
            "1e3",
            "4 9.00",
            "49.0a",
            "99999999999999999.00",
        ] {
            assert!(from_decimal(bad, usd()).is_err(), "{bad}");
        }
    }

    #[test]
    fn invoices_are_25_characters_and_distinct() {
        let a = invoice("0194f1a2-7c3b-7d4e-8f90-123456789abc").unwrap();
        let b = invoice("0194f1a2-7c3b-7d4e-8f90-123456789abd").unwrap();
        assert_eq!(a.len(), INVOICE_LEN);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert!(invoice("order-1").is_err());
    }

    #[test]
    fn answers_read_defensively() {
        let ok = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<txn><ssl_result>0</ssl_result>\
            <ssl_result_message>APPROVAL</ssl_result_message><ssl_txn_id>AA-1</ssl_txn_id>\
            <ssl_amount>49.00</ssl_amount><ssl_invoice_number/></txn>";
        let t = parse_txn(ok).unwrap();
        assert!(t.approved());
        assert_eq!(
            sale_outcome(&t, usd()).unwrap(),
            Outcome::Succeeded {
                transaction_id: "AA-1".into(),
                fee: Money::zero(usd()),
                method: MethodType::Card
            }
        );
        let declined = parse_txn(
            b"<txn><ssl_result>1</ssl_result>\
            <ssl_result_message>DECLINED</ssl_result_message><ssl_txn_id>AA-2</ssl_txn_id></txn>",
        )
        .unwrap();
        assert_eq!(
            sale_outcome(&declined, usd()).unwrap(),
            Outcome::Failed {
                fingerprint: None,
                reason: "declined".into()
            }
        );
        let refused = parse_txn(
            b"<txn><errorCode>4025</errorCode><errorName>Invalid \
            Credentials</errorName></txn>",
        )
        .unwrap();
        assert!(matches!(
            sale_outcome(&refused, usd()),
            Err(ProcessorError::Permanent(_))
        ));
        for broken in [
            &b"<txn><ssl_result>0</ssl_res"[..],
            b"<html>502 Bad Gateway</html>",
            b"",
            b"<txn><ssl_result>0</ssl_result></txn><txn></txn>",
            b"<txn><a><b>1</b></a></txn>",
            b"<txn><ssl_amount>1 &bogus; 2</ssl_amount></txn>",
        ] {
            assert!(
                matches!(parse_txn(broken), Err(ProcessorError::Permanent(_))),
                "{}",
                String::from_utf8_lossy(broken)
            );
        }
        let list = parse_list(
            b"<txnlist><ssl_txn_count>2</ssl_txn_count>\
            <txn><ssl_txn_id>S1</ssl_txn_id><ssl_transaction_type>SALE</ssl_transaction_type>\
            <ssl_result>1</ssl_result><ssl_amount>1.00</ssl_amount></txn>\
            <txn><ssl_txn_id>S2</ssl_txn_id><ssl_transaction_type>SALE</ssl_transaction_type>\
            <ssl_result>0</ssl_result><ssl_amount>1.00</ssl_amount></txn></txnlist>",
        )
        .unwrap();
        assert!(matches!(
            state_of(&list, usd()).unwrap(),
            IntentState::Outcome(Outcome::Succeeded { ref transaction_id, .. }) if transaction_id == "S2"
        ));
        assert_eq!(state_of(&[], usd()).unwrap(), IntentState::Open);
        assert!(parse_list(b"<txnlist><ssl_txn_count>3</ssl_txn_count></txnlist>").is_err());
    }

    #[test]
    fn requests_escape_their_values() {
        let body = request(&[("ssl_description", "Tom & <Jerry>")]).unwrap();
        let xml: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap();
        assert_eq!(
            xml[0].1,
            "<txn><ssl_description>Tom &amp; &lt;Jerry&gt;</ssl_description></txn>"
        );
        let back = parse_txn(xml[0].1.as_bytes()).unwrap();
        assert_eq!(back.get("ssl_description"), Some("Tom & <Jerry>"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// Whatever comes back, reading it never panics.
        #[test]
        fn reading_any_answer_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_txn(&body);
            let _ = parse_list(&body);
        }

        #[test]
        fn reading_xml_shaped_answers_never_panics(
            parts in proptest::collection::vec(
                prop_oneof!["<txn>", "</txn>", "<txnlist>", "</txnlist>", "<ssl_result>",
                    "</ssl_result>", "0", "1", "&amp;", "&", ";", "<a/>", "<", ">", "/",
                    "<ssl_amount>", "</ssl_amount>", "1.00", "<?xml ?>", " "],
                0..24),
        ) {
            let body = parts.concat();
            if let Ok(t) = parse_txn(body.as_bytes()) {
                let _ = sale_outcome(&t, usd());
                let _ = amount(&t, usd());
            }
            if let Ok(list) = parse_list(body.as_bytes()) {
                let _ = state_of(&list, usd());
            }
        }

        #[test]
        fn values_round_trip(v in "\\PC{0,40}") {
            let body = request(&[("ssl_description", v.as_str())]).unwrap();
            let xml: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap();
            let t = parse_txn(xml[0].1.as_bytes()).unwrap();
            prop_assert_eq!(t.get("ssl_description").unwrap_or_default(), v.trim());
        }

        #[test]
        fn amounts_round_trip(minor in 0_i64..10_000_000_000) {
            let m = Money::new(minor, usd());
            prop_assert_eq!(from_decimal(&to_decimal(m), usd()).unwrap(), m);
        }
    }
}
