//! The cart: anonymous (keyed by `X-Session-Id`) or the user's, merged into the user's on their
//! first authenticated request; prices snapshotted from the catalog; checkout.

use crate::domain::checkout::{self, PricedLine};
use crate::domain::display::LineAmounts;
use crate::domain::tax::BillingAddress;
use crate::domain::{CartOrderError, OrderEvent};
use crate::model::*;
use crate::storage::discounts::{self, DiscountRow};
use crate::storage::{self, CartRow, LineRow};
use crate::tax::TaxError;
use crate::views::{self, order_views};
use crate::{CartOrder, NAME};
use ::web::idempotency::{self, MaybeIdempotencyKey};
use ::web::internal::InternalError;
use ::web::{ApiError, Caller, Json, MaybeCaller, Reply};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Datelike;
use events::subjects;
use futures_util::future::join_all;
use kernel::{Currency, Lifecycle, Money, Rate};
use sea_orm::{ConnectionTrait, TransactionTrait};

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
                    Err(CartOrderError::SessionRequired.into())
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

/// `?currency=`
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CartQuery {
    /// Also show the cart in this ISO 4217 currency (converted at the catalog's rate).
    #[param(nullable = false)]
    pub currency: Option<String>,
}

fn display_currency(code: &str) -> Result<Currency, ApiError> {
    Ok(crate::domain::parse_currency(code)?)
}

/// `lines` (in `from`) in the currency `code` names, at the catalog's rate from the settlement
/// currency (the only currency rates are quoted from).
async fn display_figures(
    state: &CartOrder,
    from: Currency,
    code: &str,
    lines: &[LineAmounts],
) -> Result<crate::domain::display::Displayed, ApiError> {
    let to = display_currency(code)?;
    let rate = if to == from {
        Rate::ONE
    } else if from != state.settlement {
        return Err(CartOrderError::NoExchangeRate(format!(
            "{} (rates are quoted from {}; this cart is in {})",
            to.code(),
            state.settlement.code(),
            from.code()
        ))
        .into());
    } else {
        state
            .catalog
            .rate(to.code())
            .await?
            .ok_or_else(|| CartOrderError::NoExchangeRate(to.code().to_string()))?
    };
    crate::domain::display::convert(lines, from, to, rate)
        .map_err(|e| ApiError::internal(format!("display conversion: {e}")))
}

/// The cart's figures in `code`.
async fn display(
    state: &CartOrder,
    v: &views::CartView,
    code: &str,
) -> Result<views::DisplayView, ApiError> {
    let from = match &v.currency {
        Some(c) => Currency::parse(c).map_err(ApiError::internal)?,
        None => state.settlement,
    };
    let lines: Vec<LineAmounts> = v
        .items
        .iter()
        .map(|i| LineAmounts {
            price: i.price,
            discount: i.discount,
            tax: i.tax,
        })
        .collect();
    let d = display_figures(state, from, code, &lines).await?;
    Ok(views::DisplayView {
        currency: d.currency.code().to_string(),
        exchange_rate: d.rate.to_string(),
        lines: d.lines,
        subtotal: d.subtotal,
        discount_amount: d.discount,
        tax: d.tax,
        total: d.total,
    })
}

/// `GET /api/v2/cart`
#[utoipa::path(get, path = "/api/v2/cart", tag = "cart", security((), ("bearer" = [])), params(("X-Session-Id" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,128}$", description = "Anonymous cart key (1 to 128 visible ASCII characters)"), CartQuery), responses((status = 200, body = views::CartView, description = "The cart with subtotal, discount, tax, total and owned flags"), (status = 400, description = "invalid_session"), (status = 401), (status = 422, description = "validation_failed (currency), no_exchange_rate")))]
pub async fn get(
    req: HttpRequest,
    state: web::Data<CartOrder>,
    caller: MaybeCaller,
    q: web::Query<CartQuery>,
) -> Result<HttpResponse, ApiError> {
    let session = session_id(&req)?;
    let txn = state.db.begin().await?;
    let cart = current_cart(&state, &txn, caller.0.as_ref(), session.as_deref(), false).await?;
    let lines = match &cart {
        Some(c) => storage::lines(&txn, c.id).await?,
        None => vec![],
    };
    let mut v = views::cart(
        &txn,
        cart.as_ref(),
        &lines,
        caller.0.as_ref().map(|c| c.user_id.as_str()),
        state.clock.now(),
    )
    .await?;
    txn.commit().await?;
    let user = caller.0.as_ref().map(|c| c.user_id.as_str());
    crate::pricing::estimate_tax(&state, &mut v, &lines, user).await?;
    let code = q
        .currency
        .clone()
        .filter(|c| !c.is_empty())
        .or_else(|| cart.as_ref().and_then(|c| c.display_currency.clone()));
    match code {
        // Asked for now: a currency that cannot be shown is the answer.
        Some(code) if q.currency.is_some() => v.display = Some(display(&state, &v, &code).await?),
        // The cart's setting (a cart merged into one in another currency, a rate removed): the
        // cart is still shown, with the reason its figures cannot be converted.
        Some(code) => match display(&state, &v, &code).await {
            Ok(d) => v.display = Some(d),
            Err(e) if e.status.is_client_error() => {
                v.display_problem = Some(views::CartProblem {
                    code: e.code.to_string(),
                    detail: e.detail.clone(),
                })
            }
            Err(e) => return Err(e),
        },
        None => {}
    }
    Ok(HttpResponse::Ok().json(v))
}

