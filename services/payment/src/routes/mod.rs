//! HTTP routes of payment, one file per resource.

pub mod payments;
pub mod reconciliation;
pub mod refund_requests;
pub mod refunds;
pub mod reviews;
pub mod subscriptions;

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
            "/api/v2/subscriptions",
            web::post().to(subscriptions::subscribe),
        )
        .route(
            "/api/v2/subscriptions",
            web::get().to(subscriptions::list_own),
        )
        .route(
            "/api/v2/subscriptions/{id}",
            web::get().to(subscriptions::get_own),
        )
        .route(
            "/api/v2/subscriptions/{id}/cancel",
            web::post().to(subscriptions::cancel),
        )
        .route(
            "/api/v2/subscriptions/{id}/pause",
            web::post().to(subscriptions::pause),
        )
        .route(
            "/api/v2/subscriptions/{id}/resume",
            web::post().to(subscriptions::resume),
        )
        .route(
            "/api/v2/subscriptions/{id}/payment-method",
            web::put().to(subscriptions::set_payment_method),
        )
        .route(
            "/api/v2/subscriptions/{id}/change-plan",
            web::post().to(subscriptions::change_plan),
        )
        .route(
            "/api/v2/subscriptions/{id}/enrollments",
            web::post().to(subscriptions::enroll),
        )
        .route(
            "/api/v2/admin/subscriptions",
            web::get().to(subscriptions::admin_list),
        )
        .route(
            "/api/v2/admin/subscriptions/renewals",
            web::post().to(subscriptions::run_renewals),
        )
        .route(
            "/internal/v1/subscriptions/coverage",
            web::get().to(subscriptions::coverage),
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
        subscriptions::subscribe, subscriptions::list_own, subscriptions::get_own, subscriptions::cancel,
        subscriptions::pause, subscriptions::resume, subscriptions::set_payment_method, subscriptions::enroll,
        subscriptions::admin_list, subscriptions::run_renewals, subscriptions::change_plan,
    ),
    components(schemas(payments::IntentRequest, payments::ConfirmRequest, refunds::RefundBody, refund_requests::ApproveBody, refund_requests::RejectBody,
        reviews::ReviewPage, crate::storage::reviews::ReviewRow,
        reconciliation::RunBody, reconciliation::RunView, reconciliation::RunPage,
        crate::storage::reconciliation::RunRow, crate::storage::reconciliation::ItemRow,
        subscriptions::SubscriptionView, subscriptions::SubscriptionPage, subscriptions::SubscribeBody,
        subscriptions::CancelBody, subscriptions::PaymentMethodBody, subscriptions::EnrollBody,
        subscriptions::EnrollmentView, subscriptions::RenewalsBody, subscriptions::ChangePlanBody, subscriptions::FirstPayment, crate::subscriptions::Pass)),
    tags((name = "payments", description = "Intents, confirmations, history"),
        (name = "subscriptions", description = "Department subscriptions: renewals, entitlements, self-enrollment"))
)]
struct PaymentApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    <PaymentApi as utoipa::OpenApi>::openapi()
}
