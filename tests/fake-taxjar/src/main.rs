//! `fake-taxjar [--port 8093]`: the fake TaxJar for local runs. Its token is the platform's own
//! variable COMMERCE__CART_ORDER__TAXJAR_TOKEN (default: the development token).

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .skip_while(|a| a != "--port")
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8093);
    let token = std::env::var("COMMERCE__CART_ORDER__TAXJAR_TOKEN")
        .unwrap_or_else(|_| "dev-taxjar-token".to_string());
    let taxjar = fake_taxjar::FakeTaxJar::start(&token, port)?;
    println!("fake TaxJar on {} (POST /v2/taxes)", taxjar.url);
    tokio::signal::ctrl_c().await?;
    taxjar.stop().await;
    Ok(())
}