fn catalog_error(e: InternalError) -> ApiError {
    match e {
        InternalError::NotFound => {
            CartOrderError::NotFound("no such item in the catalog".into()).into()
        }
        other => other.into(),
    }
}

/// `POST /api/v2/cart/items`: the price comes from the catalog, never from the request.
#[utoipa::path(post, path = "/api/v2/cart/items", tag = "cart", security((), ("bearer" = [])), request_body(content = AddItem, description = "Any price sent is ignored"), params(("X-Session-Id" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,128}$", description = "Anonymous cart key (1 to 128 visible ASCII characters)")), responses((status = 201, body = views::CartView, description = "Added"), (status = 200, body = views::CartView, description = "Already in the cart"), (status = 400, description = "invalid_body, invalid_session"), (status = 401, description = "session_required: neither a login nor `X-Session-Id`; or a bad token"), (status = 404, description = "Unknown item"), (status = 409, description = "cart_changed, covered_by_subscription (with `subscriptionId`: enroll through it)"), (status = 422, description = "Unpublished, outside its window, another currency, or subscribe_directly (a plan)")))]
pub async fn add(
    req: HttpRequest,
    state: web::Data<CartOrder>,
    caller: MaybeCaller,
    body: Json<AddItem>,
) -> Result<HttpResponse, ApiError> {
    let session = session_id(&req)?;
    if caller.0.is_none() && session.is_none() {
        return Err(CartOrderError::SessionRequired.into());
    }
    let input = body.into_inner();
    let item = state
        .catalog
        .item(input.item_type.as_str(), input.item_id)
        .await
        .map_err(catalog_error)?;
    if item.item_type == "subscription" {
        return Err(ApiError::rule(
            "subscribe_directly",
            "a department plan is subscribed to with POST /api/v2/subscriptions, not bought in a cart",
        )
        .with_field("itemType"));
    }
    let price = checkout::sellable(&item)?.clone();
    let now = state.clock.now();
    let mut txn = state.db.begin().await?;
    // Asked in the transaction the addition needs anyway: only a subscriber's addition costs a
    // call to payment (made with no transaction open).
    if let Some(c) = caller.0.as_ref()
        && !item.courses.is_empty()
        && storage::is_subscriber(&txn, &c.user_id).await?
    {
        txn.rollback().await?;
        covered_check(&state, &c.user_id, &item).await?;
        txn = state.db.begin().await?;
    }
    let cart = current_cart(&state, &txn, caller.0.as_ref(), session.as_deref(), true)
        .await?
        .ok_or_else(|| ApiError::internal("no cart after create"))?;
    let cart = storage::lock_cart(&txn, cart.id)
        .await?
        .ok_or_else(|| ApiError::internal("cart vanished"))?;
    if cart.status != "open" {
        return Err(CartOrderError::CartChanged(
            "the cart was just checked out; add the item again",
        )
        .into());
    }
    let existing = storage::lines(&txn, cart.id).await?;
    if let Some(first) = existing.first()
        && first.currency != price.currency
    {
        return Err(CartOrderError::MixedCurrency {
            cart: first.currency.clone(),
            item: item.name.clone(),
            price: price.currency.clone(),
        }
        .into());
    }
    let added = storage::add_line(&txn, cart.id, &item, &price, now).await?;
    storage::touch_cart(&txn, cart.id, now, now + state.cart_ttl).await?;
    let (added, lines) = match added {
        Some(line) => (true, storage::with_line(existing, line)),
        None => (false, existing),
    };
    let mut v = views::cart(
        &txn,
        Some(&cart),
        &lines,
        caller.0.as_ref().map(|c| c.user_id.as_str()),
        state.clock.now(),
    )
    .await?;
    txn.commit().await?;
    let user = caller.0.as_ref().map(|c| c.user_id.as_str());
    crate::pricing::estimate_tax(&state, &mut v, &lines, user).await?;
    Ok(if added {
        HttpResponse::Created().json(v)
    } else {
        HttpResponse::Ok().json(v)
    })
}

