//! The payment service on its own: `payment [--config FILE]`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    runtime::serve_one(std::sync::Arc::new(payment::PaymentService::default())).await
}
