//! HTTP routes of the catalog, one file per resource, and the OpenAPI document. Each resource
//! file holds its public and admin handlers; admin handlers take `Authorized<…>` first, so
//! authorization happens before the body is read.

pub mod courses;
pub mod departments;
pub mod exchange_rates;
pub mod items;
pub mod prices;
pub mod programs;
pub mod public_cache;

use crate::Catalog;
use crate::domain::{Interval, PriceType};
use crate::model::*;
use crate::views::*;
use actix_web::web;
use utoipa::OpenApi;

pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<Catalog>) {
    cfg.app_data(state)
        .route(
            "/api/v2/catalog/courses",
            web::get().to(courses::list_courses),
        )
        .route(
            "/api/v2/catalog/courses/{id}",
            web::get().to(courses::get_course),
        )
        .route(
            "/api/v2/catalog/programs",
            web::get().to(programs::list_programs),
        )
        .route(
            "/api/v2/catalog/programs/{id}",
            web::get().to(programs::get_program),
        )
        .route(
            "/api/v2/catalog/departments/{id}",
            web::get().to(departments::get_department),
        )
        .route(
            "/api/v2/catalog/exchange-rates",
            web::get().to(exchange_rates::list_rates),
        )
        .route("/api/v2/admin/pricing", web::post().to(prices::create))
        .route("/api/v2/admin/pricing", web::get().to(prices::list))
        .route(
            "/api/v2/admin/pricing/{id}",
            web::delete().to(prices::deactivate),
        )
        .route(
            "/api/v2/admin/catalog/courses",
            web::post().to(courses::create_course),
        )
        .route(
            "/api/v2/admin/catalog/courses",
            web::get().to(courses::admin_list_courses),
        )
        .route(
            "/api/v2/admin/catalog/courses/{id}",
            web::put().to(courses::update_course),
        )
        .route(
            "/api/v2/admin/catalog/programs",
            web::post().to(programs::create_program),
        )
        .route(
            "/api/v2/admin/catalog/programs",
            web::get().to(programs::admin_list_programs),
        )
        .route(
            "/api/v2/admin/catalog/programs/{id}",
            web::put().to(programs::update_program),
        )
        .route(
            "/api/v2/admin/catalog/departments/{id}",
            web::put().to(departments::put_department),
        )
        .route(
            "/api/v2/admin/catalog/exchange-rates/{currency}",
            web::put().to(exchange_rates::put_rate),
        )
        .route(
            "/internal/v1/catalog/items/{kind}/{id}",
            web::get().to(items::item),
        );
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Cadence Commerce — catalog", version = "2"),
    paths(
        courses::list_courses, courses::get_course, programs::list_programs, programs::get_program,
        departments::get_department, exchange_rates::list_rates,
        prices::create, prices::list, prices::deactivate,
        courses::create_course, courses::admin_list_courses, courses::update_course,
        programs::create_program, programs::admin_list_programs, programs::update_program,
        departments::put_department, exchange_rates::put_rate,
    ),
    components(schemas(
        CourseInput, CourseView, ProgramInput, ProgramView, PriceInput, PriceView, DepartmentInput,
        DepartmentView, ExchangeRateInput, ExchangeRateView, DisplayPrice, SplitInput, SplitView,
        PriceType, Interval, SubscriptionTerms,
    )),
    tags((name = "catalog", description = "Courses, programs, plans and prices"))
)]
struct CatalogApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    CatalogApi::openapi()
}