/// CART-008: a course (or a program whose every course) a subscription of the learner already
/// gives access to is not sold again.
async fn covered_check(state: &CartOrder, user: &str, item: &CatalogItem) -> Result<(), ApiError> {
    let courses = item.course_ids();
    if courses.is_empty() {
        return Ok(());
    }
    let coverage: contracts::subscriptions::Coverage = state
        .catalog
        .client
        .get_json(
            "payment",
            &format!(
                "{}{}",
                state.payment_base,
                contracts::subscriptions::coverage_path(user, &courses)
            ),
        )
        .await?;
    let through = courses
        .iter()
        .map(|c| coverage.items.iter().find(|x| x.course_id == *c))
        .collect::<Option<Vec<_>>>();
    if let Some(through) = through {
        return Err(ApiError::conflict(
            "covered_by_subscription",
            format!(
                "`{}` is already yours through a subscription: enroll through it instead",
                item.name
            ),
        )
        .with(
            "subscriptionId",
            serde_json::json!(through.first().map(|c| c.subscription_id)),
        ));
    }
    Ok(())
}

/// `DELETE /api/v2/cart/items/{id}` (the cart line's id).
#[utoipa::path(delete, path = "/api/v2/cart/items/{id}", tag = "cart", security((), ("bearer" = [])), params(("X-Session-Id" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,128}$", description = "Anonymous cart key (1 to 128 visible ASCII characters)"), ("id" = uuid::Uuid, Path, description = "The cart line id")), responses((status = 200, body = views::CartView, description = "The cart"), (status = 401, description = "A bad token"), (status = 404, description = "No such line in the caller's cart")))]
pub async fn remove(
    req: HttpRequest,
    state: web::Data<CartOrder>,
    caller: MaybeCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let session = session_id(&req)?;
    let line = uuid::Uuid::parse_str(&id)
        .map_err(|_| CartOrderError::NotFound("no such cart item".into()))?;
    let txn = state.db.begin().await?;
    let cart = current_cart(&state, &txn, caller.0.as_ref(), session.as_deref(), false)
        .await?
        .ok_or_else(|| ApiError::not_found("no such cart item"))?;
    if !storage::remove_line(&txn, cart.id, line).await? {
        return Err(ApiError::not_found("no such cart item"));
    }
    let lines = storage::lines(&txn, cart.id).await?;
    let mut v = views::cart(
        &txn,
        Some(&cart),
        &lines,
        caller.0.as_ref().map(|c| c.user_id.as_str()),
        state.clock.now(),
    )
    .await?;
    txn.commit().await?;
    let user = caller.0.as_ref().map(|c| c.user_id.as_str());
    crate::pricing::estimate_tax(&state, &mut v, &lines, user).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// The checkout's body: empty, `{}`, or the billing address to quote tax for (it becomes the
/// cart's).
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckoutBody {
    #[serde(default)]
    pub billing_address: Option<BillingAddress>,
    /// Pay in this currency (ISO 4217) instead of the cart's; becomes the cart's setting.
    #[serde(default)]
    pub currency: Option<String>,
}

fn checkout_body(body: &[u8]) -> Result<CheckoutBody, ApiError> {
    let Some(b) = ::web::json::parse_optional::<CheckoutBody>(body)? else {
        return Ok(CheckoutBody::default());
    };
    if let Some(a) = &b.billing_address {
        valid_address(a)?;
    }
    let currency = match &b.currency {
        Some(c) => Some(display_currency(c)?.code().to_string()),
        None => None,
    };
    Ok(CheckoutBody { currency, ..b })
}

fn valid_address(a: &BillingAddress) -> Result<(), ApiError> {
    Ok(a.validate().map_err(CartOrderError::from)?)
}

/// `POST /api/v2/cart/checkout`: re-prices against the catalog (409 with the updated cart when a
/// price moved), refuses owned items, decides the discount, quotes tax once and freezes it, and
/// creates one pending order per cart.
#[utoipa::path(post, path = "/api/v2/cart/checkout", tag = "cart", security(("bearer" = [])), request_body(content = Option<CheckoutBody>, description = "Empty, `{}`, or `{billingAddress, currency}`"), params(("X-Session-Id" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,128}$", description = "Anonymous cart key (1 to 128 visible ASCII characters)"), ("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,255}$", description = "Makes a retry safe: the same key and request answer the first answer again (1 to 255 visible ASCII characters)")), responses((status = 201, body = crate::views::OrderView, description = "A pending order (completed at once when free)"), (status = 200, body = crate::views::OrderView, description = "The order this cart already became"), (status = 400, description = "invalid_idempotency_key, invalid_session"), (status = 401), (status = 409, description = "price_changed (with the updated `cart`), idempotency_key_in_use"), (status = 422, description = "empty_cart, already_owned, already_ordered, item_unavailable, mixed_currency, no_exchange_rate, idempotency_key_reused, billing_address_required, validation_failed (the address), discount_* (the applied code no longer applies)"), (status = 404, description = "discount_not_found: the applied code is gone"), (status = 429), (status = 503, description = "database_unavailable, the catalog unreachable, tax_unavailable (retry)")))]
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
    let input = checkout_body(&body)?;
    // Only a merge of an anonymous cart or a change the body asks for needs a transaction; the
    // plain checkout reads its cart (and locks it later, in the order's own transaction).
    let cart = if session.is_none() && input.billing_address.is_none() && input.currency.is_none() {
        current_cart(&state, &state.db, Some(&caller), None, false).await?
    } else {
        let txn = state.db.begin().await?;
        let cart = current_cart(&state, &txn, Some(&caller), session.as_deref(), false).await?;
        if let (Some(c), Some(a)) = (&cart, &input.billing_address) {
            storage::set_billing_address(&txn, c.id, a, state.clock.now()).await?;
        }
        if let (Some(c), Some(code)) = (&cart, &input.currency) {
            storage::set_display_currency(&txn, c.id, Some(code), state.clock.now()).await?;
        }
        txn.commit().await?;
        cart
    };
    let Some(mut cart) = cart else {
        return repeated_checkout(&state, &user).await;
    };
    if let Some(a) = &input.billing_address {
        cart.billing_address = Some(serde_json::to_value(a).map_err(ApiError::internal)?);
    }
    if input.currency.is_some() {
        cart.display_currency = input.currency.clone();
    }
    let lines = storage::lines(&state.db, cart.id).await?;
    if lines.is_empty() {
        return Err(CartOrderError::EmptyCart.into());
    }
    let priced = priced_lines(&lines)?;

    // 1. Re-price every line against the catalog, outside any transaction.
    let fresh = fetch_items(&state, &lines).await?;
    let changed = checkout::reprice(&priced, fresh)?;
    if !changed.is_empty() {
        let txn = state.db.begin().await?;
        for c in &changed {
            storage::reprice_line(&txn, c.line, &c.item, &c.price).await?;
        }
        let lines = storage::lines(&txn, cart.id).await?;
        let v = views::cart(&txn, Some(&cart), &lines, Some(&user), state.clock.now()).await?;
        txn.commit().await?;
        let cart = serde_json::to_value(v).map_err(ApiError::internal)?;
        return Err(CartOrderError::PriceChanged { cart }.into());
    }
    // 2. Nothing the learner already owns.
    let now = state.clock.now();
    let owned = views::owned_items(&state.db, &lines, &user).await?;
    if !owned.is_empty() {
        return Err(CartOrderError::AlreadyOwned { items: owned }.into());
    }
    // 3. The order's money, at the rate of the moment (ADR-0003).
    let currency = checkout::cart_currency(&priced)?;
    let rate = if checkout::needs_rate(currency, state.settlement) {
        state
            .catalog
            .rate(currency.code())
            .await?
            .ok_or_else(|| CartOrderError::NoExchangeRate(currency.code().to_string()))?
    } else {
        Rate::ONE
    };
    // 4. The discount code, decided now as the cart showed it: one that no longer applies
    //    refuses the checkout with its reason (the learner removes it or fixes the cart).
    let discount = crate::pricing::cart_discount(
        &state.db,
        &cart,
        &lines,
        Some(&user),
        crate::pricing::Limits::AtReservation,
        now,
    )
    .await?;
    let applied = match &discount {
        Some(d) => Some(d.outcome.clone().map_err(CartOrderError::from)?),
        None => None,
    };
    let plan = checkout::plan(
        &priced,
        applied.as_ref().map(|a| a.per_line.as_slice()),
        state.settlement,
        rate,
    )?;
    let discount = discount.map(|d| d.row);
    // 5. Tax, quoted once where the learner is billed (outside any transaction) and frozen on
    //    the order: a retry with the same Idempotency-Key is answered before this point.
    let address = cart.address()?;
    let (plan, taxed) = match (&address, state.tax.needs_address()) {
        (None, true) => return Err(CartOrderError::BillingAddressRequired.into()),
        (None, false) => (plan, None),
        (Some(a), needed) => {
            let ex = if needed {
                crate::pricing::exemptions(
                    &state.db,
                    Some(&user),
                    &crate::pricing::departments(&lines)?,
                    a,
                    now,
                )
                .await?
            } else {
                crate::pricing::Exemptions::default()
            };
            let req =
                crate::pricing::tax_request(currency, a, &lines, &plan.line_discounts, &ex, &user)?;
            let quote = state
                .tax
                .quote(&state.db, &req)
                .await
                .map_err(|e| match e {
                    TaxError::Unavailable(m) => ApiError::from(CartOrderError::TaxUnavailable(m)),
                    other => ApiError::internal(other),
                })?;
            let used = ex.used();
            let plan = plan.with_tax(quote.per_line)?;
            (
                plan,
                Some(storage::Taxed {
                    source: quote.source.as_str(),
                    address: serde_json::to_value(a).map_err(ApiError::internal)?,
                    exemptions: used,
                }),
            )
        }
    };

    // 6. A display currency (ADR-003): the lines converted at the catalog's rate and the quote
    //    locked on the order until it expires.
    let display_code = input
        .currency
        .clone()
        .or_else(|| cart.display_currency.clone());
    let plan = match display_code.as_deref().filter(|c| !c.is_empty()) {
        Some(code) if code != currency.code() => {
            let shown = display_figures(&state, currency, code, &plan.lines()).await?;
            plan.in_display(shown, now + state.quote_ttl)?
        }
        _ => plan,
    };

    // 7. Persist: one transaction, under the cart's row lock.
    let st = state.clone();
    let resp = idempotency::run(
        &state.db,
        &caller.user_id,
        key.0.as_ref(),
        &fp,
        |txn| async move {
            let contact = Contact {
                email: caller.email.clone(),
                name: caller.name.clone(),
            };
            let priced = Priced {
                lines: &lines,
                discount: discount.as_ref(),
                taxed,
                plan,
            };
            let reply = place_order(&st, &txn, &user, &contact, cart.id, priced).await?;
            Ok((txn, reply))
        },
    )
    .await?;
    state.outbox.notify_one();
    Ok(resp)
}

