//! The `exchange_rates` table: one rate per display currency.

use super::corrupt;
use chrono::{DateTime, Utc};
use db::stmt as pg;
use kernel::{Currency, Rate};
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};

#[derive(Debug, Clone, FromQueryResult)]
pub struct RateRow {
    pub currency: String,
    pub rate: Decimal,
    pub updated_at: DateTime<Utc>,
}

impl RateRow {
    pub fn currency(&self) -> Result<Currency, DbErr> {
        Currency::parse(&self.currency)
            .map_err(|e| corrupt(format_args!("exchange rate `{}`: {e}", self.currency)))
    }

    /// The stored rate; one that is not positive is an error.
    pub fn rate(&self) -> Result<Rate, DbErr> {
        Rate::new(self.rate)
            .map_err(|e| corrupt(format_args!("exchange rate `{}`: {e}", self.currency)))
    }
}

pub async fn upsert_rate(
    c: &impl ConnectionTrait,
    currency: Currency,
    rate: Rate,
    by: &str,
    now: DateTime<Utc>,
) -> Result<RateRow, DbErr> {
    RateRow::find_by_statement(pg(
        "INSERT INTO exchange_rates (currency, rate, updated_by, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (currency) DO UPDATE SET rate = EXCLUDED.rate, updated_by = EXCLUDED.updated_by,
             updated_at = EXCLUDED.updated_at
         RETURNING currency, rate, updated_at",
        vec![
            currency.code().into(),
            rate.value().into(),
            by.into(),
            now.into(),
        ],
    ))
    .one(c)
    .await?
    .ok_or(DbErr::RecordNotInserted)
}

pub async fn rates(c: &impl ConnectionTrait) -> Result<Vec<RateRow>, DbErr> {
    RateRow::find_by_statement(pg(
        "SELECT currency, rate, updated_at FROM exchange_rates ORDER BY currency",
        vec![],
    ))
    .all(c)
    .await
}

pub async fn rate(c: &impl ConnectionTrait, currency: Currency) -> Result<Option<RateRow>, DbErr> {
    RateRow::find_by_statement(pg(
        "SELECT currency, rate, updated_at FROM exchange_rates WHERE currency = $1",
        vec![currency.code().into()],
    ))
    .one(c)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(currency: &str, rate: Decimal) -> RateRow {
        RateRow {
            currency: currency.into(),
            rate,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn an_unreadable_rate_is_an_error() {
        let ok = row("EUR", Decimal::new(92, 2));
        assert_eq!(ok.rate().unwrap().to_string(), "0.92");
        assert_eq!(ok.currency().unwrap().code(), "EUR");
        assert!(matches!(
            row("EUR", Decimal::ZERO).rate(),
            Err(DbErr::Custom(_))
        ));
        assert!(matches!(
            row("XYZ", Decimal::ONE).currency(),
            Err(DbErr::Custom(_))
        ));
    }
}
