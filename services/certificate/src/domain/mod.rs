//! The certificate service's domain: completion [`criteria`], [`template`] designs, the
//! [`certificate`]'s life and number, and the error enum with its stable codes.

pub mod certificate;
pub mod criteria;
pub mod template;

use web::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{reason}")]
    Invalid { field: String, reason: String },
    #[error("{0}")]
    InvalidQuery(String),
    #[error("the learner already holds a certificate for this {0}")]
    AlreadyIssued(&'static str),
    #[error("the certificate is already revoked")]
    AlreadyRevoked,
    #[error("{0}")]
    Corrupt(String),
    #[error(transparent)]
    Pdf(#[from] crate::pdf::PdfError),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

impl CertificateError {
    pub fn code(&self) -> &'static str {
        use CertificateError::*;
        match self {
            NotFound(_) => "not_found",
            Forbidden(_) => "forbidden",
            Invalid { .. } => "validation_failed",
            InvalidQuery(_) => "invalid_query",
            AlreadyIssued(_) => "already_issued",
            AlreadyRevoked => "already_revoked",
            Corrupt(_) | Pdf(_) | Db(_) => "internal",
        }
    }

    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> CertificateError {
        CertificateError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<CertificateError> for ApiError {
    fn from(e: CertificateError) -> ApiError {
        use CertificateError::*;
        let detail = e.to_string();
        let code = e.code();
        match e {
            NotFound(_) => ApiError::not_found(detail),
            Forbidden(_) => ApiError::forbidden(detail),
            Invalid { field, .. } => ApiError::rule(code, detail).with_field(field),
            InvalidQuery(_) => ApiError::bad_request(code, detail),
            AlreadyIssued(_) | AlreadyRevoked => ApiError::conflict(code, detail),
            Corrupt(m) => ApiError::internal(m),
            Pdf(e) => ApiError::internal(e),
            Db(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::ResponseError;

    #[test]
    fn each_refusal_has_its_status_and_code() {
        let cases: Vec<(CertificateError, u16, &str)> = vec![
            (CertificateError::NotFound("x".into()), 404, "not_found"),
            (CertificateError::Forbidden("x".into()), 403, "forbidden"),
            (
                CertificateError::invalid("primaryColor", "x"),
                422,
                "validation_failed",
            ),
            (
                CertificateError::InvalidQuery("x".into()),
                400,
                "invalid_query",
            ),
            (
                CertificateError::AlreadyIssued("course"),
                409,
                "already_issued",
            ),
            (CertificateError::AlreadyRevoked, 409, "already_revoked"),
        ];
        for (e, status, code) in cases {
            assert_eq!(e.code(), code);
            let api: ApiError = e.into();
            assert_eq!(api.status_code().as_u16(), status);
        }
    }
}
