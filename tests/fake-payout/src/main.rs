//! `fake-payout [--port 8092]`: the fake Payout Platform for local runs. Its secret is the
//! platform's own variable COMMERCE__PAYOUT__WEBHOOK_SECRET (default: the development secret).

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .skip_while(|a| a != "--port")
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8092);
    let secret = std::env::var("COMMERCE__PAYOUT__WEBHOOK_SECRET")
        .unwrap_or_else(|_| "whsec_ZGV2LXBheW91dC13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg=".to_string());
    let payout = fake_payout::FakePayout::start(
        fake_payout::Config {
            webhook_secret: secret,
        },
        port,
    )?;
    println!(
        "fake Payout Platform on {} (GET /received lists what it got)",
        payout.url
    );
    tokio::signal::ctrl_c().await?;
    payout.stop().await;
    Ok(())
}
