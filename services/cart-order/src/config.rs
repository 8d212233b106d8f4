//! cart-order's settings: the `[cart_order]` section (defaults and comments in
//! `deploy/commerce.default.toml`) and the platform's settlement currency, validated at start.

use kernel::Currency;
use runtime::{Settings, StartError};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CartOrderSection {
    pub cart_ttl_hours: u64,
    pub pending_order_ttl_hours: u64,
    pub expiry_interval_secs: u64,
    /// `none`, `manual` or `taxjar`.
    pub tax_provider: crate::tax::Provider,
    /// `fail-closed` or `fallback` (to the manual rates) when TaxJar fails.
    pub tax_on_failure: crate::tax::OnFailure,
    pub taxjar_api_base: String,
    pub taxjar_token: String,
    pub taxjar_timeout_ms: u64,
    pub tax_product_code: String,
    /// Ship-from, as `COUNTRY[-REGION[-POSTAL]]` (`US-CA-94103`); empty for none.
    pub tax_from: String,
    /// Where tax is collected, comma-separated: `US-CA,DE`.
    pub tax_nexus: String,
    /// How long the exchange-rate quote of an order in a display currency holds.
    pub fx_quote_ttl_minutes: u64,
    /// How long after its expiry an order may be re-quoted (longer than any payment start).
    pub fx_requote_grace_secs: u64,
}

#[derive(Debug, Clone)]
pub struct CartOrderConfig {
    pub cart_ttl: chrono::Duration,
    pub pending_order_ttl: chrono::Duration,
    pub expiry_interval: std::time::Duration,
    pub settlement: Currency,
    pub tax: crate::tax::Settings,
    pub quote_ttl: chrono::Duration,
    pub requote_grace: chrono::Duration,
}

impl CartOrderConfig {
    pub fn load(settings: &Settings) -> Result<CartOrderConfig, StartError> {
        let s: CartOrderSection = settings.section("cart_order")?;
        Self::from_section(s, &settings.commerce.settlement_currency)
    }

    fn from_section(s: CartOrderSection, settlement: &str) -> Result<CartOrderConfig, StartError> {
        let bad = |m: &str| Err(StartError::Other(format!("cart_order: {m}")));
        if s.cart_ttl_hours == 0 || s.pending_order_ttl_hours == 0 || s.expiry_interval_secs == 0 {
            return bad(
                "cart_ttl_hours, pending_order_ttl_hours and expiry_interval_secs must be positive",
            );
        }
        let hours = |h: u64| {
            i64::try_from(h)
                .ok()
                .and_then(chrono::Duration::try_hours)
                .ok_or_else(|| StartError::Other(format!("cart_order: {h} hours is too long")))
        };
        Ok(CartOrderConfig {
            cart_ttl: hours(s.cart_ttl_hours)?,
            pending_order_ttl: hours(s.pending_order_ttl_hours)?,
            expiry_interval: std::time::Duration::from_secs(s.expiry_interval_secs),
            settlement: Currency::parse(settlement)
                .map_err(|e| StartError::Other(format!("commerce.settlement_currency: {e}")))?,
            tax: tax_settings(&s).map_err(|m| StartError::Other(format!("cart_order: {m}")))?,
            quote_ttl: i64::try_from(s.fx_quote_ttl_minutes)
                .ok()
                .filter(|m| *m > 0)
                .and_then(chrono::Duration::try_minutes)
                .ok_or_else(|| {
                    StartError::Other("cart_order: fx_quote_ttl_minutes must be positive".into())
                })?,
            requote_grace: i64::try_from(s.fx_requote_grace_secs)
                .ok()
                .and_then(chrono::Duration::try_seconds)
                .ok_or_else(|| {
                    StartError::Other("cart_order: fx_requote_grace_secs is too long".into())
                })?,
        })
    }
}

