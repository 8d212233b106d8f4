//! HTTP routes of cart-order: the cart and checkout, orders (own and admin), and the internal
//! order lookup used by payment.

pub mod cart;
pub mod discounts;
pub mod orders;
pub mod refund_requests;
pub mod tax;

use crate::CartOrder;
use ::web::{ApiError, Caller, Role};
use actix_web::web;

/// 403 unless the caller administers `department` as a dept-admin (every department, `None`:
/// billing-admins only). Discount codes and tax rates belong to a department or to all.
pub(crate) fn may_manage(caller: &Caller, department: Option<&str>) -> Result<(), ApiError> {
    match department {
        Some(d) => caller.require_department(Role::DeptAdmin, d),
        None => caller.require_any(&[Role::BillingAdmin]),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<CartOrder>) {
    cfg.app_data(state)
        .route("/api/v2/cart", web::get().to(cart::get))
        .route("/api/v2/cart/items", web::post().to(cart::add))
        .route("/api/v2/cart/items/{id}", web::delete().to(cart::remove))
        .route("/api/v2/cart/checkout", web::post().to(cart::checkout))
        .route(
            "/api/v2/cart/discount",
            web::post().to(cart::apply_discount),
        )
        .route(
            "/api/v2/cart/discount",
            web::delete().to(cart::remove_discount),
        )
        .route("/api/v2/cart/currency", web::put().to(cart::set_currency))
        .route(
            "/api/v2/cart/billing-address",
            web::put().to(cart::set_billing_address),
        )
        .route("/api/v2/admin/tax-rates", web::get().to(tax::list_rates))
        .route("/api/v2/admin/tax-rates", web::post().to(tax::create_rate))
        .route(
            "/api/v2/admin/tax-rates/{id}",
            web::put().to(tax::update_rate),
        )
        .route(
            "/api/v2/admin/tax-rates/{id}",
            web::delete().to(tax::delete_rate),
        )
        .route("/api/v2/tax-exemptions", web::get().to(tax::own_exemptions))
        .route(
            "/api/v2/tax-exemptions",
            web::post().to(tax::submit_exemption),
        )
        .route(
            "/api/v2/admin/tax-exemptions",
            web::get().to(tax::admin_exemptions),
        )
        .route(
            "/api/v2/admin/tax-exemptions/{id}/approve",
            web::post().to(tax::approve_exemption),
        )
        .route(
            "/api/v2/admin/tax-exemptions/{id}/reject",
            web::post().to(tax::reject_exemption),
        )
        .route("/api/v2/admin/discounts", web::get().to(discounts::list))
        .route("/api/v2/admin/discounts", web::post().to(discounts::create))
        .route(
            "/api/v2/admin/discounts/{id}",
            web::get().to(discounts::get),
        )
        .route(
            "/api/v2/admin/discounts/{id}",
            web::patch().to(discounts::update),
        )
        .route(
            "/api/v2/admin/discounts/{id}",
            web::delete().to(discounts::delete),
        )
        .route("/api/v2/orders", web::get().to(orders::list_own))
        .route("/api/v2/orders/{id}", web::get().to(orders::get_own))
        .route(
            "/api/v2/orders/{id}/refund-requests",
            web::post().to(refund_requests::request),
        )
        .route("/api/v2/admin/orders", web::get().to(orders::admin_list))
        .route(
            "/api/v2/admin/orders/{id}",
            web::get().to(orders::admin_get),
        )
        .route(
            "/internal/v1/orders/{id}",
            web::get().to(orders::internal_get),
        )
        .route(
            contracts::orders::SUBSCRIPTION_ORDERS_PATH,
            web::post().to(orders::internal_subscription_order),
        )
        .route(
            "/internal/v1/orders/{id}/requote",
            web::post().to(orders::internal_requote),
        );
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Cadence Commerce — cart and orders", version = "2"),
    paths(
        cart::get, cart::add, cart::remove, cart::checkout, cart::apply_discount, cart::remove_discount,
        discounts::list, discounts::create, discounts::get, discounts::update, discounts::delete,
        cart::set_billing_address, cart::set_currency, tax::list_rates, tax::create_rate, tax::update_rate, tax::delete_rate,
        tax::own_exemptions, tax::submit_exemption, tax::admin_exemptions, tax::approve_exemption,
        tax::reject_exemption,
        orders::list_own, orders::get_own, orders::admin_list, orders::admin_get,
        refund_requests::request,
    ),
    components(schemas(refund_requests::RefundRequestBody, crate::model::AddItem, crate::model::ItemType,
        cart::ApplyDiscount, crate::views::CartView, crate::views::CartLineView, crate::views::CartProblem,
        discounts::NewDiscount, discounts::DiscountPatch, discounts::DiscountType, discounts::ApplicableTo,
        crate::views::DiscountView, crate::views::DiscountPage, crate::views::DisplayView, cart::SetCurrency,
        crate::domain::display::LineAmounts, cart::CheckoutBody,
        crate::domain::tax::BillingAddress, tax::NewRate, tax::RateUpdate, tax::RateView, tax::RatePage,
        tax::NewExemption, tax::ExemptionType, tax::Review, tax::ExemptionView, tax::ExemptionPage)),
    tags((name = "cart", description = "Carts and checkout"), (name = "orders", description = "Orders"),
        (name = "discounts", description = "Discount codes (admins)"),
        (name = "tax", description = "Manual tax rates and tax exemptions"))
)]
struct CartOrderApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    <CartOrderApi as utoipa::OpenApi>::openapi()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_names_the_shapes_it_answers_with() {
        let doc = serde_json::to_value(super::openapi()).unwrap_or_default();
        let schemas = &doc["components"]["schemas"];
        for name in [
            "CartView",
            "DiscountView",
            "DiscountPage",
            "ExemptionView",
            "RateView",
        ] {
            assert!(schemas.get(name).is_some(), "{name} missing");
        }
        let page = serde_json::to_string(&schemas["DiscountPage"]).unwrap_or_default();
        assert!(page.contains("#/components/schemas/DiscountView"), "{page}");
    }
}
