//! HTTP routes of payment, one file per resource.

pub mod payments;
pub mod refunds;

use crate::Payment;
use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<Payment>) {
    cfg.app_data(state)
        .route(
            "/api/v2/payments/create-intent",
            web::post().to(payments::create_intent),
        )
        .route(
            "/api/v2/payments/confirm",
            web::post().to(payments::confirm),
        )
        .route("/api/v2/payments/history", web::get().to(payments::history))
        .route(
            "/api/v2/admin/payments/{id}/refund",
            web::post().to(refunds::refund),
        );
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Cadence Commerce — payments", version = "2"),
    paths(
        payments::create_intent, payments::confirm, payments::history, refunds::refund,
    ),
    components(schemas(refunds::RefundBody)),
    tags((name = "payments", description = "Intents, confirmations, history"))
)]
struct PaymentApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    <PaymentApi as utoipa::OpenApi>::openapi()
}