/// `US-CA-94103` → (`US`, `CA`, `94103`); `DE` → (`DE`, none, none).
fn place(p: &str) -> Result<(String, Option<String>, Option<String>), String> {
    let mut parts = p.split('-');
    let country = parts.next().unwrap_or_default().to_string();
    let region = parts.next().map(str::to_string);
    let postal = parts.next().map(str::to_string);
    if let Some((part, why)) = crate::domain::tax::place_error(&country, region.as_deref()) {
        return Err(format!("`{p}`: {part}: {why}"));
    }
    if !crate::domain::tax::short_text(&postal, 16) {
        return Err(format!("`{p}`: postal code: 1 to 16 characters"));
    }
    Ok((country, region, postal))
}

fn tax_settings(s: &CartOrderSection) -> Result<crate::tax::Settings, String> {
    use crate::tax::Provider;
    if s.tax_provider == Provider::Taxjar
        && (s.taxjar_token.trim().is_empty() || !runtime::settings::is_http_url(&s.taxjar_api_base))
    {
        return Err(
            "tax_provider = \"taxjar\" needs taxjar_token and an http(s) taxjar_api_base".into(),
        );
    }
    if s.taxjar_timeout_ms == 0 {
        return Err("taxjar_timeout_ms must be positive".into());
    }
    let from = if s.tax_from.trim().is_empty() {
        None
    } else {
        let (country, region, postal_code) = place(&s.tax_from)?;
        Some(crate::domain::tax::BillingAddress {
            country,
            postal_code,
            region,
            city: None,
            street: None,
        })
    };
    let nexus = s
        .tax_nexus
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| place(n).map(|(c, r, _)| (c, r)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::tax::Settings {
        provider: s.tax_provider,
        on_failure: s.tax_on_failure,
        api_base: s.taxjar_api_base.clone(),
        token: s.taxjar_token.clone(),
        timeout: std::time::Duration::from_millis(s.taxjar_timeout_ms),
        product_tax_code: s.tax_product_code.clone(),
        from,
        nexus,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(ttl: u64) -> CartOrderSection {
        CartOrderSection {
            cart_ttl_hours: ttl,
            pending_order_ttl_hours: 24,
            expiry_interval_secs: 30,
            tax_provider: crate::tax::Provider::None,
            tax_on_failure: crate::tax::OnFailure::FailClosed,
            taxjar_api_base: "https://api.sandbox.taxjar.com/v2".into(),
            taxjar_token: String::new(),
            taxjar_timeout_ms: 3000,
            tax_product_code: "31000".into(),
            tax_from: "US-CA-94103".into(),
            tax_nexus: "US-CA, DE".into(),
            fx_quote_ttl_minutes: 30,
            fx_requote_grace_secs: 60,
        }
    }

    #[test]
    fn validates_at_start() {
        let c = CartOrderConfig::from_section(section(72), "USD").unwrap();
        assert_eq!(c.cart_ttl, chrono::Duration::hours(72));
        assert!(CartOrderConfig::from_section(section(0), "USD").is_err());
        assert!(CartOrderConfig::from_section(section(u64::MAX), "USD").is_err());
        assert!(CartOrderConfig::from_section(section(72), "XXX").is_err());
        assert_eq!(c.tax.nexus[0], ("US".to_string(), Some("CA".to_string())));
        assert_eq!(
            c.tax.from.as_ref().unwrap().postal_code.as_deref(),
            Some("94103")
        );
        let mut tj = section(72);
        tj.tax_provider = crate::tax::Provider::Taxjar;
        assert!(
            CartOrderConfig::from_section(tj.clone(), "USD").is_err(),
            "no token"
        );
        tj.taxjar_token = "t".into();
        assert!(CartOrderConfig::from_section(tj.clone(), "USD").is_ok());
        tj.tax_nexus = "US-california".into();
        assert!(CartOrderConfig::from_section(tj.clone(), "USD").is_err());
        tj.tax_nexus = "usa".into();
        assert!(CartOrderConfig::from_section(tj, "USD").is_err());
    }
}
