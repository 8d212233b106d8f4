//! The catalog service on its own: `catalog [--config FILE]`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    runtime::serve_one(std::sync::Arc::new(catalog::CatalogService)).await
}
