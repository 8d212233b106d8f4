//! The catalog service on its own: `catalog [--config FILE]`.

use std::sync::Arc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    telemetry::install_crypto_provider();
    let config = std::env::args().skip_while(|a| a != "--config").nth(1);
    let settings = match runtime::Settings::load(config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let services: Vec<Arc<dyn runtime::ServiceFactory>> = vec![Arc::new(catalog::CatalogService)];
    match runtime::Host::start(settings, &services, &["catalog".to_string()]).await {
        Ok(host) => host.run_until_signal().await,
        Err(e) => {
            eprintln!("catalog: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    std::process::ExitCode::SUCCESS
}
