//! Which service owns which path prefix (the spec's API table).

/// (service, path prefixes). A prefix matches whole segments.
pub const OWNERS: &[(&str, &[&str])] = &[
    (
        "catalog",
        &[
            "/api/v2/catalog",
            "/api/v2/admin/pricing",
            "/api/v2/admin/catalog",
        ],
    ),
    (
        "cart-order",
        &[
            "/api/v2/cart",
            "/api/v2/orders",
            "/api/v2/admin/orders",
            "/api/v2/admin/discounts",
        ],
    ),
    (
        "payment",
        &[
            "/api/v2/payments",
            "/api/v2/admin/payments",
            "/api/v2/admin/refunds",
            "/api/v2/subscriptions",
            "/api/v2/admin/subscriptions",
        ],
    ),
    (
        "registration",
        &["/api/v2/registrations", "/api/v2/admin/registrations"],
    ),
    ("payout", &["/api/v1/revenue"]),
    (
        "certificate",
        &["/api/v2/certificates", "/api/v2/admin/certificates"],
    ),
];

/// Paths whose POSTs are rate-limited: checkout and payments (webhooks excluded).
pub fn is_rate_limited(method: &str, path: &str) -> bool {
    method == "POST"
        && (path.starts_with("/api/v2/cart/checkout")
            || (path.starts_with("/api/v2/payments/")
                && !path.starts_with("/api/v2/payments/webhook/")))
}

/// The service owning `path`, if any.
pub fn owner_of(path: &str) -> Option<&'static str> {
    OWNERS.iter().find_map(|(service, prefixes)| {
        prefixes
            .iter()
            .any(|p| {
                path == *p
                    || path
                        .strip_prefix(p)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .then_some(*service)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_owners_by_whole_segments() {
        assert_eq!(owner_of("/api/v2/catalog/courses/1"), Some("catalog"));
        assert_eq!(owner_of("/api/v2/cart"), Some("cart-order"));
        assert_eq!(owner_of("/api/v2/cartography"), None);
        assert_eq!(owner_of("/api/v2/admin/pricing/abc"), Some("catalog"));
        assert_eq!(owner_of("/api/v2/payments/history"), Some("payment"));
    }

    #[test]
    fn limits_checkout_and_payments_but_not_webhooks() {
        assert!(is_rate_limited("POST", "/api/v2/cart/checkout"));
        assert!(is_rate_limited("POST", "/api/v2/payments/create-intent"));
        assert!(!is_rate_limited("POST", "/api/v2/payments/webhook/stripe"));
        assert!(!is_rate_limited("GET", "/api/v2/payments/history"));
    }
}
