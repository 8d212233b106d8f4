//! The velocity check's review queue (spec "Fraud Prevention"): billing-admins list the learners
//! whose attempts are on hold and clear them.

use crate::Payment;
use crate::storage::reviews::{self, ReviewRow};
use ::web::page::{Page, PageQuery};
use ::web::{ApiError, Authorized, roles};
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `?status=open|cleared&cursor=&limit=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReviewQuery {
    /// Only reviews in this status.
    #[param(nullable = false, schema_with = review_status)]
    pub status: Option<String>,
    /// The `nextCursor` of the previous page (empty: the first page).
    #[param(
        nullable = false,
        pattern = "^$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    pub cursor: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(nullable = false, minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

const REVIEW_STATUSES: &[&str] = &["open", "cleared"];

fn review_status() -> utoipa::openapi::Object {
    ::web::openapi::words(REVIEW_STATUSES)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewPage {
    pub items: Vec<ReviewRow>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v2/admin/payment-reviews", tag = "payments", security(("bearer" = [])), params(ReviewQuery),
    responses((status = 200, body = ReviewPage, description = "Learners whose payment attempts were held, newest first"),
        (status = 400, description = "invalid_query"), (status = 401), (status = 403)))]
pub async fn list(
    state: web::Data<Payment>,
    _: Authorized<roles::BillingAdmin>,
    q: web::Query<ReviewQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery {
        cursor: q.cursor.clone(),
        limit: q.limit,
    };
    let limit = page.limit()?;
    if let Some(s) = &q.status
        && !REVIEW_STATUSES.contains(&s.as_str())
    {
        return Err(
            ApiError::bad_request("invalid_query", "status: open or cleared").with_field("status"),
        );
    }
    let rows = reviews::list(&state.db, q.status.as_deref(), page.cursor()?, limit).await?;
    let p = Page::from_rows(rows, limit, |r| r.id.to_string());
    Ok(HttpResponse::Ok().json(ReviewPage {
        items: p.items,
        next_cursor: p.next_cursor,
    }))
}

#[utoipa::path(post, path = "/api/v2/admin/payment-reviews/{id}/clear", tag = "payments", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = ReviewRow, description = "Cleared: the learner may pay again; earlier declines no longer count"),
        (status = 401), (status = 403), (status = 404), (status = 409, description = "review_cleared")))]
pub async fn clear(
    state: web::Data<Payment>,
    caller: Authorized<roles::BillingAdmin>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let missing = || ApiError::not_found(format!("no payment review `{id}`"));
    let rid = Uuid::parse_str(&id).map_err(|_| missing())?;
    match reviews::clear(&state.db, rid, &caller.user_id, state.clock.now()).await? {
        Some(r) => Ok(HttpResponse::Ok().json(r)),
        None => {
            let exists = reviews::review(&state.db, rid).await?.is_some();
            Err(if exists {
                ApiError::conflict("review_cleared", "the review was already cleared")
            } else {
                missing()
            })
        }
    }
}
