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
    // One resource per path, so a known path with another method answers 405 with `Allow`.
    cfg.app_data(state)
        .service(web::resource("/api/v2/catalog/courses").get(courses::list_courses))
        .service(web::resource("/api/v2/catalog/courses/{id}").get(courses::get_course))
        .service(web::resource("/api/v2/catalog/programs").get(programs::list_programs))
        .service(web::resource("/api/v2/catalog/programs/{id}").get(programs::get_program))
        .service(web::resource("/api/v2/catalog/departments/{id}").get(departments::get_department))
        .service(web::resource("/api/v2/catalog/exchange-rates").get(exchange_rates::list_rates))
        .service(
            web::resource("/api/v2/admin/pricing")
                .get(prices::list)
                .post(prices::create),
        )
        .service(web::resource("/api/v2/admin/pricing/{id}").delete(prices::deactivate))
        .service(
            web::resource("/api/v2/admin/catalog/courses")
                .get(courses::admin_list_courses)
                .post(courses::create_course),
        )
        .service(web::resource("/api/v2/admin/catalog/courses/{id}").put(courses::update_course))
        .service(
            web::resource("/api/v2/admin/catalog/programs")
                .get(programs::admin_list_programs)
                .post(programs::create_program),
        )
        .service(web::resource("/api/v2/admin/catalog/programs/{id}").put(programs::update_program))
        .service(
            web::resource("/api/v2/admin/catalog/departments/{id}")
                .put(departments::put_department),
        )
        .service(
            web::resource("/api/v2/admin/catalog/exchange-rates/{currency}")
                .put(exchange_rates::put_rate),
        )
        .service(web::resource("/internal/v1/catalog/items/{kind}/{id}").get(items::item));
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
