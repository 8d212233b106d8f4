//! The cart-order service on its own: `cart-order [--config FILE]`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    runtime::serve_one(std::sync::Arc::new(cart_order::CartOrderService::default())).await
}
