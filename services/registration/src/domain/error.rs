//! Everything registration can refuse, with its stable problem code, mapped to HTTP in one place.

use kernel::IllegalTransition;
use web::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("{0}")]
    NotFound(String),
    #[error("not allowed to administer department `{0}`")]
    OutOfScope(String),
    #[error("a rejection needs a reason of 1 to 1000 characters")]
    InvalidReason,
    #[error("send 1 to 200 ids")]
    InvalidBulk,
    #[error("{0}")]
    InvalidQuery(String),
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error("only a failed enrollment request can be redriven")]
    NotRedrivable,
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

impl RegistrationError {
    pub fn code(&self) -> &'static str {
        use RegistrationError::*;
        match self {
            NotFound(_) => "not_found",
            OutOfScope(_) => "forbidden",
            InvalidReason => "invalid_reason",
            InvalidBulk => "invalid_bulk",
            InvalidQuery(_) => "invalid_query",
            Illegal(_) | NotRedrivable => "illegal_transition",
            Db(_) => "internal",
        }
    }
}

impl From<RegistrationError> for ApiError {
    fn from(e: RegistrationError) -> ApiError {
        use RegistrationError::*;
        let detail = e.to_string();
        let code = e.code();
        match e {
            NotFound(_) => ApiError::not_found(detail),
            OutOfScope(_) => ApiError::forbidden(detail),
            InvalidReason => ApiError::rule(code, detail).with_field("reason"),
            InvalidBulk => ApiError::rule(code, detail).with_field("ids"),
            InvalidQuery(_) => ApiError::bad_request(code, detail),
            Illegal(_) | NotRedrivable => ApiError::conflict(code, detail),
            Db(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::ResponseError;
    use kernel::Lifecycle;

    #[test]
    fn each_refusal_has_its_status_and_code() {
        let illegal = crate::domain::RegistrationStatus::Enrolled
            .apply(&crate::domain::RegistrationEvent::Approve)
            .unwrap_err();
        let cases: Vec<(RegistrationError, u16, &str)> = vec![
            (RegistrationError::NotFound("x".into()), 404, "not_found"),
            (RegistrationError::OutOfScope("d".into()), 403, "forbidden"),
            (RegistrationError::InvalidReason, 422, "invalid_reason"),
            (RegistrationError::InvalidBulk, 422, "invalid_bulk"),
            (
                RegistrationError::Illegal(illegal),
                409,
                "illegal_transition",
            ),
            (RegistrationError::NotRedrivable, 409, "illegal_transition"),
        ];
        for (e, status, code) in cases {
            let api: ApiError = e.into();
            assert_eq!(api.status_code().as_u16(), status);
            assert_eq!(api.code, code);
        }
    }
}
