//! The payout service on its own: `payout [--config FILE]`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    runtime::serve_one(std::sync::Arc::new(payout::PayoutService::default())).await
}
