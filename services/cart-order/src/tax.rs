//! The tax calculator behind configuration (ADR-002): `none` (the deployment collects no tax),
//! `manual` (rates per department and region, admin-managed), or `taxjar` (`POST /v2/taxes`,
//! with a timeout), and what happens when TaxJar fails: `fail-closed` refuses the checkout with a
//! retryable error, `fallback` quotes from the manual rates. Either way an order never leaves
//! without its tax decided. Amounts cross to TaxJar's decimal dollars here and nowhere else,
//! exactly (see [`crate::domain::tax`]).

use crate::domain::tax::{self, BillingAddress, ManualRate, TaxMathError};
use crate::storage::tax_rates;
use kernel::Currency;
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbErr};
use serde::Deserialize;
use serde_json::{Value, json};
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    None,
    Manual,
    Taxjar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    FailClosed,
    Fallback,
}

/// Where the quote came from, as orders record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The deployment collects no tax (`tax_provider = "none"`).
    NotCollected,
    Manual,
    TaxJar,
    /// TaxJar failed and the deployment falls back to its manual rates.
    ManualFallback,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::NotCollected => "none",
            Source::Manual => "manual",
            Source::TaxJar => "taxjar",
            Source::ManualFallback => "manual_fallback",
        }
    }
}

/// A line to tax: its id (for the provider), department, and what the learner pays for it
/// before tax (price − discount).
#[derive(Debug, Clone)]
pub struct Line {
    pub id: String,
    pub department_id: String,
    pub price: i64,
    pub discount: i64,
    /// An approved exemption covers it: no tax.
    pub exempt: bool,
}

impl Line {
    fn taxable(&self) -> i64 {
        self.price - self.discount
    }
}

#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub currency: Currency,
    pub address: &'a BillingAddress,
    pub lines: Vec<Line>,
    /// TaxJar's `exemption_type` when the learner's approved exemption covers the whole order
    /// (every exemption type we accept is a full exemption: the order's tax is zero).
    pub exemption_type: Option<String>,
    pub customer_id: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub per_line: Vec<i64>,
    pub total: i64,
    pub source: Source,
}

#[derive(Debug, thiserror::Error)]
pub enum TaxError {
    /// TaxJar failed and the deployment is fail-closed: try again shortly.
    #[error("tax cannot be calculated right now ({0}); try again shortly")]
    Unavailable(String),
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error("tax: {0}")]
    Math(#[from] TaxMathError),
}

/// TaxJar as configured.
#[derive(Clone)]
pub struct TaxJar {
    pub http: reqwest::Client,
    /// Ends in `/v2` (sandbox: `https://api.sandbox.taxjar.com/v2`).
    pub api_base: String,
    pub token: String,
    pub product_tax_code: String,
    /// Ship-from (TaxJar recommends always sending it).
    pub from: Option<BillingAddress>,
    /// `(country, region)` where the platform collects tax.
    pub nexus: Vec<(String, Option<String>)>,
}

/// The `[cart_order]` tax settings, validated at start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub provider: Provider,
    pub on_failure: OnFailure,
    pub api_base: String,
    pub token: String,
    pub timeout: Duration,
    pub product_tax_code: String,
    pub from: Option<BillingAddress>,
    pub nexus: Vec<(String, Option<String>)>,
}

#[derive(Clone)]
pub struct Calculator {
    pub provider: Provider,
    pub on_failure: OnFailure,
    pub taxjar: Option<TaxJar>,
}

impl Calculator {
    pub fn new(s: Settings) -> Result<Calculator, reqwest::Error> {
        let taxjar = match s.provider {
            Provider::Taxjar => Some(TaxJar {
                http: http_client(s.timeout)?,
                api_base: s.api_base,
                token: s.token,
                product_tax_code: s.product_tax_code,
                from: s.from,
                nexus: s.nexus,
            }),
            _ => None,
        };
        Ok(Calculator {
            provider: s.provider,
            on_failure: s.on_failure,
            taxjar,
        })
    }

    /// Whether checkout needs a billing address.
    pub fn needs_address(&self) -> bool {
        self.provider != Provider::None
    }

    /// The tax of `req`, decided once. Manual rates are read from `db` (outside any transaction).
    pub async fn quote(
        &self,
        db: &impl ConnectionTrait,
        req: &Request<'_>,
    ) -> Result<Quote, TaxError> {
        let none = || Quote {
            per_line: vec![0; req.lines.len()],
            total: 0,
            source: Source::NotCollected,
        };
        if self.provider == Provider::None {
            return Ok(none());
        }
        let mut q = match (&self.provider, &self.taxjar) {
            (Provider::Taxjar, Some(tj)) => match tj.quote(req).await {
                Ok(q) => Ok(q),
                Err(e) if self.on_failure == OnFailure::Fallback => {
                    tracing::warn!(error = %e, "TaxJar failed; quoting from manual rates");
                    let mut q = manual(db, req).await?;
                    q.source = Source::ManualFallback;
                    Ok(q)
                }
                Err(e) => Err(TaxError::Unavailable(e)),
            },
            _ => manual(db, req).await,
        }?;
        if req.exemption_type.is_some() {
            q.per_line = vec![0; req.lines.len()];
            q.total = 0;
        }
        Ok(q)
    }
}

