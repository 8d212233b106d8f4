//! Exchange rates of display currencies: public list, billing-admin updates.

use crate::domain::exchange_rate::{parse_rate, rated_currency};
use crate::events as published;
use crate::model::ExchangeRateInput;
use crate::routes::public_cache::json;
use crate::storage;
use crate::views::{self, ExchangeRateView};
use crate::{Catalog, NAME};
use ::events::subjects;
use ::web::idempotency::{self, MaybeIdempotencyKey};
use ::web::{ApiError, Authorized, Json, Reply, roles};
use actix_web::{HttpRequest, HttpResponse, web};

/// Exchange rates for display currencies.
#[utoipa::path(get, path = "/api/v2/catalog/exchange-rates", tag = "catalog",
    params(("If-None-Match" = Option<String>, Header, nullable = false, description = "An ETag of an earlier answer")),
    responses((status = 304, description = "Not modified: the `If-None-Match` ETag is current"), (status = 200, body = ::web::Page<ExchangeRateView>, description = "Every exchange rate (one page)")))]
pub async fn list_rates(
    req: HttpRequest,
    state: web::Data<Catalog>,
) -> Result<HttpResponse, ApiError> {
    state
        .public
        .serve(&req, || async {
            let rows = storage::rates(&state.db).await?;
            let items = rows
                .iter()
                .map(|r| views::exchange_rate(r, state.settlement))
                .collect::<Result<Vec<_>, _>>()?;
            json(&serde_json::json!({ "items": items, "nextCursor": null }))
        })
        .await
}

/// Set the exchange rate of a display currency (billing-admin).
#[utoipa::path(put, path = "/api/v2/admin/catalog/exchange-rates/{currency}", tag = "catalog", security(("bearer" = [])), request_body = ExchangeRateInput,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,255}$", description = "Makes a retry safe: the same key and request answer the first answer again (1 to 255 visible ASCII characters)"), ("currency" = String, Path)),
    responses((status = 200, body = ExchangeRateView), (status = 400), (status = 401), (status = 403), (status = 422)))]
pub async fn put_rate(
    caller: Authorized<roles::BillingAdmin>,
    req: HttpRequest,
    state: web::Data<Catalog>,
    key: MaybeIdempotencyKey,
    currency: web::Path<String>,
    body: Json<ExchangeRateInput>,
) -> Result<HttpResponse, ApiError> {
    let settlement = state.settlement;
    let currency = rated_currency(&currency, settlement)?;
    let rate = parse_rate(&body.value)?;
    let now = state.clock.now();
    let fp = idempotency::fingerprint(&req, &body.raw);
    let user = caller.user_id.clone();
    let resp = idempotency::run(&state.db, &user, key.0.as_ref(), &fp, |txn| async move {
        let row = storage::upsert_rate(&txn, currency, rate, &caller.user_id, now).await?;
        let event = published::exchange_rate_changed(&row, settlement)?;
        bus::enqueue(&txn, NAME, subjects::EXCHANGE_RATE_UPDATED, &event).await?;
        Ok((txn, Reply::ok(views::exchange_rate(&row, settlement)?)?))
    })
    .await?;
    state.committed();
    Ok(resp)
}
