//! The payout service's domain: the ledger's arithmetic ([`ledger`]), the report period and
//! access rules ([`report`]), and the error enum with its stable codes.

pub mod ledger;
pub mod report;

use web::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum PayoutError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    InvalidQuery(String),
    #[error("{0}")]
    InvalidPeriod(String),
    #[error("only a parked delivery can be redriven")]
    NotRedrivable,
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerError),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

impl PayoutError {
    pub fn code(&self) -> &'static str {
        use PayoutError::*;
        match self {
            NotFound(_) => "not_found",
            Forbidden(_) => "forbidden",
            InvalidQuery(_) => "invalid_query",
            InvalidPeriod(_) => "invalid_period",
            NotRedrivable => "illegal_transition",
            Ledger(_) | Db(_) => "internal",
        }
    }
}

impl From<PayoutError> for ApiError {
    fn from(e: PayoutError) -> ApiError {
        use PayoutError::*;
        let detail = e.to_string();
        let code = e.code();
        match e {
            NotFound(_) => ApiError::not_found(detail),
            Forbidden(_) => ApiError::forbidden(detail),
            InvalidQuery(_) => ApiError::bad_request(code, detail),
            InvalidPeriod(_) => ApiError::rule(code, detail),
            NotRedrivable => ApiError::conflict(code, detail),
            Ledger(e) => ApiError::internal(e),
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
        let cases: Vec<(PayoutError, u16, &str)> = vec![
            (PayoutError::NotFound("x".into()), 404, "not_found"),
            (PayoutError::Forbidden("x".into()), 403, "forbidden"),
            (PayoutError::InvalidQuery("x".into()), 400, "invalid_query"),
            (
                PayoutError::InvalidPeriod("x".into()),
                422,
                "invalid_period",
            ),
            (PayoutError::NotRedrivable, 409, "illegal_transition"),
        ];
        for (e, status, code) in cases {
            assert_eq!(e.code(), code);
            let api: ApiError = e.into();
            assert_eq!(api.status_code().as_u16(), status);
        }
    }
}
