//! A course as the catalog accepts it. Parse, don't validate: a [`ValidCourse`] can only be
//! built from input that keeps the rules.

use super::CatalogError;
use super::rules::{non_blank, window};
use crate::model::CourseInput;
use kernel::{RevenueSplit, Window};

#[derive(Debug, Clone)]
pub struct ValidCourse {
    pub lms_course_id: String,
    pub title: String,
    pub description: String,
    pub department_id: String,
    pub creator_id: String,
    pub instructor_id: String,
    pub approval_required: bool,
    pub split: RevenueSplit,
    pub availability: Window,
    pub published: bool,
}

impl ValidCourse {
    pub fn parse(input: CourseInput) -> Result<ValidCourse, CatalogError> {
        let availability = window(
            input.available_from,
            input.available_until,
            "availableUntil",
        )?;
        Ok(ValidCourse {
            lms_course_id: non_blank("lmsCourseId", &input.lms_course_id, 100)?,
            title: non_blank("title", &input.title, 200)?,
            description: input.description.trim().to_string(),
            department_id: non_blank("departmentId", &input.department_id, 100)?,
            creator_id: non_blank("contentCreatorId", &input.content_creator_id, 100)?,
            instructor_id: non_blank("instructorId", &input.instructor_id, 100)?,
            approval_required: input.approval_required,
            split: match &input.revenue_split {
                Some(s) => super::split::parse(s)?,
                None => RevenueSplit::default(),
            },
            availability,
            published: input.published,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SplitInput;
    use chrono::{TimeZone, Utc};

    fn input() -> CourseInput {
        CourseInput {
            lms_course_id: " lms-1 ".into(),
            title: "Rust".into(),
            description: "  about Rust ".into(),
            department_id: "cs".into(),
            content_creator_id: "u1".into(),
            instructor_id: "u2".into(),
            approval_required: false,
            revenue_split: None,
            available_from: None,
            available_until: None,
            published: true,
        }
    }

    #[test]
    fn keeps_the_rules() {
        let v = ValidCourse::parse(input()).unwrap();
        assert_eq!(v.lms_course_id, "lms-1");
        assert_eq!(v.description, "about Rust");
        // No split given: the platform default.
        assert_eq!(v.split, RevenueSplit::default());
        let blank = ValidCourse::parse(CourseInput {
            instructor_id: " ".into(),
            ..input()
        })
        .unwrap_err();
        assert_eq!(
            (blank.code(), blank.field()),
            ("invalid_field", Some("instructorId"))
        );
        let t = |s: i64| Utc.timestamp_opt(s, 0).single().unwrap();
        let backwards = ValidCourse::parse(CourseInput {
            available_from: Some(t(10)),
            available_until: Some(t(5)),
            ..input()
        })
        .unwrap_err();
        assert_eq!(
            (backwards.code(), backwards.field()),
            ("invalid_window", Some("availableUntil"))
        );
        let split = ValidCourse::parse(CourseInput {
            revenue_split: Some(SplitInput {
                platform: 0.5.into(),
                creator: 0.5.into(),
                instructor: 0.into(),
            }),
            ..input()
        })
        .unwrap();
        assert_eq!(split.split.platform_bps(), 5000);
    }
}
