//! HTTP routes of the notification service: billing-admins list sends, send a parked one again,
//! and preview any template with sample data.

pub mod sends;

use crate::Notifier;
use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<Notifier>) {
    // One resource per path, so a known path with another method answers 405 with `Allow`.
    cfg.app_data(state)
        .service(web::resource("/api/v2/admin/notifications").get(sends::list))
        .service(web::resource("/api/v2/admin/notifications/{id}/resend").post(sends::resend))
        .service(
            web::resource("/api/v2/admin/notification-templates/{name}/preview")
                .get(sends::preview),
        )
        .service(
            web::resource("/api/v2/admin/notification-templates/{name}/departments/{departmentId}")
                .get(sends::get_override)
                .put(sends::put_override),
        )
        .service(
            web::resource("/api/v2/notifications/webhooks/sendgrid")
                .post(crate::webhooks::sendgrid),
        )
        .service(
            web::resource("/api/v2/notifications/webhooks/mailgun").post(crate::webhooks::mailgun),
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
