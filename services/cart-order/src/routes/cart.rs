//! The cart: anonymous (keyed by `X-Session-Id`) or the user's, merged into the user's on their
//! first authenticated request; prices snapshotted from the catalog; checkout.

use crate::model::*;
use crate::orders::{self as order_logic};
use crate::storage::{self, CartRow, LineRow};
use crate::{CartOrder, NAME};
use ::web::idempotency::{self, MaybeIdempotencyKey};
use ::web::internal::InternalError;
use ::web::{ApiError, Caller, Json, MaybeCaller, Reply};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Datelike;
use events::subjects;
use futures_util::future::join_all;
use sea_orm::{ConnectionTrait, TransactionTrait};
use std::collections::HashSet;

/// Finds (and, with `create`, makes) the caller's open cart, merging an anonymous cart into the
/// user's when a logged-in request carries its session id.
pub(crate) async fn current_cart(
    state: &CartOrder,
    conn: &impl ConnectionTrait,
    caller: Option<&Caller>,
    session: Option<&str>,
    create: bool,
) -> Result<Option<CartRow>, ApiError> {
    let now = state.clock.now();
    let expires = now + state.cart_ttl;
    match caller {
        Some(c) => {
            let mut cart = storage::open_cart_of_user(conn, &c.user_id, now).await?;
            if let Some(s) = session
                && let Some(anon) = storage::open_cart_of_session(conn, s, now).await?
            {
                match &cart {
                    Some(mine) => storage::merge_into(conn, anon.id, mine.id).await?,
                    None => {
                        storage::adopt(conn, anon.id, &c.user_id).await?;
                        cart = storage::open_cart_of_user(conn, &c.user_id, now).await?;
                    }
                }
            }
            if cart.is_none() && create {
                cart =
                    Some(storage::create_cart(conn, Some(&c.user_id), None, now, expires).await?);
            }
            Ok(cart)
        }
        None => {
            let Some(s) = session else {
                return if create {
                    Err(ApiError::bad_request(
                        "session_required",
                        "send X-Session-Id or log in to use a cart",
                    ))
                } else {
                    Ok(None)
                };
            };
            let cart = storage::open_cart_of_session(conn, s, now).await?;
            match cart {
                Some(c) => Ok(Some(c)),
                None if create => Ok(Some(
                    storage::create_cart(conn, None, Some(s), now, expires).await?,
                )),
                None => Ok(None),
            }
        }
    }
}

/// The cart as the learner sees it, with "already owned" flags for a logged-in learner.
pub(crate) async fn view(
    conn: &impl ConnectionTrait,
    cart: Option<&CartRow>,
    lines: &[LineRow],
    user: Option<&str>,
) -> Result<CartView, ApiError> {
    let items: Vec<CatalogItem> = lines.iter().map(|l| l.item()).collect::<Result<_, _>>()?;
    let owned = match user {
        Some(u) => {
            let all: Vec<_> = items.iter().flat_map(|i| i.course_ids()).collect();
            storage::owned_courses(conn, u, &all).await?
        }
        None => HashSet::new(),
    };
    let subtotal = lines
        .iter()
        .try_fold(0i64, |acc, l| acc.checked_add(l.price_minor))
        .ok_or_else(|| ApiError::internal("cart subtotal overflow"))?;
    Ok(CartView {
        id: cart.map(|c| c.id),
        user_id: cart.and_then(|c| c.user_id.clone()),
        session_id: cart.and_then(|c| c.session_id.clone()),
        items: lines
            .iter()
            .zip(&items)
            .map(|(l, i)| CartLineView {
                id: l.id,
                item_type: l.item_type.clone(),
                item_id: l.item_id,
                name: l.name.clone(),
                quantity: 1,
                price: l.price_minor,
                currency: l.currency.trim().to_string(),
                owned: !i.courses.is_empty()
                    && i.courses.iter().all(|c| owned.contains(&c.course_id)),
                added_at: l.added_at,
            })
            .collect(),
        currency: lines.first().map(|l| l.currency.trim().to_string()),
        subtotal,
        discount_code: None,
        discount_amount: 0,
        tax: 0,
        total: subtotal,
        expires_at: cart.map(|c| c.expires_at),
    })
}

