//! Running one zone as an operating-system process: the I/O runtime with its idle
//! pause, the stop signal (SIGTERM drains), the Agones lifecycle, and the exit code a
//! supervisor reads (non-zero when the tick thread failed).

use std::sync::{Arc, OnceLock};

use arcane_service::CancellationToken;

use crate::agones;
use crate::config::{IoOptions, ZoneServerConfig};
use crate::net::io_pause::IoPause;
use crate::server::start_with_pause;
use crate::status::TickStatus;

/// Runs one zone as a process until SIGTERM or Ctrl-C (then it drains: see
/// [`RunningZone::drain`](crate::RunningZone::drain)), until it closes itself (an empty instance), or until its
/// tick thread fails (then with an error, so a supervisor restarts it). Used by
/// `zone-server` and `arcane zone`.
pub fn run_process(config: ZoneServerConfig, io: IoOptions) -> anyhow::Result<()> {
    follow_supervisor()?;
    let io_threads = io.io_threads.unwrap_or_else(|| {
        // Leave one core to the tick thread.
        std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
    });
    let pause = Arc::new(IoPause::new());
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(io_threads).enable_all();
    if !io.io_batch.is_zero() {
        // Runs only when a worker has nothing left to do, just before it blocks in
        // `epoll_wait`: the frames that arrive during the pause are then read in one
        // wake-up instead of one each (see `IoOptions::io_batch`). A tick's snapshots
        // cut the pause short (the zone's dispatcher holds the same pause).
        let (pause, batch) = (pause.clone(), io.io_batch);
        builder.on_thread_park(move || pause.pause(batch));
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
        let zone = match start_with_pause(config, pause).await {
            Ok(z) => z,
            Err(e) => {
                if let Some(standby) = &agones {
                    let _ = standby.sdk.shutdown().await;
                }
                return Err(e);
            }
        };
        if let Some(standby) = &agones {
            let _ = standby.ticking.set(zone.status.clone());
        }
        let grace = config_grace;
        let mut superseded = false;
        let failed = tokio::select! {
            // Replaced: stop at once, no drain (its transfers would be refused), and
            // write nothing (the store refuses it anyway).
            _ = zone.superseded() => {
                superseded = true;
                false
            }
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
        let zone_id = zone.zone_id.clone();
        zone.shutdown();
        zone.wait().await;
        if let Some(standby) = agones {
            standby.stop_health.cancel();
            if let Err(e) = standby.sdk.shutdown().await {
                tracing::warn!("Agones shutdown request failed: {e:#}");
            }
        }
        if superseded {
            return Err(crate::lease::Superseded(zone_id).into());
        }
        if failed {
            // Exit non-zero so the supervisor restarts the zone.
            anyhow::bail!("the tick thread stopped unexpectedly; see the log above");
        }
        Ok(())
    })
}

/// Under a supervisor (`ARCANE_SUPERVISOR_PID`), asks the kernel for SIGTERM when the
/// supervisor dies: the zone then drains like any stopped zone instead of living on as
/// an orphan beside the zones a restarted supervisor starts. Refuses to start when
/// the supervisor is already gone.
fn follow_supervisor() -> anyhow::Result<()> {
    let Ok(pid) = std::env::var(arcane_service::SUPERVISOR_PID_ENV) else {
        return Ok(());
    };
    let pid: i32 = pid
        .parse()
        .map_err(|e| anyhow::anyhow!("{} is not a pid: {e}", arcane_service::SUPERVISOR_PID_ENV))?;
    #[cfg(target_os = "linux")]
    {
        use nix::sys::signal::Signal;
        nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
        // The supervisor may have died before the request: then nothing would come.
        if nix::unistd::getppid().as_raw() != pid {
            anyhow::bail!("the supervisor (pid {pid}) is gone; not starting");
        }
    }
    Ok(())
}

/// The exit code of a zone process: [`crate::SUPERSEDED_EXIT`] when it was replaced
/// (a supervisor leaves it stopped), 1 for any other failure.
pub fn exit_code(result: &anyhow::Result<()>) -> u8 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e:#}");
            if e.is::<crate::lease::Superseded>() {
                crate::lease::SUPERSEDED_EXIT
            } else {
                1
            }
        }
    }
}

/// An allocated Agones game server: its SDK, the zone whose ticking the health pings
/// follow once it runs, and the stop of those pings.
struct Standby {
    sdk: agones::Sdk,
    ticking: Arc<OnceLock<Arc<TickStatus>>>,
    stop_health: CancellationToken,
}

/// Agones: Ready (standby), health pings, and the wait for an allocation, whose zone
/// and public endpoints are written into `config`.
async fn agones_standby(
    sdk: agones::Sdk,
    config: &mut ZoneServerConfig,
) -> anyhow::Result<Standby> {
    sdk.ready().await?;
    tracing::info!("Agones: ready; waiting for an allocation");
    let ticking = Arc::new(OnceLock::new());
    let stop_health = CancellationToken::new();
    tokio::spawn(agones::health_loop(
        sdk.clone(),
        ticking.clone(),
        stop_health.clone(),
    ));
    let a = sdk.wait_for_assignment().await?;
    config.zone = a.map;
    config.zone_id = Some(a.zone_id);
    config.close_after_empty = a.close_after_empty.or(config.close_after_empty);
    config.public_endpoint = Some(a.ws_endpoint);
    if a.quic_endpoint.is_some() {
        config.public_quic_endpoint = a.quic_endpoint;
    }
    Ok(Standby {
        sdk,
        ticking,
        stop_health,
    })
}
