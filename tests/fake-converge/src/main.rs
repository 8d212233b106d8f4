//! `fake-converge [--port 8095]`: the fake Converge for local runs, configured by the platform's
//! own variables: COMMERCE__PAYMENT__CONVERGE_MERCHANT_ID, COMMERCE__PAYMENT__CONVERGE_USER_ID and
//! COMMERCE__PAYMENT__CONVERGE_PIN. `POST /hosted-payments/lightbox` with `ssl_txn_auth_token`
//! (the payment's clientSecret) and `card` stands in for the Lightbox.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .skip_while(|a| a != "--port")
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8095);
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let config = fake_converge::Config {
        merchant_id: env("COMMERCE__PAYMENT__CONVERGE_MERCHANT_ID", "0021999"),
        user_id: env("COMMERCE__PAYMENT__CONVERGE_USER_ID", "cadenceapi"),
        pin: env(
            "COMMERCE__PAYMENT__CONVERGE_PIN",
            "CADENCEFAKEPIN0123456789",
        ),
    };
    let converge = fake_converge::FakeConverge::start(config, port)?;
    println!(
        "fake Converge on {} (Lightbox stand-in: POST /hosted-payments/lightbox)",
        converge.url
    );
    tokio::signal::ctrl_c().await?;
    converge.stop().await;
    Ok(())
}
