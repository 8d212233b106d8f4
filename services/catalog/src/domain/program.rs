//! A program (an ordered bundle of courses) as the catalog accepts it.

use super::CatalogError;
use super::rules::{non_blank, window};
use crate::model::ProgramInput;
use kernel::Window;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct ValidProgram {
    pub title: String,
    pub description: String,
    pub department_id: String,
    /// Member courses in program order: at least one, none twice.
    pub course_ids: Vec<Uuid>,
    pub availability: Window,
    pub published: bool,
}

impl ValidProgram {
    pub fn parse(input: ProgramInput) -> Result<ValidProgram, CatalogError> {
        let availability = window(
            input.available_from,
            input.available_until,
            "availableUntil",
        )?;
        let courses = |detail: &str| CatalogError::InvalidField {
            field: "courseIds",
            detail: detail.to_string(),
        };
        if input.course_ids.is_empty() {
            return Err(courses("a program needs at least one course"));
        }
        let mut seen = std::collections::HashSet::new();
        if !input.course_ids.iter().all(|c| seen.insert(*c)) {
            return Err(courses("a course appears twice in the program"));
        }
        Ok(ValidProgram {
            title: non_blank("title", &input.title, 200)?,
            description: input.description.trim().to_string(),
            department_id: non_blank("departmentId", &input.department_id, 100)?,
            course_ids: input.course_ids,
            availability,
            published: input.published,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(course_ids: Vec<Uuid>) -> ProgramInput {
        ProgramInput {
            title: "Data".into(),
            description: String::new(),
            department_id: "cs".into(),
            course_ids,
            available_from: None,
            available_until: None,
            published: false,
        }
    }

    #[test]
    fn needs_distinct_courses() {
        let a = kernel::new_id();
        let b = kernel::new_id();
        assert_eq!(
            ValidProgram::parse(input(vec![b, a])).unwrap().course_ids,
            vec![b, a]
        );
        for ids in [vec![], vec![a, b, a]] {
            let e = ValidProgram::parse(input(ids)).unwrap_err();
            assert_eq!((e.code(), e.field()), ("invalid_field", Some("courseIds")));
        }
    }
}
