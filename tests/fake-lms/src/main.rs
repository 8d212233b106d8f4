//! `fake-lms [--port 8090]`: the fake LMS for local runs. Configured by the same variables as the
//! platform: COMMERCE__REGISTRATION__LMS_API_KEY, COMMERCE__REGISTRATION__LMS_WEBHOOK_SECRET, and
//! FAKE_LMS_WEBHOOK_URL (default http://127.0.0.1:8080/api/v1/webhooks/enrollment-status).

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .skip_while(|a| a != "--port")
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8090);
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let lms = fake_lms::FakeLms::start(
        fake_lms::Config {
            api_key: env(
                "COMMERCE__REGISTRATION__LMS_API_KEY",
                "dev-lms-connector-key",
            ),
            webhook_url: env(
                "FAKE_LMS_WEBHOOK_URL",
                "http://127.0.0.1:8080/api/v1/webhooks/enrollment-status",
            ),
            webhook_secret: env(
                "COMMERCE__REGISTRATION__LMS_WEBHOOK_SECRET",
                "whsec_ZGV2LWxtcy13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg5",
            ),
        },
        port,
    )?;
    println!("fake LMS on {} (GET /received lists what it got)", lms.url);
    tokio::signal::ctrl_c().await?;
    lms.stop().await;
    Ok(())
}
