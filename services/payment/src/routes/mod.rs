//! HTTP routes of payment, one file per resource.

pub mod payments;
pub mod reconciliation;
pub mod refund_requests;
pub mod refunds;
pub mod reviews;

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
        .route("/api/v2/payments/config", web::get().to(payments::config))
        .route(
            "/api/v2/admin/payments/{id}/refund",
            web::post().to(refunds::refund),
        )
        .route(
            "/api/v2/admin/refunds",
            web::get().to(refund_requests::list),
        )
        .route(
            "/api/v2/admin/payment-reviews",
            web::get().to(reviews::list),
        )
        .route(
            "/api/v2/admin/payment-reviews/{id}/clear",
            web::post().to(reviews::clear),
        )
        .route(
            "/api/v2/admin/reconciliation",
            web::post().to(reconciliation::start),
        )
        .route(
            "/api/v2/admin/reconciliation",
            web::get().to(reconciliation::list),
        )
        .route(
            "/api/v2/admin/reconciliation/{id}",
            web::get().to(reconciliation::show),
        )
        .route(
            "/api/v2/admin/reconciliation/{id}/items.csv",
            web::get().to(reconciliation::csv),
        )
        .route(
            "/api/v2/admin/refunds/{id}/approve",
            web::post().to(refund_requests::approve),
        )
        .route(
            "/api/v2/admin/refunds/{id}/reject",
            web::post().to(refund_requests::reject),
        );
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Cadence Commerce — payments", version = "2"),
    paths(
        payments::create_intent, payments::confirm, payments::history, payments::config,
        refunds::refund,
        refund_requests::list, refund_requests::approve, refund_requests::reject,
        reviews::list, reviews::clear,
        reconciliation::start, reconciliation::list, reconciliation::show, reconciliation::csv,
    ),
    components(schemas(payments::IntentRequest, payments::ConfirmRequest, refunds::RefundBody, refund_requests::ApproveBody, refund_requests::RejectBody,
        reviews::ReviewPage, crate::storage::reviews::ReviewRow,
        reconciliation::RunBody, reconciliation::RunView, reconciliation::RunPage,
        crate::storage::reconciliation::RunRow, crate::storage::reconciliation::ItemRow)),
    tags((name = "payments", description = "Intents, confirmations, history"))
)]
struct PaymentApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    <PaymentApi as utoipa::OpenApi>::openapi()
}
