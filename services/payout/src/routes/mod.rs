//! HTTP routes of payout, one file per resource.

pub mod deliveries;
pub mod revenue;

use crate::Payout;
use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<Payout>) {
    // One resource per path, so a known path with another method answers 405 with `Allow`.
    cfg.app_data(state)
        .service(web::resource("/api/v1/revenue/by-course/{courseId}").get(revenue::by_course))
        .service(web::resource("/api/v1/revenue/by-creator/{creatorId}").get(revenue::by_creator))
        .service(
            web::resource("/api/v1/revenue/by-instructor/{instructorId}")
                .get(revenue::by_instructor),
        )
        .service(web::resource("/api/v1/revenue/export.csv").get(revenue::export_csv))
        .service(web::resource("/api/v1/revenue/deliveries").get(deliveries::parked))
        .service(
            web::resource("/api/v1/revenue/deliveries/{entryId}/redrive").post(deliveries::redrive),
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