/// `GET /api/v2/cart`
#[utoipa::path(get, path = "/api/v2/cart", tag = "cart", params(("X-Session-Id" = Option<String>, Header, description = "Anonymous cart key")), responses((status = 200, description = "The cart with subtotal, discount, tax, total and owned flags")))]
pub async fn get(
    req: HttpRequest,
    state: web::Data<CartOrder>,
    caller: MaybeCaller,
) -> Result<HttpResponse, ApiError> {
    let session = session_id(&req)?;
    let txn = state.db.begin().await?;
    let cart = current_cart(&state, &txn, caller.0.as_ref(), session.as_deref(), false).await?;
    let lines = match &cart {
        Some(c) => storage::lines(&txn, c.id).await?,
        None => vec![],
    };
    let v = view(
        &txn,
        cart.as_ref(),
        &lines,
        caller.0.as_ref().map(|c| c.user_id.as_str()),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(v))
}

fn catalog_error(e: InternalError) -> ApiError {
    match e {
        InternalError::NotFound => ApiError::not_found("no such item in the catalog"),
        other => other.into(),
    }
}

/// `POST /api/v2/cart/items`: the price comes from the catalog, never from the request.
#[utoipa::path(post, path = "/api/v2/cart/items", tag = "cart", request_body(content = Object, description = "`{itemType: course|program|subscription, itemId}`; any price sent is ignored"), params(("X-Session-Id" = Option<String>, Header)), responses((status = 201, description = "Added"), (status = 200, description = "Already in the cart"), (status = 404, description = "Unknown item"), (status = 422, description = "Unpublished, outside its window, or another currency")))]
pub async fn add(
    req: HttpRequest,
    state: web::Data<CartOrder>,
    caller: MaybeCaller,
    body: Json<AddItem>,
) -> Result<HttpResponse, ApiError> {
    let session = session_id(&req)?;
    if caller.0.is_none() && session.is_none() {
        return Err(ApiError::bad_request(
            "session_required",
            "send X-Session-Id or log in to use a cart",
        ));
    }
    let input = body.into_inner();
    let item = state
        .catalog
        .item(input.item_type.as_str(), input.item_id)
        .await
        .map_err(catalog_error)?;
    let price = item.sellable()?.clone();
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    let cart = current_cart(&state, &txn, caller.0.as_ref(), session.as_deref(), true)
        .await?
        .ok_or_else(|| ApiError::internal("no cart after create"))?;
    let cart = storage::lock_cart(&txn, cart.id)
        .await?
        .ok_or_else(|| ApiError::internal("cart vanished"))?;
    if cart.status != "open" {
        return Err(ApiError::conflict(
            "cart_changed",
            "the cart was just checked out; add the item again",
        ));
    }
    let existing = storage::lines(&txn, cart.id).await?;
    if let Some(first) = existing.first()
        && first.currency.trim() != price.currency
    {
        return Err(ApiError::rule(
            "mixed_currency",
            format!(
                "the cart is in {}; `{}` is priced in {}",
                first.currency.trim(),
                item.name,
                price.currency
            ),
        ));
    }
    let added = storage::add_line(&txn, cart.id, &item, &price, now).await?;
    storage::touch_cart(&txn, cart.id, now, now + state.cart_ttl).await?;
    let lines = storage::lines(&txn, cart.id).await?;
    let v = view(
        &txn,
        Some(&cart),
        &lines,
        caller.0.as_ref().map(|c| c.user_id.as_str()),
    )
    .await?;
    txn.commit().await?;
    Ok(if added {
        HttpResponse::Created().json(v)
    } else {
        HttpResponse::Ok().json(v)
    })
}

