//! Conditional GETs: whether a request's `If-None-Match` names the current entity tag.

use actix_web::HttpRequest;
use actix_web::http::header;

/// True when `If-None-Match` lists `etag` (weak or strong) or `*`: answer 304.
pub fn matches(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(str::trim)
                .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn strong_weak_lists_and_star_match() {
        let req = |v: &str| {
            TestRequest::default()
                .insert_header((header::IF_NONE_MATCH, v))
                .to_http_request()
        };
        assert!(matches(&req("\"a\""), "\"a\""));
        assert!(matches(&req("W/\"a\""), "\"a\""));
        assert!(matches(&req("\"b\", \"a\""), "\"a\""));
        assert!(matches(&req("*"), "\"a\""));
        assert!(!matches(&req("\"b\""), "\"a\""));
        assert!(!matches(&TestRequest::default().to_http_request(), "\"a\""));
    }
}
