//! HTTP routes of the notification service: billing-admins list sends, send a parked one again,
//! and preview any template with sample data.

pub mod sends;

use crate::Notifier;
use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<Notifier>) {
    cfg.app_data(state)
        .route("/api/v2/admin/notifications", web::get().to(sends::list))
        .route(
            "/api/v2/admin/notifications/{id}/resend",
            web::post().to(sends::resend),
        )
        .route(
            "/api/v2/admin/notification-templates/{name}/preview",
            web::get().to(sends::preview),
        )
        .route(
            "/api/v2/admin/notification-templates/{name}/departments/{departmentId}",
            web::get().to(sends::get_override),
        )
        .route(
            "/api/v2/admin/notification-templates/{name}/departments/{departmentId}",
            web::put().to(sends::put_override),
        )
        .route(
            "/api/v2/notifications/webhooks/sendgrid",
            web::post().to(crate::webhooks::sendgrid),
        )
        .route(
            "/api/v2/notifications/webhooks/mailgun",
            web::post().to(crate::webhooks::mailgun),
        );
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Cadence Commerce — notifications", version = "1"),
    paths(sends::list, sends::resend, sends::preview, sends::get_override, sends::put_override,
        crate::webhooks::sendgrid,
        crate::webhooks::mailgun),
    components(schemas(sends::SendView, sends::SendPage, sends::OverrideView,
        crate::domain::templates::Rendered, crate::domain::templates::Override)),
    tags((name = "notifications", description = "Emails to learners: sends, resends, template previews"))
)]
struct NotificationApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    <NotificationApi as utoipa::OpenApi>::openapi()
}