/// A repeated checkout after the cart became an order answers with that order.
async fn repeated_checkout(state: &CartOrder, user: &str) -> Result<HttpResponse, ApiError> {
    if let Some(prev) = storage::last_checked_out(&state.db, user).await?
        && let Some(order_id) = prev.order_id
        && let Some(order) = storage::order(&state.db, order_id).await?
        && order.status == crate::domain::OrderStatus::Pending.as_str()
    {
        let v = order_views(&state.db, vec![order]).await?;
        return Ok(HttpResponse::Ok().json(&v[0]));
    }
    Err(CartOrderError::EmptyCart.into())
}

fn priced_lines(lines: &[LineRow]) -> Result<Vec<PricedLine>, CartOrderError> {
    lines
        .iter()
        .map(|l| {
            let currency = Currency::parse(&l.currency)
                .map_err(|e| CartOrderError::Corrupt(format!("cart line {}: {e}", l.id)))?;
            Ok(PricedLine {
                id: l.id,
                name: l.name.clone(),
                price: Money::new(l.price_minor, currency),
            })
        })
        .collect()
}

/// The catalog's answer for every line, concurrently; `None` for an item no longer sold.
async fn fetch_items(
    state: &CartOrder,
    lines: &[LineRow],
) -> Result<Vec<Option<CatalogItem>>, ApiError> {
    join_all(
        lines
            .iter()
            .map(|l| state.catalog.item(&l.item_type, l.item_id)),
    )
    .await
    .into_iter()
    .map(|r| match r {
        Ok(i) => Ok(Some(i)),
        Err(InternalError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    })
    .collect()
}

/// Writes the order the plan describes, unless the cart moved meanwhile: the cart row is
/// locked, its lines must be those that were priced, and no other unpaid order may hold them.
/// Where the learner is told about the order: the token's `email` and `name` claims.
struct Contact {
    email: Option<String>,
    name: Option<String>,
}

/// What checkout priced: the cart's lines, its code, and the order's money.
struct Priced<'a> {
    lines: &'a [LineRow],
    discount: Option<&'a DiscountRow>,
    /// How tax was decided (none when no address was needed or given).
    taxed: Option<storage::Taxed>,
    plan: checkout::OrderPlan,
}

