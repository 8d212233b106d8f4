//! Configuration: defaults compiled in → an optional file → `COMMERCE__…` environment variables,
//! validated at start so a bad value stops the process with a clear message.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Whether a configured URL is an http(s) URL (every service's settings check their URLs so).
pub fn is_http_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// The documented defaults (`deploy/commerce.default.toml`).
pub const DEFAULTS: &str = include_str!("../../../deploy/commerce.default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub nats: NatsSettings,
    pub auth: web::auth::AuthSettings,
    pub telemetry: TelemetrySettings,
    pub outbox: OutboxSettings,
    pub commerce: CommerceSettings,
    pub gateway: GatewaySettings,
    pub internal: InternalSettings,
    /// Everything loaded, for the sections each service owns and reads itself
    /// ([`Settings::section`]): `cart_order`, `payment`, `registration`, ...
    #[serde(skip)]
    raw: Raw,
}

/// The loaded configuration, kept for [`Settings::section`]; its `Debug` shows nothing (it holds
/// secrets).
#[derive(Clone, Default)]
struct Raw(Option<std::sync::Arc<config::Config>>);

impl std::fmt::Debug for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Raw(..)")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct InternalSettings {
    pub api_key: kernel::Secret,
    pub timeout_ms: u64,
    /// Base URL per service for service-to-service calls; absent = this process.
    pub urls: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    pub host: String,
    pub port: u16,
    pub body_limit: usize,
    pub workers: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub connect_timeout_secs: u64,
    pub auto_migrate: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NatsSettings {
    pub url: String,
    pub subject_prefix: String,
    pub stream_suffix: String,
    pub duplicate_window_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TelemetrySettings {
    pub json: bool,
    pub filter: String,
    pub otlp_endpoint: Option<String>,
    /// Seconds between two samples of the backbone's gauges (outbox, consumer and delivery
    /// backlogs, dead letters); 0 samples nothing.
    pub sample_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OutboxSettings {
    pub poll_ms: u64,
    pub retention_hours: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommerceSettings {
    pub settlement_currency: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GatewaySettings {
    pub upstreams: BTreeMap<String, String>,
    pub timeout_ms: u64,
    pub rate_limit_per_minute: u32,
    pub rate_limit_burst: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Loads defaults, then `file` (if any), then the environment.
    pub fn load(file: Option<&str>) -> Result<Settings, SettingsError> {
        Self::load_with(file, &[])
    }

    /// As [`Settings::load`], with explicit overrides on top (tests use them).
    pub fn load_with(
        file: Option<&str>,
        overrides: &[(&str, String)],
    ) -> Result<Settings, SettingsError> {
        Self::load_from(file, overrides, None)
    }

    /// As [`Settings::load_with`], reading `env` instead of the process environment when given.
    /// Values from the environment stay strings until a setting's type asks for a number or a
    /// boolean: an id such as a merchant number `0021999` keeps its leading zeros.
    fn load_from(
        file: Option<&str>,
        overrides: &[(&str, String)],
        env: Option<std::collections::HashMap<String, String>>,
    ) -> Result<Settings, SettingsError> {
        let mut b = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(f) = file {
            b = b.add_source(config::File::with_name(f).required(true));
        }
        b = b.add_source(
            config::Environment::with_prefix("COMMERCE")
                .prefix_separator("__")
                .separator("__")
                .source(env),
        );
        for (k, v) in overrides {
            b = b.set_override(*k, v.clone())?;
        }
        let built = b.build()?;
        let mut s: Settings = built.clone().try_deserialize()?;
        s.raw = Raw(Some(std::sync::Arc::new(built)));
        s.normalize();
        s.validate()?;
        Ok(s)
    }

    /// Service names in maps keyed by service accept `_` for `-`: an environment variable
    /// cannot contain `-`, so `COMMERCE__GATEWAY__UPSTREAMS__CART_ORDER` sets `cart-order`.
    fn normalize(&mut self) {
        let fix = |m: &mut BTreeMap<String, String>| {
            *m = std::mem::take(m)
                .into_iter()
                .map(|(k, v)| (k.replace('_', "-"), v))
                .collect();
        };
        fix(&mut self.gateway.upstreams);
        fix(&mut self.internal.urls);
    }

    /// A service's own section, read into its configuration type. Every key has its default in
    /// `deploy/commerce.default.toml`; a missing or mistyped key stops the service at start.
    pub fn section<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, SettingsError> {
        let raw = self
            .raw
            .0
            .as_ref()
            .ok_or_else(|| SettingsError::Invalid("settings were not loaded".into()))?;
        raw.get::<T>(name)
            .map_err(|e| SettingsError::Invalid(format!("[{name}]: {e}")))
    }

    /// Whether the settings hold a `[name]` section.
    pub fn has_section(&self, name: &str) -> bool {
        self.raw
            .0
            .as_ref()
            .is_some_and(|raw| raw.get_table(name).is_ok())
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        let bad = |m: String| Err(SettingsError::Invalid(m));
        if self.http.body_limit == 0 {
            return bad("http.body_limit must be positive".into());
        }
        if self.http.workers == 0 {
            return bad("http.workers must be at least 1".into());
        }
        if !self.database.url.starts_with("postgres://")
            && !self.database.url.starts_with("postgresql://")
        {
            return bad(format!(
                "database.url must be a postgres:// URL, not `{}`",
                self.database.url
            ));
        }
        if !self.nats.url.starts_with("nats://") && !self.nats.url.contains(':') {
            return bad(format!(
                "nats.url must be a nats:// URL, not `{}`",
                self.nats.url
            ));
        }
        if self.auth.hs256_secret.is_none()
            && self.auth.jwks_file.is_none()
            && self.auth.jwks_url.is_none()
        {
            return bad(
                "auth: set auth.hs256_secret (development) or auth.jwks_url / auth.jwks_file"
                    .into(),
            );
        }
        if let Some(s) = &self.auth.hs256_secret
            && s.len() < 16
        {
            return bad("auth.hs256_secret must be at least 16 characters".into());
        }
        if kernel::Currency::parse(&self.commerce.settlement_currency).is_err() {
            return bad(format!(
                "commerce.settlement_currency `{}` is not an ISO 4217 code",
                self.commerce.settlement_currency
            ));
        }
        for (name, url) in &self.gateway.upstreams {
            if !is_http_url(url) {
                return bad(format!("gateway.upstreams.{name} must be an http(s) URL"));
            }
        }
        if self.internal.api_key.len() < 16 {
            return bad("internal.api_key must be at least 16 characters".into());
        }
        if self.gateway.rate_limit_per_minute == 0 || self.gateway.rate_limit_burst == 0 {
            return bad("gateway rate limits must be positive".into());
        }
        Ok(())
    }

    pub fn db(&self) -> db::DbSettings {
        db::DbSettings {
            url: self.database.url.clone(),
            max_connections: self.database.max_connections,
            connect_timeout: Duration::from_secs(self.database.connect_timeout_secs),
        }
    }

    pub fn bus(&self) -> bus::BusSettings {
        bus::BusSettings {
            url: self.nats.url.clone(),
            subject_prefix: self.nats.subject_prefix.clone(),
            stream_suffix: self.nats.stream_suffix.clone(),
            duplicate_window: Duration::from_secs(self.nats.duplicate_window_secs),
            request_timeout: Duration::from_secs(5),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_only_a_secret() {
        let s = Settings::load_with(
            None,
            &[("auth.hs256_secret", "0123456789abcdef0123".into())],
        )
        .unwrap();
        assert_eq!(s.http.port, 8080);
        assert_eq!(s.commerce.settlement_currency, "USD");
    }

    #[test]
    fn rejects_invalid_values() {
        let secret = ("auth.hs256_secret", "0123456789abcdef0123".to_string());
        let mut no_keys = Settings::load_with(None, std::slice::from_ref(&secret)).unwrap();
        no_keys.auth = web::auth::AuthSettings::default();
        assert!(no_keys.validate().is_err(), "no auth keys");
        let e = Settings::load_with(
            None,
            &[
                secret.clone(),
                ("commerce.settlement_currency", "XXX".into()),
            ],
        );
        assert!(matches!(e, Err(SettingsError::Invalid(_))));
        let e = Settings::load_with(
            None,
            &[secret.clone(), ("database.url", "mysql://x".into())],
        );
        assert!(matches!(e, Err(SettingsError::Invalid(_))));
    }

    #[test]
    fn environment_values_keep_their_text_until_a_number_is_asked_for() {
        let env = std::collections::HashMap::from([
            (
                "COMMERCE__AUTH__HS256_SECRET".to_string(),
                "0123456789abcdef0123".to_string(),
            ),
            (
                "COMMERCE__PAYMENT__CONVERGE_MERCHANT_ID".to_string(),
                "0021999".to_string(),
            ),
            (
                "COMMERCE__CART_ORDER__CART_TTL_HOURS".to_string(),
                "50".to_string(),
            ),
            ("COMMERCE__OUTBOX__POLL_MS".to_string(), "25".to_string()),
        ]);
        let s = Settings::load_from(None, &[], Some(env)).unwrap();
        #[derive(serde::Deserialize)]
        struct Payment {
            converge_merchant_id: String,
        }
        #[derive(serde::Deserialize)]
        struct CartOrder {
            cart_ttl_hours: u64,
        }
        let p: Payment = s.section("payment").unwrap();
        assert_eq!(
            p.converge_merchant_id, "0021999",
            "not read as the number 21999"
        );
        let c: CartOrder = s.section("cart_order").unwrap();
        assert_eq!(c.cart_ttl_hours, 50);
        assert_eq!(s.outbox.poll_ms, 25, "typed settings still read numbers");
    }

    #[test]
    fn service_sections_and_env_names_of_services() {
        let s = Settings::load_with(
            None,
            &[
                ("auth.hs256_secret", "0123456789abcdef0123".into()),
                (
                    "gateway.upstreams.cart_order",
                    "http://cart-order:8080".into(),
                ),
                ("internal.urls.cart_order", "http://cart-order:8080".into()),
                ("cart_order.cart_ttl_hours", "50".into()),
            ],
        )
        .unwrap();
        assert_eq!(s.gateway.upstreams["cart-order"], "http://cart-order:8080");
        assert_eq!(s.internal.urls["cart-order"], "http://cart-order:8080");
        #[derive(serde::Deserialize)]
        struct CartOrder {
            cart_ttl_hours: u64,
        }
        let c: CartOrder = s.section("cart_order").unwrap();
        assert_eq!(
            c.cart_ttl_hours, 50,
            "strings from the environment are coerced"
        );
        assert!(s.section::<CartOrder>("nope").is_err());
        assert!(
            !format!("{s:?}").contains("0123456789abcdef0123"),
            "secrets are redacted"
        );
    }
}
