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
}

#[derive(Debug, Clone)]
pub struct CartOrderConfig {
    pub cart_ttl: chrono::Duration,
    pub pending_order_ttl: chrono::Duration,
    pub expiry_interval: std::time::Duration,
    pub settlement: Currency,
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(ttl: u64) -> CartOrderSection {
        CartOrderSection {
            cart_ttl_hours: ttl,
            pending_order_ttl_hours: 24,
            expiry_interval_secs: 30,
        }
    }

    #[test]
    fn validates_at_start() {
        let c = CartOrderConfig::from_section(section(72), "USD").unwrap();
        assert_eq!(c.cart_ttl, chrono::Duration::hours(72));
        assert!(CartOrderConfig::from_section(section(0), "USD").is_err());
        assert!(CartOrderConfig::from_section(section(u64::MAX), "USD").is_err());
        assert!(CartOrderConfig::from_section(section(72), "XXX").is_err());
    }
}
