//! The gateway's settings: the `[gateway]` section, which the runtime keeps among the
//! infrastructure settings because every deployment shape needs it. Read and validated here.

use runtime::{Settings, StartError};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Base URL of each service hosted elsewhere (`cart-order` or `cart_order`).
    pub upstreams: BTreeMap<String, String>,
    /// How long a proxied request may take.
    pub timeout: Duration,
    /// Checkout and payment POSTs per minute per caller, and the burst allowed.
    pub rate_per_minute: u32,
    pub burst: u32,
}

impl GatewayConfig {
    pub fn load(settings: &Settings) -> Result<GatewayConfig, StartError> {
        let g = &settings.gateway;
        if g.timeout_ms == 0 {
            return Err(StartError::Other(
                "gateway.timeout_ms must be positive".into(),
            ));
        }
        Ok(GatewayConfig {
            upstreams: g.upstreams.clone(),
            timeout: Duration::from_millis(g.timeout_ms),
            rate_per_minute: g.rate_limit_per_minute,
            burst: g.rate_limit_burst,
        })
    }
}

/// The processors' webhook signing secrets, read from the payment service's section (one place
/// for each secret): the gateway checks Stripe-scheme signatures at the edge. A deployment
/// whose settings hold no `[payment]` section checks nothing here (payment still does).
pub fn processor_webhook_secrets(
    settings: &Settings,
) -> Result<BTreeMap<String, kernel::Secret>, StartError> {
    #[derive(serde::Deserialize, Default)]
    struct Secrets {
        #[serde(default)]
        sandbox_webhook_secret: Option<kernel::Secret>,
        #[serde(default)]
        stripe_webhook_secret: Option<kernel::Secret>,
    }
    let s: Secrets = if settings.has_section("payment") {
        settings.section("payment")?
    } else {
        Secrets::default()
    };
    let mut out = BTreeMap::new();
    if let Some(secret) = s.sandbox_webhook_secret.filter(|s| !s.is_empty()) {
        out.insert("sandbox".to_string(), secret);
    }
    if let Some(secret) = s.stripe_webhook_secret.filter(|s| !s.is_empty()) {
        out.insert("stripe".to_string(), secret.clone());
        out.insert("gpay".to_string(), secret);
    }
    Ok(out)
}

/// Square's webhook signature key and notification URL, when Square runs (its access token set).
pub fn square_webhook(settings: &Settings) -> Result<Option<(kernel::Secret, String)>, StartError> {
    #[derive(serde::Deserialize, Default)]
    struct Square {
        #[serde(default)]
        square_access_token: Option<kernel::Secret>,
        #[serde(default)]
        square_webhook_signature_key: Option<kernel::Secret>,
        #[serde(default)]
        square_webhook_url: Option<String>,
    }
    let s: Square = if settings.has_section("payment") {
        settings.section("payment")?
    } else {
        Square::default()
    };
    let enabled = s.square_access_token.is_some_and(|t| !t.is_empty());
    Ok(
        match (
            enabled,
            s.square_webhook_signature_key,
            s.square_webhook_url,
        ) {
            (true, Some(key), Some(url)) if !key.is_empty() && !url.is_empty() => Some((key, url)),
            _ => None,
        },
    )
}

/// The LMS webhooks the gateway verifies at the edge (Standard Webhooks), by endpoint name:
/// `lms-completion` with the certificate service's `lms_webhook_secret`. A completion that does
/// not verify is answered 400 and never relayed.
pub fn lms_webhook_secrets(
    settings: &Settings,
) -> Result<BTreeMap<String, kernel::Secret>, StartError> {
    #[derive(serde::Deserialize, Default)]
    struct Secrets {
        #[serde(default)]
        lms_webhook_secret: Option<kernel::Secret>,
    }
    let s: Secrets = if settings.has_section("certificate") {
        settings.section("certificate")?
    } else {
        Secrets::default()
    };
    let mut out = BTreeMap::new();
    if let Some(secret) = s.lms_webhook_secret.filter(|s| !s.is_empty()) {
        out.insert("lms-completion".to_string(), secret);
    }
    Ok(out)
}
