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

/// The path as routing sees it: percent-escapes decoded (`/%76erify` is `/verify`), so no
/// spelling of a limited path escapes its limit.
pub fn decoded(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|c| hex(*c)),
                b.get(i + 2).and_then(|c| hex(*c)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
        assert!(is_public_lookup(
            "GET",
            &decoded("/api/v2/certificates/%76erify/CERT-1")
        ));
        assert_eq!(decoded("/a%2"), "/a%2");
        assert_eq!(decoded("/a%zz"), "/a%zz");
    }
}