async fn place_order(
    st: &CartOrder,
    txn: &sea_orm::DatabaseTransaction,
    user: &str,
    contact: &Contact,
    cart_id: uuid::Uuid,
    Priced {
        lines: priced,
        discount,
        taxed,
        plan,
    }: Priced<'_>,
) -> Result<Reply, ApiError> {
    let now = st.clock.now();
    let cart = storage::lock_cart(txn, cart_id)
        .await?
        .ok_or(CartOrderError::CartChanged("the cart changed; retry"))?;
    if cart.status == "checked_out" {
        let order_id = cart
            .order_id
            .ok_or_else(|| CartOrderError::Corrupt("checked-out cart without order".into()))?;
        let order = storage::order(txn, order_id)
            .await?
            .ok_or_else(|| CartOrderError::Corrupt(format!("missing order {order_id}")))?;
        let v = order_views(txn, vec![order]).await?;
        return Reply::ok(&v[0]);
    }
    // A course already waiting in another unpaid order would be bought twice.
    let courses: Vec<uuid::Uuid> = priced
        .iter()
        .map(|l| l.item())
        .collect::<Result<Vec<_>, _>>()?
        .iter()
        .flat_map(|i| i.course_ids())
        .collect();
    let pending = storage::pending_orders_with(txn, user, &courses).await?;
    if !pending.is_empty() {
        return Err(CartOrderError::AlreadyOrdered { orders: pending }.into());
    }
    let current = storage::lines(txn, cart.id).await?;
    let same = current.len() == priced.len()
        && current
            .iter()
            .zip(priced)
            .all(|(a, b)| a.id == b.id && a.price_minor == b.price_minor);
    let address = taxed.as_ref().map(|t| &t.address);
    if !same
        || cart.discount_id != discount.map(|d| d.id)
        || cart.billing_address.as_ref() != address
    {
        return Err(CartOrderError::CartChanged("the cart changed during checkout; retry").into());
    }
    let n = storage::next_order_number(txn, now.year()).await?;
    let new = storage::NewOrder {
        id: kernel::new_id(),
        number: order_number(now.year(), n),
        user_id: user.to_string(),
        cart_id: cart.id,
        currency: plan.total.currency().code().to_string(),
        quote: plan.quote_expires_at.map(|at| (at, "catalog")),
        subtotal: plan.subtotal.amount_minor(),
        discount: discount.map(|d| (d.id, d.code.clone(), plan.discount.amount_minor())),
        tax: plan.tax.amount_minor(),
        taxed,
        total: plan.total.amount_minor(),
        settlement_currency: plan.settlement_total.currency().code().to_string(),
        settlement_total: plan.settlement_total.amount_minor(),
        exchange_rate: plan.rate.value(),
        exchange_rate_at: now,
        customer_email: contact.email.clone(),
        customer_name: contact.name.clone(),
        source: None,
    };
    let order = storage::insert_order(txn, &new, now).await?;
    let amounts = plan.lines();
    let mut items = Vec::with_capacity(current.len());
    for (pos, (line, a)) in current.iter().zip(&amounts).enumerate() {
        let money = storage::LineMoney {
            amounts: *a,
            settlement: plan
                .settlement_lines
                .as_ref()
                .and_then(|s| s.get(pos).copied()),
        };
        let pos = i32::try_from(pos).map_err(ApiError::internal)?;
        items.push(
            storage::insert_order_item(txn, order.id, pos, line, money, &line.item()?).await?,
        );
    }
    storage::check_out_cart(txn, cart.id, order.id, now).await?;
    // Last before the outbox, so the code's counter row is held for as short a time as can be.
    if let Some(d) = discount {
        discounts::reserve(
            txn,
            d.id,
            order.id,
            user,
            plan.discount.amount_minor(),
            plan.discount.currency().code(),
            now,
        )
        .await?
        .map_err(CartOrderError::from)?;
    }
    let created = crate::events::order_created(&order, &items)?;
    bus::enqueue(txn, NAME, subjects::ORDER_CREATED, &created).await?;
    let order = if plan.total.amount_minor() == 0 {
        // Nothing to pay: the order completes at once.
        storage::complete(txn, &order, &items, OrderEvent::NothingToPay, None, now).await?;
        storage::order(txn, order.id)
            .await?
            .ok_or_else(|| CartOrderError::Corrupt(format!("missing order {}", order.id)))?
    } else {
        order
    };
    Reply::created(&views::order_view(order, &items)?)
}

