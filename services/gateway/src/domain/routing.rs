//! Which service owns which path: each service declares its prefixes
//! (`ServiceFactory::prefixes`); the gateway only looks them up.

/// (service, path prefixes). A prefix matches whole segments.
pub type Owners = [(String, &'static [&'static str])];

/// Paths whose POSTs are rate-limited: checkout and payments (webhooks excluded).
pub fn is_rate_limited(method: &str, path: &str) -> bool {
    method == "POST"
        && (path.starts_with("/api/v2/cart/checkout")
            || (path.starts_with("/api/v2/payments/")
                && !path.starts_with("/api/v2/payments/webhook/")))
}

/// Whether `prefix` covers `path` in whole segments.
pub fn covers(prefix: &str, path: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The service owning `path`, if any.
pub fn owner_of<'a>(owners: &'a Owners, path: &str) -> Option<&'a str> {
    owners.iter().find_map(|(service, prefixes)| {
        prefixes
            .iter()
            .any(|p| covers(p, path))
            .then_some(service.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_owners_by_whole_segments() {
        let owners: Vec<(String, &'static [&'static str])> = vec![
            (
                "catalog".into(),
                &["/api/v2/catalog", "/api/v2/admin/pricing"],
            ),
            ("cart-order".into(), &["/api/v2/cart"]),
            ("payment".into(), &["/api/v2/payments"]),
        ];
        assert_eq!(
            owner_of(&owners, "/api/v2/catalog/courses/1"),
            Some("catalog")
        );
        assert_eq!(owner_of(&owners, "/api/v2/cart"), Some("cart-order"));
        assert_eq!(owner_of(&owners, "/api/v2/cartography"), None);
        assert_eq!(
            owner_of(&owners, "/api/v2/admin/pricing/abc"),
            Some("catalog")
        );
        assert_eq!(
            owner_of(&owners, "/api/v2/payments/history"),
            Some("payment")
        );
    }

    #[test]
    fn limits_checkout_and_payments_but_not_webhooks() {
        assert!(is_rate_limited("POST", "/api/v2/cart/checkout"));
        assert!(is_rate_limited("POST", "/api/v2/payments/create-intent"));
        assert!(!is_rate_limited("POST", "/api/v2/payments/webhook/stripe"));
        assert!(!is_rate_limited("GET", "/api/v2/payments/history"));
    }
}
