//! The notification service's domain: the emails ([`templates`]) and the error enum.

pub mod templates;

use web::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidQuery(String),
    #[error("only a parked send can be sent again")]
    NotResendable,
    #[error(transparent)]
    Render(#[from] templates::RenderError),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

impl NotificationError {
    pub fn code(&self) -> &'static str {
        use NotificationError::*;
        match self {
            NotFound(_) => "not_found",
            InvalidQuery(_) => "invalid_query",
            NotResendable => "illegal_transition",
            Render(_) | Db(_) => "internal",
        }
    }
}

impl From<NotificationError> for ApiError {
    fn from(e: NotificationError) -> ApiError {
        use NotificationError::*;
        let detail = e.to_string();
        let code = e.code();
        match e {
            NotFound(_) => ApiError::not_found(detail),
            InvalidQuery(_) => ApiError::bad_request(code, detail),
            NotResendable => ApiError::conflict(code, detail),
            Render(e) => ApiError::internal(e),
            Db(e) => e.into(),
        }
    }
}
