//! `commerce`: run any set of services in one process, migrate, mint dev tokens, seed a demo
//! catalog, and operate the event backbone (outbox replay, dead letters).

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "commerce", about = "Cadence Commerce")]
struct Cli {
    /// A TOML file layered over the defaults (environment variables still win).
    #[arg(long, global = true)]
    config: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve: `--services all` or a list such as `catalog,gateway`.
    Serve {
        #[arg(long, default_value = "all")]
        services: String,
    },
    /// Create or update the schemas of the chosen services.
    Migrate {
        #[arg(long, default_value = "all")]
        services: String,
    },
    /// Declare the JetStream streams and the chosen services' durable consumers (idempotent; a
    /// cluster's setup Job runs it before the services start).
    SetupJetstream {
        #[arg(long, default_value = "all")]
        services: String,
    },
    /// Print an HS256 development token (needs auth.hs256_secret).
    DevToken {
        #[arg(long)]
        sub: String,
        #[arg(long, value_delimiter = ',', default_value = "learner")]
        roles: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        departments: Vec<String>,
        #[arg(long, default_value_t = 12)]
        ttl_hours: u64,
        /// The SSO `email` claim (emails to the learner go there).
        #[arg(long)]
        email: Option<String>,
        /// The SSO `name` claim.
        #[arg(long)]
        name: Option<String>,
    },
    /// Create the demo catalog through the API at `--url`.
    Seed {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Re-publish a service's outbox rows `--from..=--to` (consumers ignore what they have seen).
    Replay {
        #[arg(long)]
        schema: String,
        #[arg(long)]
        from: i64,
        #[arg(long)]
        to: i64,
    },
    /// List parked (dead-lettered) messages.
    DeadLetters,
    /// Publish a dead letter again on its original subject.
    Redrive {
        #[arg(long)]
        seq: u64,
    },
    /// Compare a processor's charges and refunds over a period with ours; the run and its
    /// findings are stored (as from /api/v2/admin/reconciliation). Exits non-zero on any
    /// difference.
    Reconcile {
        /// `square`, `converge`: a processor this configuration enables.
        #[arg(long)]
        processor: String,
        /// RFC 3339 start of the period.
        #[arg(long)]
        since: chrono::DateTime<chrono::Utc>,
        /// RFC 3339 end of the period (default: now).
        #[arg(long)]
        until: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// The revenue ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Recompute every invariant of the revenue ledger; list each entry that breaks one and exit
    /// non-zero if any does.
    Verify,
}

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::install_crypto_provider();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("commerce: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let settings = runtime::Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve { services } => {
            let host = commerce::start(settings, &commerce::parse_services(&services)).await?;
            host.run_until_signal().await;
            telemetry::shutdown();
        }
        Command::Migrate { services } => {
            for name in commerce::migrate(&settings, &commerce::parse_services(&services)).await? {
                println!("migrated {name}");
            }
        }
        Command::SetupJetstream { services } => {
            let chosen = commerce::parse_services(&services);
            for c in commerce::setup_jetstream(settings, &chosen).await? {
                println!(
                    "declared consumer {} ({} {})",
                    c.durable, c.stream, c.filter
                );
            }
        }
        Command::DevToken {
            sub,
            roles,
            departments,
            ttl_hours,
            email,
            name,
        } => {
            let secret = settings
                .auth
                .hs256_secret
                .as_ref()
                .map(kernel::Secret::expose)
                .ok_or("auth.hs256_secret is not set")?;
            let token = web::auth::mint_dev_token_with_profile(
                secret,
                &sub,
                &roles,
                &departments,
                email.as_deref(),
                name.as_deref(),
                Duration::from_secs(ttl_hours * 3600),
            )?;
            println!("{token}");
        }
        Command::Seed { url } => {
            let secret = settings
                .auth
                .hs256_secret
                .as_ref()
                .map(kernel::Secret::expose)
                .ok_or("auth.hs256_secret is not set")?;
            let token = web::auth::mint_dev_token(
                secret,
                "seed",
                &["billing-admin".into()],
                &[],
                Duration::from_secs(600),
            )?;
            commerce::seed::seed(url.trim_end_matches('/'), &token).await?;
            println!("demo catalog ready");
        }
        Command::Replay { schema, from, to } => {
            let conn = db::connect(&settings.db(), &schema).await?;
            let n = bus::outbox::replay(&conn, from, to).await?;
            println!("{n} events will be published again by the {schema} relay");
        }
        Command::DeadLetters => {
            let b = bus::Bus::connect(&settings.bus()).await?;
            for d in b.dead_letters().await? {
                println!(
                    "seq={} consumer={} subject={} type={} event={} deliveries={} reason={}",
                    d.seq,
                    d.consumer,
                    d.original_subject,
                    d.event_type,
                    d.event_id,
                    d.deliveries,
                    d.reason
                );
            }
        }
        Command::Redrive { seq } => {
            let b = bus::Bus::connect(&settings.bus()).await?;
            b.replay_dead_letter(seq).await?;
            println!("dead letter {seq} published again");
        }
        Command::Reconcile {
            processor,
            since,
            until,
        } => {
            let cfg = payment::config::PaymentConfig::load(&settings)?;
            let clock: std::sync::Arc<dyn kernel::Clock> = std::sync::Arc::new(kernel::SystemClock);
            // No webhook is sent from here: the sandbox's URL is never used.
            let processors = payment::processors(&cfg, clock.clone(), "http://127.0.0.1/")?;
            let conn = db::connect(&settings.db(), payment::SCHEMA).await?;
            let to = until.unwrap_or_else(|| clock.now());
            let run = payment::reconcile::run(
                &conn,
                &processors,
                &processor,
                since,
                to,
                "cli",
                clock.as_ref(),
            )
            .await
            .map_err(|e| format!("{}: {}", e.code, e.detail))?;
            for f in payment::storage::reconciliation::items(&conn, run.id, true).await? {
                println!(
                    "{} {} processor={} payment={} ours={} theirs={} {}",
                    f.finding,
                    f.kind,
                    f.processor_id.unwrap_or_default(),
                    f.payment_id.map(|u| u.to_string()).unwrap_or_default(),
                    f.ours_amount_minor
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                    f.theirs_amount_minor
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                    f.currency
                );
            }
            if run.differences > 0 {
                return Err(format!(
                    "run {}: {} differences in {} items compared",
                    run.id, run.differences, run.compared
                )
                .into());
            }
            println!("run {}: clean, {} items compared", run.id, run.compared);
        }
        Command::Ledger {
            command: LedgerCommand::Verify,
        } => {
            let conn = db::connect(&settings.db(), payout::SCHEMA).await?;
            let (orders, violations) = payout::verify::verify(&conn).await?;
            for v in &violations {
                println!("entry {} (order {}): {}", v.entry, v.order, v.problem);
            }
            if !violations.is_empty() {
                return Err(format!(
                    "{} ledger entries break an invariant ({orders} orders checked)",
                    violations.len()
                )
                .into());
            }
            println!("ledger clean: {orders} orders checked");
        }
    }
    Ok(())
}
