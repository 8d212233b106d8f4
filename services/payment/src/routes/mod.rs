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
    // One resource per path, so a known path with another method answers 405 with `Allow`.
    cfg.app_data(state)
        .service(web::resource("/api/v2/payments/create-intent").post(payments::create_intent))
        .service(web::resource("/api/v2/payments/confirm").post(payments::confirm))
        .service(web::resource("/api/v2/payments/history").get(payments::history))
        .service(web::resource("/api/v2/payments/config").get(payments::config))
        .service(web::resource("/api/v2/admin/payments/{id}/refund").post(refunds::refund))
        .service(web::resource("/api/v2/admin/refunds").get(refund_requests::list))
        .service(web::resource("/api/v2/admin/refunds/{id}/approve").post(refund_requests::approve))
        .service(web::resource("/api/v2/admin/refunds/{id}/reject").post(refund_requests::reject))
        .service(web::resource("/api/v2/admin/payment-reviews").get(reviews::list))
        .service(web::resource("/api/v2/admin/payment-reviews/{id}/clear").post(reviews::clear))
        .service(
            web::resource("/api/v2/admin/reconciliation")
                .get(reconciliation::list)
                .post(reconciliation::start),
        )
        .service(web::resource("/api/v2/admin/reconciliation/{id}").get(reconciliation::show))
        .service(
            web::resource("/api/v2/admin/reconciliation/{id}/items.csv").get(reconciliation::csv),
        )
        .service(
            web::resource("/api/v2/subscriptions")
                .get(subscriptions::list_own)
                .post(subscriptions::subscribe),
        )
        .service(web::resource("/api/v2/subscriptions/{id}").get(subscriptions::get_own))
        .service(web::resource("/api/v2/subscriptions/{id}/cancel").post(subscriptions::cancel))
        .service(web::resource("/api/v2/subscriptions/{id}/pause").post(subscriptions::pause))
        .service(web::resource("/api/v2/subscriptions/{id}/resume").post(subscriptions::resume))
        .service(
            web::resource("/api/v2/subscriptions/{id}/payment-method")
                .put(subscriptions::set_payment_method),
        )
        .service(
            web::resource("/api/v2/subscriptions/{id}/change-plan")
                .post(subscriptions::change_plan),
        )
        .service(
            web::resource("/api/v2/subscriptions/{id}/enrollments").post(subscriptions::enroll),
        )
        .service(web::resource("/api/v2/admin/subscriptions").get(subscriptions::admin_list))
        .service(
            web::resource("/api/v2/admin/subscriptions/renewals").post(subscriptions::run_renewals),
        )
        .service(web::resource("/internal/v1/subscriptions/coverage").get(subscriptions::coverage));
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
