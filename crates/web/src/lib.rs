//! HTTP conventions every service shares.
//!
//! # Layout
//! - [`problem`]: RFC 9457 `application/problem+json` errors with stable codes ([`ApiError`]).
//! - [`json`]: a JSON body extractor that names the offending field and enforces the size limit.
//! - [`auth`]: bearer JWTs as the LMS SSO issues them (HS256 in development, RS256 with a JWKS in
//!   production): user id, roles, department scopes; a dev-token minter.
//! - [`idempotency`]: `Idempotency-Key` with the response stored in the business transaction.
//! - [`observe`]: request id, trace continuation, HTTP metrics; `/healthz`, `/readyz`, `/metrics`.
//! - [`openapi`]: what every service's OpenAPI document declares alike (problems, bearer, 401/400/404).
//! - [`page`]: cursor pagination (`{"items": [...], "nextCursor": ...}`).

pub mod auth;
pub mod card_data;
pub mod etag;
pub mod idempotency;
pub mod internal;
pub mod json;
pub mod observe;
pub mod openapi;
pub mod page;
pub mod problem;
pub mod square_signature;
pub mod standard_webhooks;
pub mod stripe_signature;

pub use auth::{Authorized, Caller, MaybeCaller, Role, Verifier, roles};
pub use idempotency::{IdempotencyKey, Reply};
pub use json::Json;
pub use page::Page;
pub use problem::ApiError;

/// Registers the shared extractor configuration (body limit, problem+json for bad paths and
/// queries) on an app or scope.
pub fn configure_extractors(cfg: &mut actix_web::web::ServiceConfig, body_limit: usize) {
    cfg.app_data(actix_web::web::PayloadConfig::new(body_limit))
        .app_data(
            actix_web::web::QueryConfig::default().error_handler(|e, _| {
                ApiError::bad_request("invalid_query", format!("invalid query string: {e}")).into()
            }),
        )
        .app_data(
            actix_web::web::PathConfig::default().error_handler(|e, _| {
                ApiError::not_found(format!("no such resource ({e})")).into()
            }),
        );
}
