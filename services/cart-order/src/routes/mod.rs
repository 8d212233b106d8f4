//! HTTP routes of cart-order: the cart and checkout, orders (own and admin), and the internal
//! order lookup used by payment.

pub mod cart;
pub mod discounts;
pub mod orders;
pub mod refund_requests;

use crate::CartOrder;
use actix_web::web;

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
        );
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Cadence Commerce — cart and orders", version = "2"),
    paths(
        cart::get, cart::add, cart::remove, cart::checkout, cart::apply_discount, cart::remove_discount,
        discounts::list, discounts::create, discounts::get, discounts::update, discounts::delete,
        orders::list_own, orders::get_own, orders::admin_list, orders::admin_get,
        refund_requests::request,
    ),
    components(schemas(refund_requests::RefundRequestBody, crate::model::AddItem, crate::model::ItemType,
        cart::ApplyDiscount, crate::views::CartView, crate::views::CartLineView, crate::views::DiscountProblem,
        discounts::NewDiscount, discounts::DiscountPatch, discounts::DiscountType, discounts::ApplicableTo,
        crate::views::DiscountView, crate::views::DiscountPage)),
    tags((name = "cart", description = "Carts and checkout"), (name = "orders", description = "Orders"),
        (name = "discounts", description = "Discount codes (admins)"))
)]
struct CartOrderApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    <CartOrderApi as utoipa::OpenApi>::openapi()
}
