//! The catalog as cart-order sees it: internal HTTP with a timeout.

use crate::model::CatalogItem;
use kernel::Rate;
use serde::Deserialize;
use std::str::FromStr;
use web::internal::{InternalClient, InternalError};

#[derive(Clone)]
pub struct CatalogClient {
    pub client: InternalClient,
    pub base: String,
}

#[derive(Deserialize)]
struct Rates {
    items: Vec<RateItem>,
}

#[derive(Deserialize)]
struct RateItem {
    currency: String,
    rate: String,
}

impl CatalogClient {
    pub async fn item(&self, kind: &str, id: uuid::Uuid) -> Result<CatalogItem, InternalError> {
        self.client
            .get_json(
                "catalog",
                &format!(
                    "{}{}",
                    self.base.trim_end_matches('/'),
                    contracts::catalog::item_path(kind, id)
                ),
            )
            .await
    }

    /// The current rate of `currency` (display units per settlement unit), if the catalog has one.
    /// A rate the catalog sends but that does not parse is an error, never "no rate".
    pub async fn rate(&self, currency: &str) -> Result<Option<Rate>, InternalError> {
        let rates: Rates = self
            .client
            .get_json(
                "catalog",
                &format!(
                    "{}/api/v2/catalog/exchange-rates",
                    self.base.trim_end_matches('/')
                ),
            )
            .await?;
        rates
            .items
            .into_iter()
            .find(|r| r.currency == currency)
            .map(|r| {
                Rate::from_str(&r.rate).map_err(|e| {
                    InternalError::Unexpected(format!("catalog rate for {currency}: {e}"))
                })
            })
            .transpose()
    }
}
