//! Payout Platform deliveries an operator must look at: the parked ones, and their redrive.

use crate::Payout;
use crate::domain::PayoutError;
use crate::storage::DELIVERIES;
use ::web::{ApiError, Authorized, roles};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use db::stmt as pg;
use sea_orm::FromQueryResult;
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Serialize, FromQueryResult, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParkedDelivery {
    pub entry_id: Uuid,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParkedPage {
    pub items: Vec<ParkedDelivery>,
    /// Always null: at most 500 parked deliveries are listed; redrive them to see more.
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/revenue/deliveries", tag = "revenue", security(("bearer" = [])),
    responses((status = 200, body = ParkedPage, description = "Parked webhooks, oldest first"), (status = 401), (status = 403)))]
pub async fn parked(
    state: web::Data<Payout>,
    _caller: Authorized<roles::BillingAdmin>,
) -> Result<HttpResponse, ApiError> {
    let items = ParkedDelivery::find_by_statement(pg(
        "SELECT entry_id, attempts, last_error, updated_at FROM deliveries
         WHERE status = 'failed' ORDER BY updated_at LIMIT 500",
        vec![],
    ))
    .all(&state.db)
    .await?;
    Ok(HttpResponse::Ok().json(ParkedPage {
        items,
        next_cursor: None,
    }))
}

#[utoipa::path(post, path = "/api/v1/revenue/deliveries/{entryId}/redrive", tag = "revenue", security(("bearer" = [])),
    params(("entryId" = uuid::Uuid, Path, description = "The ledger entry whose webhook was parked")),
    responses((status = 202, description = "Scheduled again"), (status = 401), (status = 403),
        (status = 404), (status = 409, description = "illegal_transition: the webhook is not parked")))]
pub async fn redrive(
    state: web::Data<Payout>,
    _caller: Authorized<roles::BillingAdmin>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id =
        Uuid::parse_str(&id).map_err(|_| PayoutError::NotFound(format!("no delivery `{id}`")))?;
    if !DELIVERIES.redrive(&state.db, id, state.clock.now()).await? {
        // Every entry has its delivery (both are written in one transaction).
        return Err(match crate::storage::get(&state.db, id).await? {
            Some(_) => PayoutError::NotRedrivable,
            None => PayoutError::NotFound(format!("no delivery `{id}`")),
        }
        .into());
    }
    state.wake.notify_one();
    Ok(HttpResponse::Accepted().finish())
}
