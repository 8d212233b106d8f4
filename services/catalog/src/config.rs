//! catalog's settings: the platform's settlement currency (`commerce.settlement_currency`),
//! validated at start. Prices are set in it; other currencies are display currencies with an
//! exchange rate.

use kernel::Currency;
use runtime::{Settings, StartError};

#[derive(Debug, Clone)]
pub struct CatalogConfig {
    pub settlement: Currency,
}

impl CatalogConfig {
    pub fn load(settings: &Settings) -> Result<CatalogConfig, StartError> {
        Self::from_settlement(&settings.commerce.settlement_currency)
    }

    fn from_settlement(code: &str) -> Result<CatalogConfig, StartError> {
        Ok(CatalogConfig {
            settlement: Currency::parse(code)
                .map_err(|e| StartError::Other(format!("commerce.settlement_currency: {e}")))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_at_start() {
        let c = CatalogConfig::from_settlement("USD").unwrap();
        assert_eq!(c.settlement, Currency::USD);
        assert_eq!(
            CatalogConfig::from_settlement("eur")
                .unwrap()
                .settlement
                .code(),
            "EUR"
        );
        assert!(CatalogConfig::from_settlement("XXX").is_err());
        assert!(CatalogConfig::from_settlement("").is_err());
    }
}
