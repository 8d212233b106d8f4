//! `fake-square [--port 8094]`: the fake Square for local runs, configured by the platform's own
//! variables: COMMERCE__PAYMENT__SQUARE_ACCESS_TOKEN, COMMERCE__PAYMENT__SQUARE_LOCATION_ID,
//! COMMERCE__PAYMENT__SQUARE_WEBHOOK_SIGNATURE_KEY, and FAKE_SQUARE_WEBHOOK_URL (default
//! http://127.0.0.1:8080/api/v2/payments/webhook/square).

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .skip_while(|a| a != "--port")
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8094);
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let config = fake_square::Config::new(
        env(
            "COMMERCE__PAYMENT__SQUARE_ACCESS_TOKEN",
            "EAAAsandbox-cadence-fake",
        ),
        env("COMMERCE__PAYMENT__SQUARE_LOCATION_ID", "LCADENCEFAKE"),
        env(
            "FAKE_SQUARE_WEBHOOK_URL",
            "http://127.0.0.1:8080/api/v2/payments/webhook/square",
        ),
        env(
            "COMMERCE__PAYMENT__SQUARE_WEBHOOK_SIGNATURE_KEY",
            "cadence-fake-square-signature-key",
        ),
    );
    let webhook_url = config.webhook_url.clone();
    let square = fake_square::FakeSquare::start(config, port)?;
    println!("fake Square on {} (webhooks to {webhook_url})", square.url);
    tokio::signal::ctrl_c().await?;
    square.stop().await;
    Ok(())
}
