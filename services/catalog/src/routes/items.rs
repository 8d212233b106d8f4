//! `/internal/v1/catalog/items/{type}/{id}`: everything cart-order must snapshot when an item is
//! added or re-priced. Unpublished items are answered too (with `published: false`) so the caller
//! can tell "unknown" (404) from "not for sale" (422).

use crate::Catalog;
use crate::domain::price::in_effect;
use crate::domain::{self, CatalogError, PriceType};
use crate::storage::{self, Priced};
use crate::views::{item_course, item_price};
use ::web::ApiError;
use ::web::internal::Internal;
use actix_web::{HttpResponse, web};
use contracts::catalog::CatalogItem as Item;
use uuid::Uuid;

fn not_found(what: &str) -> CatalogError {
    CatalogError::NotFound(format!("no such {what}"))
}

pub async fn item(
    _: Internal,
    state: web::Data<Catalog>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (kind, raw) = path.into_inner();
    let id = Uuid::parse_str(&raw).map_err(|_| not_found("item"))?;
    let now = state.clock.now();
    let item = match kind.as_str() {
        "course" => {
            let c = storage::course(&state.db, id)
                .await?
                .ok_or_else(|| not_found("course"))?;
            let p = storage::current_prices(&state.db, Priced::Course, &[id], now)
                .await?
                .remove(&id);
            Item {
                item_type: kind,
                item_id: id,
                name: c.title.clone(),
                department_id: c.department_id.clone(),
                published: c.published,
                available: domain::available(c.published, c.availability()?, now),
                price: p.as_ref().map(item_price).transpose()?,
                courses: vec![item_course(&c, p.as_ref().map(|p| p.amount_minor))?],
            }
        }
        "program" => {
            let p = storage::program(&state.db, id)
                .await?
                .ok_or_else(|| not_found("program"))?;
            let members = storage::program_course_ids(&state.db, &[id])
                .await?
                .remove(&id)
                .unwrap_or_default();
            let rows = storage::courses_by_ids(&state.db, &members).await?;
            let own = storage::current_prices(&state.db, Priced::Course, &members, now).await?;
            let bundle = storage::current_prices(&state.db, Priced::Program, &[id], now)
                .await?
                .remove(&id);
            let courses = members
                .iter()
                .filter_map(|m| rows.iter().find(|r| r.id == *m))
                .map(|c| item_course(c, own.get(&c.id).map(|p| p.amount_minor)))
                .collect::<Result<_, _>>()?;
            Item {
                item_type: kind,
                item_id: id,
                name: p.title.clone(),
                department_id: p.department_id.clone(),
                published: p.published,
                available: domain::available(p.published, p.availability()?, now),
                price: bundle.as_ref().map(item_price).transpose()?,
                courses,
            }
        }
        "subscription" => {
            let p = storage::price(&state.db, id).await?;
            let p = match p {
                Some(p) if p.price_type()? == PriceType::Subscription => p,
                _ => return Err(not_found("plan").into()),
            };
            let interval = p.interval()?.ok_or_else(|| {
                CatalogError::Corrupt(format!("plan {id} has no billing interval"))
            })?;
            // What the plan gives access to: the available courses of its department and of the
            // departments under it (without prices of their own: a period's revenue is shared
            // equally among the courses it is attributed to).
            let mut courses = Vec::new();
            for c in storage::published_courses_under(&state.db, &p.department_id).await? {
                if domain::available(c.published, c.availability()?, now) {
                    courses.push(item_course(&c, None)?);
                }
            }
            Item {
                item_type: kind,
                item_id: id,
                name: format!("{} {} plan", p.department_id, interval.as_str()),
                department_id: p.department_id.clone(),
                published: p.is_active,
                available: in_effect(p.is_active, p.effective()?, now),
                price: Some(item_price(&p)?),
                courses,
            }
        }
        _ => return Err(not_found("item type").into()),
    };
    Ok(HttpResponse::Ok().json(item))
}
