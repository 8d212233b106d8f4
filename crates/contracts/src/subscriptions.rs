//! `GET /internal/v1/subscriptions/coverage?userId=&courseIds=`: which courses a learner's
//! subscriptions give access to now (payment serves it; cart-order refuses to sell them).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The coverage query for a learner and some courses.
pub fn coverage_path(user_id: &str, courses: &[Uuid]) -> String {
    let ids: Vec<String> = courses.iter().map(Uuid::to_string).collect();
    format!(
        "/internal/v1/subscriptions/coverage?userId={}&courseIds={}",
        urlencoding(user_id),
        ids.join(",")
    )
}

/// Percent-encodes what a user id may hold beyond the unreserved characters.
fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Covered {
    pub course_id: Uuid,
    pub subscription_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Coverage {
    pub items: Vec<Covered>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_encodes_the_user() {
        let c = Uuid::nil();
        assert_eq!(
            coverage_path("a b|c", &[c]),
            format!("/internal/v1/subscriptions/coverage?userId=a%20b%7Cc&courseIds={c}")
        );
    }
}