/// `{"code": "SUMMER26"}`
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplyDiscount {
    /// The code as the learner typed it (case does not matter).
    pub code: String,
}

/// `POST /api/v2/cart/discount`: applies a code to the cart when it applies to it now; a refusal
/// names its reason and changes nothing.
#[utoipa::path(post, path = "/api/v2/cart/discount", tag = "cart", security((), ("bearer" = [])), request_body = ApplyDiscount,
    params(("X-Session-Id" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,128}$", description = "Anonymous cart key (1 to 128 visible ASCII characters)")),
    responses((status = 200, body = views::CartView, description = "The cart with the code applied"),
        (status = 400, description = "invalid_body, invalid_session"), (status = 401),
        (status = 404, description = "discount_not_found: no such code (or none for this cart's departments)"),
        (status = 422, description = "empty_cart, discount_inactive, discount_not_yet_valid, discount_expired, discount_exhausted, discount_already_used, discount_below_minimum, discount_not_applicable")))]
pub async fn apply_discount(
    req: HttpRequest,
    state: web::Data<CartOrder>,
    caller: MaybeCaller,
    body: Json<ApplyDiscount>,
) -> Result<HttpResponse, ApiError> {
    let session = session_id(&req)?;
    let code = body.into_inner().code;
    let user = caller.0.as_ref().map(|c| c.user_id.as_str());
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    let cart = current_cart(&state, &txn, caller.0.as_ref(), session.as_deref(), false)
        .await?
        .ok_or(CartOrderError::EmptyCart)?;
    let cart = storage::lock_cart(&txn, cart.id)
        .await?
        .filter(|c| c.status == "open")
        .ok_or(CartOrderError::CartChanged("the cart was just checked out"))?;
    let lines = storage::lines(&txn, cart.id).await?;
    if lines.is_empty() {
        return Err(CartOrderError::EmptyCart.into());
    }
    let row = discounts::discount_by_code(&txn, &code)
        .await?
        .ok_or(crate::domain::discount::Refusal::NotFound)
        .map_err(CartOrderError::from)?;
    crate::pricing::evaluate(&txn, &row, &lines, user, crate::pricing::Limits::Read, now)
        .await?
        .map_err(CartOrderError::from)?;
    storage::set_cart_discount(&txn, cart.id, Some(row.id), now).await?;
    let cart = CartRow {
        discount_id: Some(row.id),
        ..cart
    };
    let mut v = views::cart(&txn, Some(&cart), &lines, user, now).await?;
    txn.commit().await?;
    crate::pricing::estimate_tax(&state, &mut v, &lines, user).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// `DELETE /api/v2/cart/discount`: removes the cart's code (nothing to remove is not an error).
#[utoipa::path(delete, path = "/api/v2/cart/discount", tag = "cart", security((), ("bearer" = [])),
    params(("X-Session-Id" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,128}$", description = "Anonymous cart key (1 to 128 visible ASCII characters)")),
    responses((status = 200, body = views::CartView, description = "The cart without a code"),
        (status = 400, description = "invalid_session"), (status = 401)))]
