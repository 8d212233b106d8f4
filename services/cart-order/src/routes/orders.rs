//! Orders: a learner's own (another learner's order is 404), the billing-admin view with filters,
//! and the internal lookup payment uses to price an intent.

use crate::CartOrder;
use crate::domain::CartOrderError;
use crate::storage::{self, OrderFilter};
use crate::views::{OrderView, order_views as views};
use ::web::internal::Internal;
use ::web::page::PageQuery;
use ::web::{ApiError, Authorized, Caller, Page, roles};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use kernel::Lifecycle;
use sea_orm::TransactionTrait;
use serde::Deserialize;
use uuid::Uuid;

fn parse(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found(format!("no order `{raw}`")))
}

#[utoipa::path(get, path = "/api/v2/orders", tag = "orders", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = ::web::Page<OrderView>, description = "The caller's orders, newest first")))]
pub async fn list_own(
    state: web::Data<CartOrder>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = q.into_inner();
    let f = OrderFilter {
        user_id: Some(caller.user_id.clone()),
        cursor: page.cursor()?,
        limit: page.limit()?,
        ..Default::default()
    };
    let rows = storage::list_orders(&state.db, &f).await?;
    let page = Page::from_rows(rows, f.limit, |o| o.id.to_string());
    let items = views(&state.db, page.items).await?;
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/v2/orders/{id}", tag = "orders", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = OrderView, description = "Order details"), (status = 404, description = "Unknown or another learner's")))]
pub async fn get_own(
    state: web::Data<CartOrder>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse(&id)?;
    let order = storage::order(&state.db, id)
        .await?
        .filter(|o| o.user_id == caller.user_id)
        .ok_or_else(|| ApiError::not_found(format!("no order `{id}`")))?;
    Ok(HttpResponse::Ok().json(&views(&state.db, vec![order]).await?[0]))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct AdminQuery {
    #[param(nullable = false, schema_with = status_schema)]
    pub status: Option<String>,
    /// Only this learner's orders.
    #[param(nullable = false)]
    pub user_id: Option<String>,
    /// Created at or after (RFC 3339).
    #[param(nullable = false)]
    pub from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    #[param(nullable = false)]
    pub to: Option<DateTime<Utc>>,
    /// Only orders with a line giving this course.
    #[param(nullable = false)]
    pub course_id: Option<Uuid>,
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

const STATUSES: &[&str] = &["pending", "completed", "failed", "refunded", "cancelled"];

fn status_schema() -> utoipa::openapi::Object {
    ::web::openapi::words(STATUSES)
}

#[utoipa::path(get, path = "/api/v2/admin/orders", tag = "orders", security(("bearer" = [])), params(AdminQuery),
    responses((status = 200, body = ::web::Page<OrderView>, description = "Orders, filtered, newest first"), (status = 403)))]
pub async fn admin_list(
    _: Authorized<roles::BillingAdmin>,
    state: web::Data<CartOrder>,
    q: web::Query<AdminQuery>,
) -> Result<HttpResponse, ApiError> {
    if let Some(s) = &q.status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("status must be one of {}", STATUSES.join(", ")),
        )
        .with_field("status"));
    }
    let page = PageQuery {
        cursor: q.cursor.clone(),
        limit: q.limit,
    };
    let f = OrderFilter {
        user_id: q.user_id.clone(),
        status: q.status.clone(),
        from: q.from,
        to: q.to,
        course_id: q.course_id,
        cursor: page.cursor()?,
        limit: page.limit()?,
    };
    let rows = storage::list_orders(&state.db, &f).await?;
    let page = Page::from_rows(rows, f.limit, |o| o.id.to_string());
    let items = views(&state.db, page.items).await?;
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/v2/admin/orders/{id}", tag = "orders", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), responses((status = 200, body = OrderView, description = "Order admin view"), (status = 403), (status = 404)))]
pub async fn admin_get(
    _: Authorized<roles::BillingAdmin>,
    state: web::Data<CartOrder>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse(&id)?;
    let order = storage::order(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no order `{id}`")))?;
    Ok(HttpResponse::Ok().json(&views(&state.db, vec![order]).await?[0]))
}

pub async fn internal_get(
    _: Internal,
    state: web::Data<CartOrder>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse(&id)?;
    Ok(HttpResponse::Ok().json(for_payment(&state, id).await?))
}

/// The order as payment prices it: lines that sum to the total, in the order's currency.
async fn for_payment(
    state: &CartOrder,
    id: Uuid,
) -> Result<contracts::orders::OrderForPayment, ApiError> {
    let o = storage::order(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no order `{id}`")))?;
    let items = storage::order_items(&state.db, &[id])
        .await?
        .remove(&id)
        .unwrap_or_default();
    let mut departments: Vec<String> = items.iter().map(|i| i.department_id.clone()).collect();
    departments.dedup();
    let lines = items
        .iter()
        .map(|i| {
            Ok(contracts::orders::PayableLine {
                order_item_id: i.id,
                amount: i.total_minor()?,
            })
        })
        .collect::<Result<Vec<_>, CartOrderError>>()?;
    let order = contracts::orders::OrderForPayment {
        id: o.id,
        order_number: o.order_number,
        user_id: o.user_id,
        status: o.status,
        total: o.total_minor,
        currency: o.currency,
        department_ids: departments,
        lines,
        quote_expires_at: o.quote_expires_at,
    };
    if !order.lines_sum_to_total() {
        return Err(
            CartOrderError::Corrupt(format!("order {id}: lines do not sum to its total")).into(),
        );
    }
    Ok(order)
}

/// `POST /internal/v1/orders/{id}/requote` (payment, before starting a payment on an expired
/// quote): a pending order in a display currency whose quote expired longer ago than the grace
/// period is converted again, line by line from its settlement amounts, at the catalog's rate
/// now, and holds a new quote. Any other order is answered as it is. The grace period is longer
/// than a payment takes to start, so a payment begun on the old quote (payment refuses to record
/// one after the quote's expiry) is never re-priced under it.
pub async fn internal_requote(
    _: Internal,
    state: web::Data<CartOrder>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse(&id)?;
    let due = |o: &storage::OrderRow, now: DateTime<Utc>| {
        o.status == crate::domain::OrderStatus::Pending.as_str()
            && o.quote_expires_at
                .is_some_and(|exp| now > exp + state.requote_grace)
    };
    let o = storage::order(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no order `{id}`")))?;
    if due(&o, state.clock.now()) {
        let display = kernel::Currency::parse(&o.currency).map_err(ApiError::internal)?;
        let settlement =
            kernel::Currency::parse(&o.settlement_currency).map_err(ApiError::internal)?;
        // The rate is read before the transaction (no outside call inside one).
        let rate = state
            .catalog
            .rate(display.code())
            .await?
            .ok_or_else(|| CartOrderError::NoExchangeRate(display.code().to_string()))?;
        let txn = state.db.begin().await?;
        let now = state.clock.now();
        if let Some(locked) = storage::lock_order(&txn, id).await?
            && due(&locked, now)
        {
            storage::requote(
                &txn,
                &locked,
                settlement,
                display,
                rate,
                now,
                now + state.quote_ttl,
            )
            .await?;
        }
        txn.commit().await?;
    }
    Ok(HttpResponse::Ok().json(for_payment(&state, id).await?))
}

/// `POST /internal/v1/subscription-orders` (payment): the order of a subscription's period or of
/// a course enrolled in through it, made once per `sourceKey` (asking again answers the same
/// order). An order with nothing to pay completes at once, so its course is registered as any
/// other; a period's order waits for its payment and is not expired by the unpaid-order sweep.
pub async fn internal_subscription_order(
    _: Internal,
    state: web::Data<CartOrder>,
    body: web::Json<contracts::orders::SubscriptionOrder>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    if b.amount < 0
        || !b
            .source_key
            .starts_with(&format!("sub:{}:", b.subscription_id))
    {
        return Err(ApiError::rule(
            "invalid_subscription_order",
            "a subscription order needs a non-negative amount and its own source key",
        ));
    }
    let currency = kernel::Currency::parse(&b.currency).map_err(|e| {
        ApiError::rule("invalid_subscription_order", e.to_string()).with_field("currency")
    })?;
    if let Some(existing) = storage::order_by_source(&state.db, &b.source_key).await? {
        return Ok(HttpResponse::Ok().json(for_payment(&state, existing.id).await?));
    }
    let id = match subscription_order(&state, &b, currency).await {
        Ok(id) => id,
        // Made meanwhile by a concurrent caller with the same key: that one is the order.
        Err(e) if e.is_unique_violation() => {
            storage::order_by_source(&state.db, &b.source_key)
                .await?
                .ok_or_else(|| CartOrderError::Corrupt("subscription order vanished".into()))?
                .id
        }
        Err(e) => return Err(e.into()),
    };
    state.outbox.notify_one();
    Ok(HttpResponse::Ok().json(for_payment(&state, id).await?))
}

async fn subscription_order(
    state: &CartOrder,
    b: &contracts::orders::SubscriptionOrder,
    currency: kernel::Currency,
) -> Result<Uuid, SubscriptionOrderError> {
    use chrono::Datelike;
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    let n = storage::next_order_number(&txn, now.year()).await?;
    let new = storage::NewOrder {
        id: kernel::new_id(),
        number: crate::model::order_number(now.year(), n),
        user_id: b.user_id.clone(),
        // No cart: one derived from the key keeps the column's uniqueness meaningful.
        cart_id: Uuid::new_v5(&Uuid::NAMESPACE_URL, b.source_key.as_bytes()),
        currency: currency.code().to_string(),
        subtotal: b.amount,
        discount: None,
        tax: 0,
        taxed: None,
        total: b.amount,
        settlement_currency: currency.code().to_string(),
        settlement_total: b.amount,
        exchange_rate: rust_decimal::Decimal::ONE,
        exchange_rate_at: now,
        quote: None,
        customer_email: b.customer_email.clone(),
        customer_name: b.customer_name.clone(),
        source: Some((b.subscription_id, b.source_key.clone())),
    };
    let order = storage::insert_order(&txn, &new, now).await?;
    let line = storage::LineRow {
        id: kernel::new_id(),
        item_type: b.item.item_type.clone(),
        item_id: b.item.item_id,
        name: b.item.name.clone(),
        price_minor: b.amount,
        currency: currency.code().to_string(),
        snapshot: serde_json::to_value(&b.item)
            .map_err(|e| CartOrderError::Corrupt(e.to_string()))?,
        added_at: now,
    };
    let money = storage::LineMoney {
        amounts: crate::domain::display::LineAmounts {
            price: b.amount,
            discount: 0,
            tax: 0,
        },
        settlement: None,
    };
    let items = vec![storage::insert_order_item(&txn, order.id, 0, &line, money, &b.item).await?];
    let created = crate::events::order_created(&order, &items)?;
    bus::enqueue(&txn, crate::NAME, events::subjects::ORDER_CREATED, &created).await?;
    if b.amount == 0 {
        storage::complete(
            &txn,
            &order,
            &items,
            crate::domain::OrderEvent::NothingToPay,
            None,
            now,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(order.id)
}

/// Why a subscription's order was not made: a concurrent maker won the key, or anything else.
#[derive(Debug, thiserror::Error)]
enum SubscriptionOrderError {
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Order(#[from] CartOrderError),
}

impl SubscriptionOrderError {
    fn is_unique_violation(&self) -> bool {
        matches!(self, SubscriptionOrderError::Db(e) if db::is_unique_violation(e))
    }
}

impl From<SubscriptionOrderError> for ApiError {
    fn from(e: SubscriptionOrderError) -> Self {
        match e {
            SubscriptionOrderError::Db(e) => e.into(),
            SubscriptionOrderError::Order(e) => e.into(),
        }
    }
}
