//! A department (and its place in the department tree) as the catalog accepts it.

use super::CatalogError;
use crate::model::DepartmentInput;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidDepartment {
    pub name: String,
    /// The parent department; `None` for a top-level one.
    pub parent_id: Option<String>,
}

impl ValidDepartment {
    pub fn parse(input: &DepartmentInput) -> Result<ValidDepartment, CatalogError> {
        let name = input.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(CatalogError::InvalidField {
                field: "name",
                detail: "`name` must be 1 to 200 characters".into(),
            });
        }
        let parent_id = input
            .parent_id
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        Ok(ValidDepartment { name, parent_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, parent: Option<&str>) -> DepartmentInput {
        DepartmentInput {
            name: name.into(),
            parent_id: parent.map(str::to_string),
        }
    }

    #[test]
    fn names_are_bounded_and_blank_parents_are_none() {
        let d = ValidDepartment::parse(&input(" CS ", Some("  "))).unwrap();
        assert_eq!(
            d,
            ValidDepartment {
                name: "CS".into(),
                parent_id: None
            }
        );
        let d = ValidDepartment::parse(&input("AI", Some(" cs "))).unwrap();
        assert_eq!(d.parent_id.as_deref(), Some("cs"));
        for bad in [" ", &"x".repeat(201)] {
            let e = ValidDepartment::parse(&input(bad, None)).unwrap_err();
            assert_eq!((e.code(), e.field()), ("invalid_field", Some("name")));
        }
    }
}
