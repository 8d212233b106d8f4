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
    // One resource per path, so a known path with another method answers 405 with `Allow`.
    cfg.app_data(state)
        .service(web::resource("/api/v2/cart").get(cart::get))
        .service(web::resource("/api/v2/cart/items").post(cart::add))
        .service(web::resource("/api/v2/cart/items/{id}").delete(cart::remove))
        .service(web::resource("/api/v2/cart/checkout").post(cart::checkout))
        .service(
            web::resource("/api/v2/cart/discount")
                .post(cart::apply_discount)
                .delete(cart::remove_discount),
        )
        .service(web::resource("/api/v2/cart/currency").put(cart::set_currency))
        .service(web::resource("/api/v2/cart/billing-address").put(cart::set_billing_address))
        .service(
            web::resource("/api/v2/admin/tax-rates")
                .get(tax::list_rates)
                .post(tax::create_rate),
        )
        .service(
            web::resource("/api/v2/admin/tax-rates/{id}")
                .put(tax::update_rate)
                .delete(tax::delete_rate),
        )
        .service(
            web::resource("/api/v2/tax-exemptions")
                .get(tax::own_exemptions)
                .post(tax::submit_exemption),
        )
        .service(web::resource("/api/v2/admin/tax-exemptions").get(tax::admin_exemptions))
        .service(
            web::resource("/api/v2/admin/tax-exemptions/{id}/approve").post(tax::approve_exemption),
        )
        .service(
            web::resource("/api/v2/admin/tax-exemptions/{id}/reject").post(tax::reject_exemption),
        )
        .service(
            web::resource("/api/v2/admin/discounts")
                .get(discounts::list)
                .post(discounts::create),
        )
        .service(
            web::resource("/api/v2/admin/discounts/{id}")
                .get(discounts::get)
                .patch(discounts::update)
                .delete(discounts::delete),
        )
        .service(web::resource("/api/v2/orders").get(orders::list_own))
        .service(web::resource("/api/v2/orders/{id}").get(orders::get_own))
        .service(
            web::resource("/api/v2/orders/{id}/refund-requests").post(refund_requests::request),
        )
        .service(web::resource("/api/v2/admin/orders").get(orders::admin_list))
        .service(web::resource("/api/v2/admin/orders/{id}").get(orders::admin_get))
        .service(web::resource("/internal/v1/orders/{id}").get(orders::internal_get))
        .service(
            web::resource(contracts::orders::SUBSCRIPTION_ORDERS_PATH)
                .post(orders::internal_subscription_order),
        )
        .service(web::resource("/internal/v1/orders/{id}/requote").post(orders::internal_requote));
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
