//! The events the catalog publishes, built from rows. They leave through the outbox, written in
//! the same transaction as the change they announce. Optional fields become proto3 defaults
//! (empty string, 0); a row the domain cannot read is an error, never a defaulted event.

use crate::storage::{CourseRow, DepartmentRow, PriceRow, ProgramRow, RateRow};
use events::commerce::v1 as ev;
use kernel::Currency;
use sea_orm::DbErr;
use uuid::Uuid;

fn rfc3339(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.to_rfc3339()).unwrap_or_default()
}

pub fn course_changed(r: &CourseRow) -> Result<ev::CourseChanged, DbErr> {
    let s = r.split()?;
    Ok(ev::CourseChanged {
        course_id: r.id.to_string(),
        lms_course_id: r.lms_course_id.clone(),
        title: r.title.clone(),
        department_id: r.department_id.clone(),
        creator_id: r.creator_id.clone(),
        instructor_id: r.instructor_id.clone(),
        approval_required: r.approval_required,
        revenue_split: Some(ev::RevenueSplit {
            platform_bps: s.platform_bps(),
            creator_bps: s.creator_bps(),
            instructor_bps: s.instructor_bps(),
        }),
        available_from: rfc3339(r.available_from),
        available_until: rfc3339(r.available_until),
        published: r.published,
        changed_at: r.updated_at.to_rfc3339(),
        description: r.description.clone(),
    })
}

pub fn program_changed(r: &ProgramRow, course_ids: &[Uuid]) -> ev::ProgramChanged {
    ev::ProgramChanged {
        program_id: r.id.to_string(),
        title: r.title.clone(),
        department_id: r.department_id.clone(),
        course_ids: course_ids.iter().map(|c| c.to_string()).collect(),
        published: r.published,
        available_from: rfc3339(r.available_from),
        available_until: rfc3339(r.available_until),
        changed_at: r.updated_at.to_rfc3339(),
    }
}

/// A price created, superseding another, or deactivated.
pub fn price_changed(r: &PriceRow) -> Result<ev::PriceChanged, DbErr> {
    Ok(ev::PriceChanged {
        price_id: r.id.to_string(),
        course_id: r.course_id.map(|c| c.to_string()).unwrap_or_default(),
        program_id: r.program_id.map(|c| c.to_string()).unwrap_or_default(),
        department_id: r.department_id.clone(),
        price_type: r.price_type()?.as_str().to_string(),
        currency: r.currency()?.code().to_string(),
        amount_minor: r.amount_minor,
        interval: r
            .interval()?
            .map(|i| i.as_str())
            .unwrap_or_default()
            .to_string(),
        trial_days: r.trial_days()?.unwrap_or(0),
        effective_from: r.effective_from.to_rfc3339(),
        effective_until: rfc3339(r.effective_until),
        active: r.is_active,
        changed_at: r.updated_at.to_rfc3339(),
    })
}

pub fn department_changed(r: &DepartmentRow) -> ev::DepartmentChanged {
    ev::DepartmentChanged {
        department_id: r.id.clone(),
        name: r.name.clone(),
        parent_id: r.parent_id.clone().unwrap_or_default(),
        changed_at: r.updated_at.to_rfc3339(),
    }
}

pub fn exchange_rate_changed(
    r: &RateRow,
    settlement: Currency,
) -> Result<ev::ExchangeRateChanged, DbErr> {
    Ok(ev::ExchangeRateChanged {
        currency: r.currency()?.code().to_string(),
        settlement_currency: settlement.code().to_string(),
        rate: r.rate()?.to_string(),
        changed_at: r.updated_at.to_rfc3339(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::courses::tests::row as course_row;
    use crate::storage::prices::tests::row as price_row;

    #[test]
    fn a_course_event_carries_the_stored_split_or_is_not_built() {
        let e = course_changed(&course_row()).unwrap();
        let s = e.revenue_split.unwrap();
        assert_eq!(
            (s.platform_bps, s.creator_bps, s.instructor_bps),
            (2000, 5000, 3000)
        );
        assert_eq!(e.available_until, "");
        let bad = CourseRow {
            instructor_bps: -3000,
            ..course_row()
        };
        assert!(matches!(course_changed(&bad), Err(DbErr::Custom(_))));
    }

    #[test]
    fn a_price_event_defaults_only_optional_fields() {
        let plan = price_changed(&price_row()).unwrap();
        assert_eq!(
            (
                plan.price_type.as_str(),
                plan.interval.as_str(),
                plan.trial_days
            ),
            ("subscription", "monthly", 14)
        );
        assert_eq!(
            (plan.course_id.as_str(), plan.effective_until.as_str()),
            ("", "")
        );
        let course = PriceRow {
            course_id: Some(kernel::new_id()),
            price_type: "one-time".into(),
            billing_interval: None,
            trial_days: None,
            ..price_row()
        };
        let e = price_changed(&course).unwrap();
        assert_eq!((e.interval.as_str(), e.trial_days), ("", 0));
        let bad = PriceRow {
            price_type: "lifetime".into(),
            ..price_row()
        };
        assert!(price_changed(&bad).is_err());
        let negative_trial = PriceRow {
            trial_days: Some(-1),
            ..price_row()
        };
        assert!(price_changed(&negative_trial).is_err());
    }
}