pub async fn remove_discount(
    req: HttpRequest,
    state: web::Data<CartOrder>,
    caller: MaybeCaller,
) -> Result<HttpResponse, ApiError> {
    let session = session_id(&req)?;
    let user = caller.0.as_ref().map(|c| c.user_id.as_str());
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    let cart = current_cart(&state, &txn, caller.0.as_ref(), session.as_deref(), false).await?;
    let cart = match cart {
        Some(c) => {
            storage::set_cart_discount(&txn, c.id, None, now).await?;
            Some(CartRow {
                discount_id: None,
                ..c
            })
        }
        None => None,
    };
    let lines = match &cart {
        Some(c) => storage::lines(&txn, c.id).await?,
        None => vec![],
    };
    let mut v = views::cart(&txn, cart.as_ref(), &lines, user, now).await?;
    txn.commit().await?;
    crate::pricing::estimate_tax(&state, &mut v, &lines, user).await?;
    Ok(HttpResponse::Ok().json(v))
}

/// `PUT /api/v2/cart/billing-address`: where the learner is billed; the cart then shows a tax
/// estimate.
#[utoipa::path(put, path = "/api/v2/cart/billing-address", tag = "cart", security((), ("bearer" = [])), request_body = BillingAddress,
    params(("X-Session-Id" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,128}$", description = "Anonymous cart key (1 to 128 visible ASCII characters)")),
    responses((status = 200, body = views::CartView, description = "The cart with its tax estimate"),
        (status = 400, description = "invalid_body, invalid_session"), (status = 401, description = "session_required: neither a login nor `X-Session-Id`; or a bad token"),
        (status = 422, description = "validation_failed (names the field: billingAddress.country, .postalCode, .region)")))]