/// `DELETE /api/v2/cart/items/{id}` (the cart line's id).
#[utoipa::path(delete, path = "/api/v2/cart/items/{id}", tag = "cart", params(("id" = String, Path, description = "The cart line id")), responses((status = 200, description = "The cart"), (status = 404)))]
pub async fn remove(
    req: HttpRequest,
    state: web::Data<CartOrder>,
    caller: MaybeCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let session = session_id(&req)?;
    let line = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::not_found("no such cart item"))?;
    let txn = state.db.begin().await?;
    let cart = current_cart(&state, &txn, caller.0.as_ref(), session.as_deref(), false)
        .await?
        .ok_or_else(|| ApiError::not_found("no such cart item"))?;
    if !storage::remove_line(&txn, cart.id, line).await? {
        return Err(ApiError::not_found("no such cart item"));
    }
    let lines = storage::lines(&txn, cart.id).await?;
    let v = view(
        &txn,
        Some(&cart),
        &lines,
        caller.0.as_ref().map(|c| c.user_id.as_str()),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(v))
}

/// `POST /api/v2/cart/checkout`: re-prices against the catalog (409 with the updated cart when a
/// price moved), refuses owned items, and creates one pending order per cart.
#[utoipa::path(post, path = "/api/v2/cart/checkout", tag = "cart", request_body(content = Object, description = "Empty or `{}`"), params(("Idempotency-Key" = Option<String>, Header)), responses((status = 201, description = "A pending order (completed at once when free)"), (status = 200, description = "The order this cart already became"), (status = 401), (status = 409, description = "price_changed (with the updated `cart`), idempotency_key_in_use"), (status = 422, description = "empty_cart, already_owned, item_unavailable")))]
pub async fn checkout(
    req: HttpRequest,
    state: web::Data<CartOrder>,
    caller: Caller,
    key: MaybeIdempotencyKey,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let session = session_id(&req)?;
    let user = caller.user_id.clone();
    let fp = idempotency::fingerprint(&req, &body);
    if let Some(k) = &key.0
        && let Some(stored) = idempotency::replay(&state.db, &user, k, &fp).await?
    {
        return Ok(stored);
    }
    let txn = state.db.begin().await?;
    let cart = current_cart(&state, &txn, Some(&caller), session.as_deref(), false).await?;
    txn.commit().await?;
    let Some(cart) = cart else {
        // A repeated checkout after the cart became an order answers with that order.
        if let Some(prev) = storage::last_checked_out(&state.db, &user).await?
            && let Some(order_id) = prev.order_id
            && let Some(order) = storage::order(&state.db, order_id).await?
            && order.status == "pending"
        {
            let v = order_logic::views(&state.db, vec![order]).await?;
            return Ok(HttpResponse::Ok().json(&v[0]));
        }
        return Err(ApiError::rule("empty_cart", "the cart is empty"));
    };
    let lines = storage::lines(&state.db, cart.id).await?;
    if lines.is_empty() {
        return Err(ApiError::rule("empty_cart", "the cart is empty"));
    }

    // Re-price every line against the catalog, outside any transaction.
    let fresh = join_all(
        lines
            .iter()
            .map(|l| state.catalog.item(&l.item_type, l.item_id)),
    )
    .await;
    let mut changed = Vec::new();
    for (line, item) in lines.iter().zip(fresh) {
        let item = match item {
            Ok(i) => i,
            Err(InternalError::NotFound) => {
                return Err(ApiError::rule(
                    "item_unavailable",
                    format!("`{}` is no longer sold", line.name),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let price = item.sellable()?.clone();
        if price.amount != line.price_minor || price.currency != line.currency.trim() {
            changed.push((line.id, item, price));
        }
    }
    if !changed.is_empty() {
        let txn = state.db.begin().await?;
        for (id, item, price) in &changed {
            storage::reprice_line(&txn, *id, item, price).await?;
        }
        let lines = storage::lines(&txn, cart.id).await?;
        let v = view(&txn, Some(&cart), &lines, Some(&user)).await?;
        txn.commit().await?;
        return Err(ApiError::conflict(
            "price_changed",
            "prices changed since the items were added; review the cart",
        )
        .with("cart", serde_json::to_value(v).map_err(ApiError::internal)?));
    }
    let snapshot = view(&state.db, Some(&cart), &lines, Some(&user)).await?;
    let owned: Vec<_> = snapshot
        .items
        .iter()
        .filter(|i| i.owned)
        .map(|i| serde_json::json!(i.item_id))
        .collect();
    if !owned.is_empty() {
        return Err(ApiError::rule(
            "already_owned",
            "the cart holds items you already own; remove them",
        )
        .with("items", serde_json::Value::Array(owned)));
    }
    let currency = snapshot.currency.clone().unwrap_or_default();
    if lines.iter().any(|l| l.currency.trim() != currency) {
        return Err(ApiError::rule(
            "mixed_currency",
            "the cart mixes currencies",
        ));
    }
    let rate = if currency == state.settlement.code() {
        rust_decimal::Decimal::ONE
    } else {
        state.catalog.rate(&currency).await?.ok_or_else(|| {
            ApiError::rule(
                "no_exchange_rate",
                format!("no exchange rate for {currency}"),
            )
        })?
    };

    let st = state.clone();
    let resp = idempotency::run(
        &state.db,
        &caller.user_id,
        key.0.as_ref(),
        &fp,
        |txn| async move {
            let now = st.clock.now();
            let cart = storage::lock_cart(&txn, cart.id)
                .await?
                .ok_or_else(|| ApiError::conflict("cart_changed", "the cart changed; retry"))?;
            if cart.status == "checked_out" {
                let order_id = cart
                    .order_id
                    .ok_or_else(|| ApiError::internal("checked-out cart without order"))?;
                let order = storage::order(&txn, order_id)
                    .await?
                    .ok_or_else(|| ApiError::internal("missing order"))?;
                let v = order_logic::views(&txn, vec![order]).await?;
                return Ok((txn, Reply::ok(&v[0])?));
            }
            // A course already waiting in another unpaid order would be bought twice.
        let courses: Vec<uuid::Uuid> = lines.iter().filter_map(|l| l.item().ok()).flat_map(|i| i.course_ids()).collect();
        let pending = storage::pending_orders_with(&txn, &user, &courses).await?;
        if !pending.is_empty() {
            return Err(ApiError::rule(
                "already_ordered",
                format!("pending order {} already holds items of this cart; pay it or wait for it to expire", pending.join(", ")),
            ));
        }
        let current = storage::lines(&txn, cart.id).await?;
            let same = current.len() == lines.len()
                && current
                    .iter()
                    .zip(&lines)
                    .all(|(a, b)| a.id == b.id && a.price_minor == b.price_minor);
            if !same {
                return Err(ApiError::conflict(
                    "cart_changed",
                    "the cart changed during checkout; retry",
                ));
            }
            let subtotal = snapshot.subtotal;
            let settlement_currency = st.settlement;
            let display = kernel::Currency::parse(&currency)
                .map_err(|e| ApiError::rule("unknown_currency", e.to_string()))?;
            let settlement_total =
                order_logic::to_settlement(subtotal, display, settlement_currency, rate)
                    .ok_or_else(|| ApiError::internal("settlement conversion overflow"))?;
            let n = storage::next_order_number(&txn, now.year()).await?;
            let new = storage::NewOrder {
                id: kernel::new_id(),
                number: order_number(now.year(), n),
                user_id: user.clone(),
                cart_id: cart.id,
                currency: currency.clone(),
                subtotal,
                total: subtotal,
                settlement_currency: settlement_currency.code().to_string(),
                settlement_total,
                exchange_rate: rate,
                exchange_rate_at: now,
            };
            let order = storage::insert_order(&txn, &new, now).await?;
            for (pos, line) in current.iter().enumerate() {
                storage::insert_order_item(&txn, order.id, pos as i32, line, &line.item()?).await?;
            }
            storage::check_out_cart(&txn, cart.id, order.id, now).await?;
            let items = storage::order_items(&txn, &[order.id])
                .await?
                .remove(&order.id)
                .unwrap_or_default();
            bus::enqueue(
                &txn,
                NAME,
                subjects::ORDER_CREATED,
                &order_logic::created_event(&order, &items),
            )
            .await?;
            let order = if order.total_minor == 0 {
                // Nothing to pay: the order completes at once.
                order_logic::complete(&txn, &order, &items, None, now).await?;
                storage::order(&txn, order.id)
                    .await?
                    .ok_or_else(|| ApiError::internal("missing order"))?
            } else {
                order
            };
            let v = order_logic::views(&txn, vec![order]).await?;
            Ok((txn, Reply::created(&v[0])?))
        },
    )
    .await?;
    state.outbox.notify_one();
    Ok(resp)
}
