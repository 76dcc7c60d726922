//! `zone-server`: runs one zone until SIGTERM or Ctrl-C.

use clap::Parser;

#[derive(Parser)]
#[command(name = "zone-server", about = "Arcane Realms zone server", version)]
struct Cli {
    #[command(flatten)]
    config: arcane_zone_server::ZoneServerConfig,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let zone = arcane_zone_server::start(cli.config).await?;
        wait_for_signal().await;
        tracing::info!("shutting down");
        zone.shutdown();
        zone.wait().await;
        Ok(())
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
