//! The zone process: loads content, runs the zone's tick on its own thread, serves
//! clients over WebSocket, and exposes `/metrics` and `/healthz` on an admin port.
//!
//! **Architecture Invariant:** the tick thread never awaits, never blocks on a socket
//! and never touches a database; it talks to sessions only through bounded channels
//! and per-connection outboxes, and to persistence through a queue that holds at most
//! one checkpoint batch plus one job per leaving or transferring player.

pub mod admin;
pub mod agones;
pub mod config;
pub mod control;
pub mod metrics;
pub mod outbox;
pub mod persist;
pub mod quic;
pub mod quic_driver;
pub mod reload;
pub mod server;
pub mod session;
pub mod tick;
pub mod ws;
pub mod ws_socket;

pub use config::ZoneServerConfig;
pub use server::{DrainOutcome, RunningZone, start};

/// How a zone process runs its I/O threads.
#[derive(Debug, Clone, clap::Args)]
pub struct IoOptions {
    /// Threads serving connections (default: one less than the cores, at least one).
    #[arg(long, env = "ARCANE_IO_THREADS")]
    pub io_threads: Option<usize>,
    /// How long an idle I/O thread pauses before it waits for the network. Clients
    /// send at their own phase of the tick, so without a pause every input frame
    /// wakes the thread by itself (a context switch and a runtime turn each, 20,000
    /// a second at 1,000 clients); with it a wake-up reads all the frames that came
    /// during the pause. It delays a frame by at most this much (inputs wait for
    /// the next tick anyway); the tick's snapshots end it at once. `0s` wakes on
    /// every frame.
    #[arg(long, env = "ARCANE_IO_BATCH", default_value = "1ms", value_parser = humantime::parse_duration)]
    pub io_batch: std::time::Duration,
}

/// Runs one zone as a process until SIGTERM or Ctrl-C (then it drains: see
/// [`RunningZone::drain`]), until it closes itself (an empty instance), or until its
/// tick thread fails (then with an error, so a supervisor restarts it). Used by
/// `zone-server` and `arcane zone`.
pub fn run_process(config: ZoneServerConfig, io: IoOptions) -> anyhow::Result<()> {
    let io_threads = io.io_threads.unwrap_or_else(|| {
        // Leave one core to the tick thread.
        std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
    });
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(io_threads).enable_all();
    if !io.io_batch.is_zero() {
        // Runs only when a worker has nothing left to do, just before it blocks in
        // `epoll_wait`: the frames that arrive during the pause are then read in one
        // wake-up instead of one each (see `IoOptions::io_batch`).
        // A tick's snapshots cut the pause short (see `outbox::IoPause`).
        let pause = io.io_batch;
        builder.on_thread_park(move || outbox::IO_PAUSE.pause(pause));
    }
    let runtime = builder.build()?;
    let config_grace = config.drain_grace;
    runtime.block_on(async {
        // Own SIGTERM from the start: a drain request during start-up is honoured
        // once the zone runs, rather than killing it half-started.
        let mut stop = Box::pin(arcane_service::shutdown_signal());
        let mut config = config;
        let agones = if config.agones {
            let sdk = agones::Sdk::from_env()?;
            tokio::select! {
                ready = agones_standby(sdk.clone(), &mut config) => Some(ready?),
                // Agones scales standby servers down with SIGTERM: leave at once.
                _ = &mut stop => {
                    tracing::info!("stopped while in standby");
                    let _ = sdk.shutdown().await;
                    return Ok(());
                }
            }
        } else {
            None
        };
        let zone = match start(config).await {
            Ok(z) => z,
            Err(e) => {
                if let Some((sdk, _, _)) = &agones {
                    let _ = sdk.shutdown().await;
                }
                return Err(e);
            }
        };
        if let Some((_, ticking, _)) = &agones {
            let _ = ticking.set(zone.shared.clone());
        }
        let grace = config_grace;
        let failed = tokio::select! {
            _ = &mut stop => {
                tracing::info!(?grace, "draining");
                // A tick failure during the drain cuts it short.
                tokio::select! {
                    _ = zone.drain(grace) => {}
                    _ = zone.tick_stopped() => {}
                }
                false
            }
            _ = zone.closed() => false,
            _ = zone.tick_stopped() => true,
        };
        tracing::info!("shutting down");
        zone.shutdown();
        zone.wait().await;
        if let Some((sdk, _, stop_health)) = agones {
            let _ = stop_health.send(true);
            if let Err(e) = sdk.shutdown().await {
                tracing::warn!("Agones shutdown request failed: {e:#}");
            }
        }
        if failed {
            // Exit non-zero so the supervisor restarts the zone.
            anyhow::bail!("the tick thread stopped unexpectedly; see the log above");
        }
        Ok(())
    })
}

/// Agones: Ready (standby), health pings, and the wait for an allocation, whose zone
/// and public endpoints are written into `config`.
async fn agones_standby(
    sdk: agones::Sdk,
    config: &mut ZoneServerConfig,
) -> anyhow::Result<(
    agones::Sdk,
    std::sync::Arc<std::sync::OnceLock<std::sync::Arc<tick::TickShared>>>,
    tokio::sync::watch::Sender<bool>,
)> {
    sdk.ready().await?;
    tracing::info!("Agones: ready; waiting for an allocation");
    let ticking = std::sync::Arc::new(std::sync::OnceLock::new());
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(agones::health_loop(sdk.clone(), ticking.clone(), stop_rx));
    let a = sdk.wait_for_assignment().await?;
    config.zone = a.map;
    config.zone_id = Some(a.zone_id);
    config.close_after_empty = a.close_after_empty.or(config.close_after_empty);
    config.public_endpoint = Some(a.ws_endpoint);
    if a.quic_endpoint.is_some() {
        config.public_quic_endpoint = a.quic_endpoint;
    }
    Ok((sdk, ticking, stop))
}
