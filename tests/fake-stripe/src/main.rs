//! `fake-stripe [--port 12111]`: the fake Stripe for local runs. Configured by the same
//! variables as the platform: COMMERCE__PAYMENT__STRIPE_SECRET_KEY,
//! COMMERCE__PAYMENT__STRIPE_PUBLISHABLE_KEY (only printed: the fake serves no client-side API),
//! COMMERCE__PAYMENT__STRIPE_WEBHOOK_SECRET, and FAKE_STRIPE_WEBHOOK_URL (default
//! http://127.0.0.1:8080/api/v2/payments/webhook/stripe).

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .skip_while(|a| a != "--port")
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(12111);
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let config = fake_stripe::Config::new(
        env(
            "COMMERCE__PAYMENT__STRIPE_SECRET_KEY",
            "sk_test_cadence_fake",
        ),
        env(
            "FAKE_STRIPE_WEBHOOK_URL",
            "http://127.0.0.1:8080/api/v2/payments/webhook/stripe",
        ),
        env(
            "COMMERCE__PAYMENT__STRIPE_WEBHOOK_SECRET",
            "whsec_Y2FkZW5jZS1mYWtlLXN0cmlwZS13ZWJob29r",
        ),
    );
    let publishable = env(
        "COMMERCE__PAYMENT__STRIPE_PUBLISHABLE_KEY",
        "pk_test_cadence_fake",
    );
    let webhook_url = config.webhook_url.clone();
    let stripe = fake_stripe::FakeStripe::start(config, port)?;
    println!(
        "fake Stripe on {} (publishable key {publishable}; webhooks to {webhook_url})",
        stripe.url
    );
    tokio::signal::ctrl_c().await?;
    stripe.stop().await;
    Ok(())
}
