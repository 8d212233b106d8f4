//! Everything cart-order can refuse, with its stable problem code. The mapping to HTTP lives
//! here and nowhere else.

use kernel::IllegalTransition;
use uuid::Uuid;
use web::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum CartOrderError {
    #[error("send X-Session-Id or log in to use a cart")]
    SessionRequired,
    #[error("{0}")]
    InvalidSession(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("the cart is empty")]
    EmptyCart,
    #[error("{0}")]
    CartChanged(&'static str),
    #[error("{0}")]
    ItemUnavailable(String),
    #[error("the cart is in {cart}; `{item}` is priced in {price}")]
    MixedCurrency {
        cart: String,
        item: String,
        price: String,
    },
    #[error("prices changed since the items were added; review the cart")]
    PriceChanged { cart: serde_json::Value },
    #[error("the cart holds items you already own; remove them")]
    AlreadyOwned { items: Vec<Uuid> },
    #[error(
        "pending order {} already holds items of this cart; pay it or wait for it to expire",
        orders.join(", ")
    )]
    AlreadyOrdered { orders: Vec<String> },
    #[error("{0}")]
    UnknownCurrency(String),
    #[error("no exchange rate for {0}")]
    NoExchangeRate(String),
    /// A field that cannot be saved as sent (names the field).
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// Another discount code is already called this (case-insensitively).
    #[error("the discount code `{0}` exists already")]
    CodeTaken(String),
    /// Orders carried the code: it can be deactivated, never deleted.
    #[error("orders carried this code; deactivate it instead (isActive: false)")]
    DiscountInUse,
    /// Tax needs to know where the learner is billed.
    #[error(
        "give a billing address (country; postal code and region in the US, region in Canada) to check out"
    )]
    BillingAddressRequired,
    /// The tax service failed and the deployment is fail-closed.
    #[error("{0}")]
    TaxUnavailable(String),
    /// The discount code does not apply (its own problem code: `discount_*`).
    #[error(transparent)]
    Discount(#[from] super::discount::Refusal),
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    /// Data that must be right is not (a corrupt snapshot, an overflow): never defaulted.
    #[error("{0}")]
    Corrupt(String),
}

impl CartOrderError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> CartOrderError {
        CartOrderError::Invalid {
            field,
            reason: reason.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        use CartOrderError::*;
        match self {
            SessionRequired => "session_required",
            InvalidSession(_) => "invalid_session",
            NotFound(_) => "not_found",
            EmptyCart => "empty_cart",
            CartChanged(_) => "cart_changed",
            ItemUnavailable(_) => "item_unavailable",
            MixedCurrency { .. } => "mixed_currency",
            PriceChanged { .. } => "price_changed",
            AlreadyOwned { .. } => "already_owned",
            AlreadyOrdered { .. } => "already_ordered",
            UnknownCurrency(_) => "unknown_currency",
            NoExchangeRate(_) => "no_exchange_rate",
            Discount(r) => r.code(),
            Invalid { .. } => "validation_failed",
            BillingAddressRequired => "billing_address_required",
            TaxUnavailable(_) => "tax_unavailable",
            CodeTaken(_) => "discount_code_taken",
            DiscountInUse => "discount_in_use",
            Illegal(_) => "illegal_transition",
            Corrupt(_) | Db(_) => "internal",
        }
    }
}

impl From<CartOrderError> for ApiError {
    fn from(e: CartOrderError) -> ApiError {
        use CartOrderError::*;
        let detail = e.to_string();
        let code = e.code();
        match e {
            // Who the cart belongs to is unknown: a login or a session id identifies it.
            SessionRequired => {
                ApiError::new(actix_web::http::StatusCode::UNAUTHORIZED, code, detail)
            }
            InvalidSession(_) => ApiError::bad_request(code, detail),
            NotFound(_) => ApiError::not_found(detail),
            CartChanged(_) | Illegal(_) => ApiError::conflict(code, detail),
            PriceChanged { cart } => ApiError::conflict(code, detail).with("cart", cart),
            AlreadyOwned { items } => ApiError::rule(code, detail).with(
                "items",
                serde_json::Value::Array(items.iter().map(|i| serde_json::json!(i)).collect()),
            ),
            ItemUnavailable(_) => ApiError::rule(code, detail).with_field("itemId"),
            Discount(super::discount::Refusal::NotFound) => {
                ApiError::new(actix_web::http::StatusCode::NOT_FOUND, code, detail)
            }
            Discount(_) => ApiError::rule(code, detail).with_field("code"),
            Invalid { field, .. } => ApiError::rule(code, detail).with_field(field),
            CodeTaken(_) => ApiError::conflict(code, detail).with_field("code"),
            DiscountInUse => ApiError::conflict(code, detail),
            BillingAddressRequired => ApiError::rule(code, detail).with_field("billingAddress"),
            TaxUnavailable(_) => ApiError::unavailable(code, detail),
            EmptyCart
            | MixedCurrency { .. }
            | AlreadyOrdered { .. }
            | UnknownCurrency(_)
            | NoExchangeRate(_) => ApiError::rule(code, detail),
            Corrupt(_) => ApiError::internal(detail),
            Db(e) => e.into(),
        }
    }
}

impl From<super::discount::Invalid> for CartOrderError {
    fn from(i: super::discount::Invalid) -> CartOrderError {
        CartOrderError::invalid(i.field, i.reason)
    }
}

impl From<super::tax::BadAddress> for CartOrderError {
    fn from(b: super::tax::BadAddress) -> CartOrderError {
        CartOrderError::invalid(b.field, b.reason)
    }
}

/// A currency code a request names, or 422 `validation_failed` on `currency`.
pub fn parse_currency(code: &str) -> Result<kernel::Currency, CartOrderError> {
    kernel::Currency::parse(code).map_err(|e| CartOrderError::invalid("currency", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::ResponseError;

    #[test]
    fn each_refusal_has_its_status_and_code() {
        let cases: Vec<(CartOrderError, u16, &str)> = vec![
            (CartOrderError::SessionRequired, 401, "session_required"),
            (CartOrderError::EmptyCart, 422, "empty_cart"),
            (CartOrderError::CartChanged("x"), 409, "cart_changed"),
            (
                CartOrderError::PriceChanged {
                    cart: serde_json::json!({}),
                },
                409,
                "price_changed",
            ),
            (
                CartOrderError::AlreadyOwned { items: vec![] },
                422,
                "already_owned",
            ),
            (
                CartOrderError::NoExchangeRate("EUR".into()),
                422,
                "no_exchange_rate",
            ),
            (CartOrderError::Corrupt("x".into()), 500, "internal"),
            (
                super::super::discount::Refusal::NotFound.into(),
                404,
                "discount_not_found",
            ),
            (
                super::super::discount::Refusal::Exhausted.into(),
                422,
                "discount_exhausted",
            ),
        ];
        for (e, status, code) in cases {
            let api: ApiError = e.into();
            assert_eq!(api.status_code().as_u16(), status);
            assert_eq!(api.code, code);
        }
    }
}
