//! HTTP routes of payout, one file per resource.

pub mod deliveries;
pub mod revenue;

use crate::Payout;
use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<Payout>) {
    cfg.app_data(state)
        .route(
            "/api/v1/revenue/by-course/{courseId}",
            web::get().to(revenue::by_course),
        )
        .route(
            "/api/v1/revenue/by-creator/{creatorId}",
            web::get().to(revenue::by_creator),
        )
        .route(
            "/api/v1/revenue/by-instructor/{instructorId}",
            web::get().to(revenue::by_instructor),
        )
        .route(
            "/api/v1/revenue/export.csv",
            web::get().to(revenue::export_csv),
        )
        .route(
            "/api/v1/revenue/deliveries",
            web::get().to(deliveries::parked),
        )
        .route(
            "/api/v1/revenue/deliveries/{entryId}/redrive",
            web::post().to(deliveries::redrive),
        );
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Cadence Commerce — revenue", version = "1"),
    paths(
        revenue::by_course, revenue::by_creator, revenue::by_instructor, revenue::export_csv,
        deliveries::parked, deliveries::redrive,
    ),
    components(schemas(
        crate::views::CourseRevenueReport, crate::views::CourseTotals, crate::views::CourseMonth,
        crate::views::CreatorRevenueReport, crate::views::CreatorTotals, crate::views::CreatorCourse,
        crate::views::InstructorRevenueReport, crate::views::InstructorTotals,
        crate::views::InstructorCourse, crate::views::PeriodView, deliveries::ParkedDelivery,
        deliveries::ParkedPage,
    )),
    tags((name = "revenue", description = "The revenue ledger: reports, export and Payout Platform deliveries"))
)]
struct PayoutApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    <PayoutApi as utoipa::OpenApi>::openapi()
}
