//! Which paths the gateway rate-limits. Which service owns which path is declared by each service
//! (`ServiceFactory::prefixes`) and mounted as proxy scopes (`routes::proxy`).

/// Paths whose POSTs are rate-limited: checkout and payments (webhooks excluded).
pub fn is_rate_limited(method: &str, path: &str) -> bool {
    method == "POST"
        && (path.starts_with("/api/v2/cart/checkout")
            || (path.starts_with("/api/v2/payments/")
                && !path.starts_with("/api/v2/payments/webhook/")))
}

/// Public lookups by certificate number (verification, share page): limited per peer address
/// whatever token comes with them, against enumeration.
pub fn is_public_lookup(method: &str, path: &str) -> bool {
    method == "GET"
        && (path.starts_with("/api/v2/certificates/verify/")
            || path.starts_with("/api/v2/certificates/share/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_checkout_and_payments_but_not_webhooks() {
        assert!(is_rate_limited("POST", "/api/v2/cart/checkout"));
        assert!(is_rate_limited("POST", "/api/v2/payments/create-intent"));
        assert!(!is_rate_limited("POST", "/api/v2/payments/webhook/stripe"));
        assert!(!is_rate_limited("GET", "/api/v2/payments/history"));
        assert!(is_public_lookup(
            "GET",
            "/api/v2/certificates/verify/CERT-2026-X"
        ));
        assert!(is_public_lookup(
            "GET",
            "/api/v2/certificates/share/CERT-2026-X"
        ));
        assert!(!is_public_lookup("GET", "/api/v2/certificates"));
    }
}
