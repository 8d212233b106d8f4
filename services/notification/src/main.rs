//! The notification service on its own: `notification [--config FILE]`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    runtime::serve_one(std::sync::Arc::new(notification::NotificationService)).await
}
