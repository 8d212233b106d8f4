//! The registration service on its own: `registration [--config FILE]`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    runtime::serve_one(std::sync::Arc::new(
        registration::RegistrationService::default(),
    ))
    .await
}
