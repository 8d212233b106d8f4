//! The gateway service on its own: `gateway [--config FILE]`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    runtime::serve_one(std::sync::Arc::new(gateway::GatewayService)).await
}
