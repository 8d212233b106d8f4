//! The catalog as cart-order sees it: internal HTTP with a timeout.

use crate::model::CatalogItem;
use rust_decimal::Decimal;
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
    items: Vec<Rate>,
}

#[derive(Deserialize)]
struct Rate {
    currency: String,
    rate: String,
}

impl CatalogClient {
    pub async fn item(&self, kind: &str, id: uuid::Uuid) -> Result<CatalogItem, InternalError> {
        self.client
            .get_json(
                "catalog",
                &format!(
                    "{}/internal/v1/catalog/items/{kind}/{id}",
                    self.base.trim_end_matches('/')
                ),
            )
            .await
    }

    /// The current rate of `currency` (display units per settlement unit), if the catalog has one.
    pub async fn rate(&self, currency: &str) -> Result<Option<Decimal>, InternalError> {
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
        Ok(rates
            .items
            .into_iter()
            .find(|r| r.currency == currency)
            .and_then(|r| Decimal::from_str(&r.rate).ok()))
    }
}
