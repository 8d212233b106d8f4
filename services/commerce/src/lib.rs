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
) -> Result<Vec<bus::ConsumerSpec>, StartError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The gateway merges the services' documents keeping the first schema of each name, so two
    /// services naming different shapes alike would silently document one of them wrongly.
    #[test]
    fn no_two_documents_give_one_schema_name_two_shapes() {
        let mut docs = vec![gateway::routes::webhooks::openapi()];
        docs.extend(registry().iter().filter_map(|f| f.openapi()));
        let mut seen: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        let mut clashes = Vec::new();
        for doc in docs {
            let doc = serde_json::to_value(doc).unwrap_or_default();
            let schemas = doc["components"]["schemas"].as_object().cloned();
            for (name, schema) in schemas.unwrap_or_default() {
                match seen.get(&name) {
                    Some(first) if *first != schema => clashes.push(name),
                    Some(_) => {}
                    None => {
                        seen.insert(name, schema);
                    }
                }
            }
        }
        assert!(
            clashes.is_empty(),
            "schema names with two shapes: {clashes:?}"
        );
    }

    #[test]
    fn the_merged_document_has_no_internal_route() {
        let docs: Vec<_> = registry()
            .iter()
            .filter_map(|f| f.openapi().map(|d| (f.name().to_string(), d)))
            .collect();
        let doc = serde_json::to_value(gateway::routes::docs::merged(&docs)).unwrap_or_default();
        let paths = doc["paths"].as_object().cloned().unwrap_or_default();
        assert!(paths.len() > 80, "{} paths", paths.len());
        let internal: Vec<_> = paths.keys().filter(|p| p.contains("/internal")).collect();
        assert!(internal.is_empty(), "{internal:?}");
    }
}
