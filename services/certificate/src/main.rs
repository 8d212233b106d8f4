//! The certificate service on its own: `certificate [--config FILE]`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    runtime::serve_one(std::sync::Arc::new(
        certificate::CertificateService::default(),
    ))
    .await
}