pub async fn set_billing_address(
    req: HttpRequest,
    state: web::Data<CartOrder>,
    caller: MaybeCaller,
    body: Json<BillingAddress>,
) -> Result<HttpResponse, ApiError> {
    let address = body.into_inner();
    valid_address(&address)?;
    set(&req, &state, &caller, Setting::BillingAddress(address)).await
}

/// A cart setting the learner changes.
enum Setting {
    BillingAddress(BillingAddress),
    /// `None`: the cart's own currency.
    Currency(Option<String>),
}

/// Saves a checked `setting` on the caller's cart (made when missing) and answers the cart as it
/// now looks: its tax estimate, and its figures in its display currency.
async fn set(
    req: &HttpRequest,
    state: &CartOrder,
    caller: &MaybeCaller,
    setting: Setting,
) -> Result<HttpResponse, ApiError> {
    let session = session_id(req)?;
    if caller.0.is_none() && session.is_none() {
        return Err(CartOrderError::SessionRequired.into());
    }
    let user = caller.0.as_ref().map(|c| c.user_id.as_str());
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    let mut cart = current_cart(state, &txn, caller.0.as_ref(), session.as_deref(), true)
        .await?
        .ok_or_else(|| ApiError::internal("no cart after create"))?;
    match &setting {
        Setting::BillingAddress(a) => {
            storage::set_billing_address(&txn, cart.id, a, now).await?;
            cart.billing_address = Some(serde_json::to_value(a).map_err(ApiError::internal)?);
        }
        Setting::Currency(c) => {
            storage::set_display_currency(&txn, cart.id, c.as_deref(), now).await?;
            cart.display_currency = c.clone();
        }
    }
    let lines = storage::lines(&txn, cart.id).await?;
    if let (Setting::Currency(Some(code)), Some(first)) = (&setting, lines.first())
        && first.currency != state.settlement.code()
        && *code != first.currency
    {
        // Rates are quoted from the settlement currency only (nothing is saved: no commit).
        return Err(CartOrderError::NoExchangeRate(format!(
            "{code}: this cart is in {}, and rates are quoted from {}",
            first.currency,
            state.settlement.code()
        ))
        .into());
    }
    let mut v = views::cart(&txn, Some(&cart), &lines, user, now).await?;
    txn.commit().await?;
    crate::pricing::estimate_tax(state, &mut v, &lines, user).await?;
    if let Some(code) = &cart.display_currency {
        v.display = Some(display(state, &v, code).await?);
    }
    Ok(HttpResponse::Ok().json(v))
}

/// `{"currency": "EUR"}` (`null`: the cart's own currency).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetCurrency {
    pub currency: Option<String>,
}

/// `PUT /api/v2/cart/currency`: the currency the cart is shown in and checkout charges.
#[utoipa::path(put, path = "/api/v2/cart/currency", tag = "cart", security((), ("bearer" = [])), request_body = SetCurrency,
    params(("X-Session-Id" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,128}$", description = "Anonymous cart key (1 to 128 visible ASCII characters)")),
    responses((status = 200, body = views::CartView, description = "The cart with its figures in the currency"),
        (status = 400, description = "invalid_body, invalid_session"), (status = 401, description = "session_required: neither a login nor `X-Session-Id`; or a bad token"),
        (status = 422, description = "validation_failed (currency), no_exchange_rate")))]
pub async fn set_currency(
    req: HttpRequest,
    state: web::Data<CartOrder>,
    caller: MaybeCaller,
    body: Json<SetCurrency>,
) -> Result<HttpResponse, ApiError> {
    let code = match body.into_inner().currency.filter(|c| !c.is_empty()) {
        Some(c) => {
            let code = display_currency(&c)?.code().to_string();
            // Refused before anything is saved: a currency without a rate.
            display_figures(&state, state.settlement, &code, &[]).await?;
            Some(code)
        }
        None => None,
    };
    set(&req, &state, &caller, Setting::Currency(code)).await
}
