//! The `commerce` binary's library: the registry of every service and the entry points that
//! the binary and the end-to-end tests share.

use runtime::{Host, ServiceFactory, Settings, StartError};
use std::sync::Arc;

pub mod seed;

/// Every service this build contains. The gateway comes first so its webhook routes are
/// matched before any service's own scopes.
pub fn registry() -> Vec<Arc<dyn ServiceFactory>> {
    vec![
        Arc::new(gateway::GatewayService),
        Arc::new(catalog::CatalogService),
        Arc::new(cart_order::CartOrderService::default()),
        Arc::new(payment::PaymentService::default()),
        Arc::new(registration::RegistrationService::default()),
        Arc::new(payout::PayoutService::default()),
        Arc::new(certificate::CertificateService::default()),
        Arc::new(notification::NotificationService),
    ]
}

/// Parses `--services all` or `catalog,gateway`.
pub fn parse_services(list: &str) -> Vec<String> {
    list.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Starts the chosen services in this process.
pub async fn start(settings: Settings, services: &[String]) -> Result<Host, StartError> {
    Host::start(settings, &registry(), services).await
}

/// Declares the JetStream streams and the chosen services' durable consumers.
pub async fn setup_jetstream(
    settings: Settings,
    services: &[String],
) -> Result<Vec<String>, StartError> {
    runtime::setup_jetstream(settings, &registry(), services).await
}

/// Migrates the chosen services' schemas.
pub async fn migrate(
    settings: &Settings,
    services: &[String],
) -> Result<Vec<&'static str>, StartError> {
    let chosen = runtime::resolve(&registry(), services)?;
    let mut done = Vec::new();
    for f in chosen {
        f.migrate(settings).await?;
        done.push(f.name());
    }
    Ok(done)
}
