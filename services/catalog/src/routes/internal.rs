//! `/internal/v1/catalog/items/{type}/{id}`: everything cart-order must snapshot when an item is
//! added or re-priced. Unpublished items are answered too (with `published: false`) so the caller
//! can tell "unknown" (404) from "not for sale" (422).

use crate::Catalog;
use crate::storage::{self, CourseRow};
use ::web::ApiError;
use ::web::internal::Internal;
use actix_web::{HttpResponse, web};
use uuid::Uuid;

use contracts::catalog::{
    CatalogCourse as ItemCourse, CatalogItem as Item, CatalogPrice as ItemPrice,
};

fn price(p: &storage::PriceRow) -> ItemPrice {
    ItemPrice {
        id: p.id,
        price_type: p.price_type.clone(),
        currency: p.currency.trim().to_string(),
        amount: p.amount_minor,
        interval: p.billing_interval.clone(),
        trial_days: p.trial_days,
    }
}

fn course(c: &CourseRow, own_price: Option<i64>) -> ItemCourse {
    let s = c.split();
    ItemCourse {
        course_id: c.id,
        lms_course_id: c.lms_course_id.clone(),
        title: c.title.clone(),
        department_id: c.department_id.clone(),
        creator_id: c.creator_id.clone(),
        instructor_id: c.instructor_id.clone(),
        approval_required: c.approval_required,
        platform_bps: s.platform_bps(),
        creator_bps: s.creator_bps(),
        instructor_bps: s.instructor_bps(),
        own_price,
    }
}

pub async fn item(
    _: Internal,
    state: web::Data<Catalog>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (kind, raw) = path.into_inner();
    let id = Uuid::parse_str(&raw).map_err(|_| ApiError::not_found("no such item"))?;
    let now = state.clock.now();
    let item = match kind.as_str() {
        "course" => {
            let c = storage::course(&state.db, id)
                .await?
                .ok_or_else(|| ApiError::not_found("no such course"))?;
            let p = storage::current_prices(&state.db, "course_id", &[id], now)
                .await?
                .remove(&id);
            Item {
                item_type: kind,
                item_id: id,
                name: c.title.clone(),
                department_id: c.department_id.clone(),
                published: c.published,
                available: c.available_at(now),
                price: p.as_ref().map(price),
                courses: vec![course(&c, p.as_ref().map(|p| p.amount_minor))],
            }
        }
        "program" => {
            let p = storage::program(&state.db, id)
                .await?
                .ok_or_else(|| ApiError::not_found("no such program"))?;
            let members = storage::program_course_ids(&state.db, &[id])
                .await?
                .remove(&id)
                .unwrap_or_default();
            let rows = storage::courses_by_ids(&state.db, &members).await?;
            let own = storage::current_prices(&state.db, "course_id", &members, now).await?;
            let bundle = storage::current_prices(&state.db, "program_id", &[id], now)
                .await?
                .remove(&id);
            let courses = members
                .iter()
                .filter_map(|m| rows.iter().find(|r| r.id == *m))
                .map(|c| course(c, own.get(&c.id).map(|p| p.amount_minor)))
                .collect();
            Item {
                item_type: kind,
                item_id: id,
                name: p.title.clone(),
                department_id: p.department_id.clone(),
                published: p.published,
                available: p.available_at(now),
                price: bundle.as_ref().map(price),
                courses,
            }
        }
        "subscription" => {
            let p = storage::price(&state.db, id)
                .await?
                .filter(|p| p.price_type == "subscription")
                .ok_or_else(|| ApiError::not_found("no such plan"))?;
            let current =
                p.is_active && p.effective_from <= now && p.effective_until.is_none_or(|u| now < u);
            Item {
                item_type: kind,
                item_id: id,
                name: format!(
                    "{} {} plan",
                    p.department_id,
                    p.billing_interval.clone().unwrap_or_default()
                ),
                department_id: p.department_id.clone(),
                published: p.is_active,
                available: current,
                price: Some(price(&p)),
                courses: vec![],
            }
        }
        _ => return Err(ApiError::not_found("no such item type")),
    };
    Ok(HttpResponse::Ok().json(item))
}
