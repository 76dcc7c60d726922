//! `zone-server`: runs one zone until SIGTERM or Ctrl-C.

use clap::Parser;

#[derive(Parser)]
#[command(name = "zone-server", about = "Arcane Realms zone server", version)]
struct Cli {
    #[command(flatten)]
    config: arcane_zone_server::ZoneServerConfig,
    /// Threads serving connections (default: one less than the cores, at least one).
    #[arg(long, env = "ARCANE_IO_THREADS")]
    io_threads: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let io_threads = cli.io_threads.unwrap_or_else(|| {
        // Leave one core to the tick thread.
        std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(io_threads)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let zone = arcane_zone_server::start(cli.config).await?;
        let failed = tokio::select! {
            _ = wait_for_signal() => false,
            _ = zone.closed() => false,
            _ = zone.tick_stopped() => true,
        };
        tracing::info!("shutting down");
        zone.shutdown();
        zone.wait().await;
        if failed {
            // Exit non-zero so the supervisor restarts the zone.
            anyhow::bail!("the tick thread stopped unexpectedly; see the log above");
        }
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