async fn manual(db: &impl ConnectionTrait, req: &Request<'_>) -> Result<Quote, TaxError> {
    let rates: Vec<ManualRate> = tax_rates::rates_for(db, &req.address.country).await?;
    let mut per_line = Vec::with_capacity(req.lines.len());
    for l in &req.lines {
        let t = match tax::pick_rate(&rates, &l.department_id, req.address) {
            Some(r) if !l.exempt => tax::tax_on(l.taxable(), r.rate)?,
            _ => 0,
        };
        per_line.push(t);
    }
    let total = per_line
        .iter()
        .try_fold(0i64, |a, t| a.checked_add(*t))
        .ok_or(TaxMathError::Overflow)?;
    Ok(Quote {
        per_line,
        total,
        source: Source::Manual,
    })
}

/// An exact decimal as a JSON number. Without serde_json's arbitrary precision the number is an
/// f64, which prints back as the shortest decimal that reads as it: the same digits for any
/// amount of at most 15 significant digits, which is checked.
fn number(d: Decimal) -> Result<Value, String> {
    let s = d.normalize().to_string();
    if s.chars().filter(char::is_ascii_digit).count() > 15 {
        return Err(format!("{s} has too many digits to send exactly"));
    }
    let v: Value = serde_json::from_str(&s).map_err(|e| e.to_string())?;
    match &v {
        Value::Number(n) if Decimal::from_str(&n.to_string()).ok() == Some(d.normalize()) => Ok(v),
        _ => Err(format!("{s} does not survive as a JSON number")),
    }
}

/// A JSON number TaxJar sent, as the exact decimal it wrote.
fn decimal(v: &Value, what: &str) -> Result<Decimal, String> {
    match v {
        Value::Number(n) => Decimal::from_str(&n.to_string())
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .map_err(|e| format!("TaxJar's {what} `{n}`: {e}")),
        other => Err(format!("TaxJar's answer has no number for {what}: {other}")),
    }
}

impl TaxJar {
    fn body(&self, req: &Request<'_>) -> Result<Value, String> {
        let exp = req.currency.exponent();
        let a = req.address;
        let mut lines = Vec::new();
        for l in req.lines.iter().filter(|l| !l.exempt) {
            lines.push(json!({
                "id": l.id,
                "quantity": 1,
                "product_tax_code": self.product_tax_code,
                "unit_price": number(tax::to_decimal(l.price, exp))?,
                "discount": number(tax::to_decimal(l.discount, exp))?,
            }));
        }
        let mut b = json!({
            "to_country": a.country,
            "to_zip": a.postal_code,
            "to_state": a.region,
            "to_city": a.city,
            "to_street": a.street,
            "shipping": 0,
            "customer_id": req.customer_id,
            "line_items": lines,
            "nexus_addresses": self.nexus.iter().enumerate().map(|(i, (c, r))| json!({
                "id": format!("nexus-{i}"), "country": c, "state": r,
            })).collect::<Vec<_>>(),
        });
        if let Some(f) = &self.from {
            b["from_country"] = json!(f.country);
            b["from_zip"] = json!(f.postal_code);
            b["from_state"] = json!(f.region);
            b["from_city"] = json!(f.city);
            b["from_street"] = json!(f.street);
        }
        if let Some(e) = &req.exemption_type {
            b["exemption_type"] = json!(e);
        }
        Ok(b)
    }

    /// One `POST /v2/taxes`; any failure (transport, timeout, status, a body that is not
    /// TaxJar's, an amount that does not convert exactly) is an error, never a zero.
    async fn quote(&self, req: &Request<'_>) -> Result<Quote, String> {
        let exp = req.currency.exponent();
        let taxable: Vec<i64> = req
            .lines
            .iter()
            .map(|l| if l.exempt { 0 } else { l.taxable() })
            .collect();
        if taxable.iter().all(|t| *t == 0) {
            return Ok(Quote {
                per_line: vec![0; req.lines.len()],
                total: 0,
                source: Source::TaxJar,
            });
        }
        let resp = self
            .http
            .post(format!("{}/taxes", self.api_base.trim_end_matches('/')))
            .bearer_auth(&self.token)
            .json(&self.body(req)?)
            .send()
            .await
            .map_err(|e| format!("TaxJar unreachable: {e}"))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| format!("TaxJar: {e}"))?;
        if !status.is_success() {
            return Err(format!("TaxJar answered {status}"));
        }
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| format!("TaxJar's answer: {e}"))?;
        let t = &v["tax"];
        let total = tax::from_decimal(decimal(&t["amount_to_collect"], "amount_to_collect")?, exp)
            .map_err(|e| e.to_string())?;
        let mut quoted = vec![0i64; req.lines.len()];
        if let Some(items) = t["breakdown"]["line_items"].as_array() {
            for it in items {
                let id = it["id"].as_str().unwrap_or_default();
                let Some(i) = req.lines.iter().position(|l| l.id == id) else {
                    return Err(format!("TaxJar's answer names an unknown line `{id}`"));
                };
                quoted[i] =
                    tax::from_decimal(decimal(&it["tax_collectable"], "tax_collectable")?, exp)
                        .map_err(|e| e.to_string())?;
            }
        }
        let per_line = tax::split_total(total, &quoted, &taxable).map_err(|e| e.to_string())?;
        Ok(Quote {
            per_line,
            total,
            source: Source::TaxJar,
        })
    }
}

/// The client TaxJar calls go through: a timeout on every call.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
}
