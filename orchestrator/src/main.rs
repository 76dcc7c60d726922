//! `orchestrator`: the control-plane service (login, placement, tickets, zone registry).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arcane_orchestrator::{ApiConfig, MemoryState, Orchestrator, RedisState, SharedState, Store};
use arcane_protocol::ticket::TicketKey;
use clap::Parser;

/// The development ticket secret zones also default to (see `zone-server --help`).
const DEV_TICKET_SECRET: &str = "arcane-dev-secret-change-me";

#[derive(Parser)]
#[command(name = "orchestrator", about = "Arcane Realms orchestrator", version)]
struct Cli {
    #[arg(
        long,
        env = "ARCANE_ORCHESTRATOR_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    addr: SocketAddr,
    /// `sqlite://file.db` (created when missing) or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://arcane.db")]
    database_url: String,
    /// Shared state in Redis (for several replicas); in memory when unset.
    #[arg(long, env = "REDIS_URL")]
    redis_url: Option<String>,
    #[arg(long, env = "ARCANE_TICKET_SECRET", default_value = DEV_TICKET_SECRET, hide_env_values = true)]
    ticket_secret: String,
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    ticket_ttl: Duration,
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    heartbeat_timeout: Duration,
    #[arg(long, default_value = "meadow")]
    start_zone: String,
}

async fn run<S: SharedState>(cli: Cli, store: Store, shared: S) -> anyhow::Result<()> {
    let config = ApiConfig {
        ticket_secret: cli.ticket_secret.clone(),
        ticket_ttl: cli.ticket_ttl,
        heartbeat_timeout: cli.heartbeat_timeout,
        placement_ttl: cli.ticket_ttl,
        start_zone: cli.start_zone.clone(),
        start_position: (500.0, 500.0),
        start_vitals: (200, 100),
    };
    let state = Arc::new(Orchestrator {
        store,
        shared,
        key: TicketKey::new(&cli.ticket_secret),
        config,
    });
    let listener = tokio::net::TcpListener::bind(cli.addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "orchestrator listening");
    tokio::select! {
        r = arcane_orchestrator::api::serve(listener, state) => r?,
        _ = tokio::signal::ctrl_c() => tracing::info!("shutting down"),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    if cli.ticket_secret == DEV_TICKET_SECRET {
        tracing::warn!(
            "using the development ticket secret; set ARCANE_TICKET_SECRET in production"
        );
    }
    let store = Store::connect(&cli.database_url).await?;
    match cli.redis_url.clone() {
        Some(url) => {
            let shared = RedisState::connect(&url, "arcane").await?;
            run(cli, store, shared).await
        }
        None => run(cli, store, MemoryState::default()).await,
    }
}
