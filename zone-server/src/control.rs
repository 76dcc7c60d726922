//! The zone's control-plane client: registers with the orchestrator (endpoint,
//! capacity) and heartbeats its load every second, re-registering when the
//! orchestrator has forgotten it (restarted) and retrying with backoff while it is
//! unreachable. Runs on the I/O runtime; the tick thread only updates two atomics.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use arcane_control_api::{Deregister, Heartbeat, ZoneInfo, ZoneLoad, paths};
use arcane_service::RetryPolicy;
use tokio::sync::watch;

use crate::tick::TickShared;

/// Heartbeat period (the orchestrator marks a zone down after a few missed ones).
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

/// Waits between attempts while the orchestrator is unreachable or refuses.
const RETRY: RetryPolicy = RetryPolicy::new(Duration::from_millis(200), Duration::from_secs(5));

/// Takes the zone out of the orchestrator's registry (best effort: a zone that stops
/// heartbeating is marked down anyway).
async fn deregister(http: &reqwest::Client, base: &str, zone_id: &str) {
    let r = http
        .post(format!("{base}{}", paths::DEREGISTER))
        .json(&Deregister {
            zone_id: zone_id.to_string(),
        })
        .send()
        .await;
    if let Err(e) = r {
        tracing::warn!("cannot deregister: {e}");
    }
}

/// Resolves when `rx` changes; never, once its sender is gone (no busy loop).
async fn changed(rx: &mut watch::Receiver<bool>) {
    if rx.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Registers and heartbeats until `shutdown` turns true. With `close_after_empty`,
/// a zone that has had no players for that long deregisters and sets `closing` (the
/// process then exits cleanly, and a supervisor does not restart it). Once `draining`
/// turns true, it deregisters and stays out of the registry.
pub async fn run(
    orchestrator: Option<String>,
    me: ZoneInfo,
    close_after_empty: Option<Duration>,
    shared: Arc<TickShared>,
    closing: watch::Sender<bool>,
    mut draining: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("cannot build the orchestrator client: {e}");
            return;
        }
    };
    let base = orchestrator.map(|o| o.trim_end_matches('/').to_string());
    let zone_id = me.zone_id.clone();
    let mut backoff = RETRY.backoff();
    let mut empty_since = std::time::Instant::now();
    loop {
        if *draining.borrow() {
            // Leave the registry so no one is placed or sent here, and stay out.
            shared.registered.store(false, Ordering::Relaxed);
            if let Some(base) = &base {
                tracing::info!(zone = %zone_id, "draining; deregistering");
                deregister(&http, base, &zone_id).await;
            }
            let _ = shutdown.wait_for(|s| *s).await;
            return;
        }
        let players = shared.players.load(Ordering::Relaxed) as u32;
        if players > 0 {
            empty_since = std::time::Instant::now();
        } else if let Some(after) = close_after_empty
            && empty_since.elapsed() >= after
        {
            tracing::info!(zone = %zone_id, "empty for {after:?}; closing");
            if let Some(base) = &base {
                deregister(&http, base, &zone_id).await;
            }
            let _ = closing.send(true);
            return;
        }
        let Some(base) = &base else {
            tokio::select! {
                _ = tokio::time::sleep(HEARTBEAT_EVERY) => continue,
                _ = changed(&mut draining) => continue,
                _ = shutdown.wait_for(|s| *s) => return,
            }
        };
        let ok = if shared.registered.load(Ordering::Relaxed) {
            let hb = Heartbeat {
                zone_id: zone_id.clone(),
                load: ZoneLoad {
                    players,
                    tick_p99_ms: shared.slowest_tick_us.swap(0, Ordering::Relaxed) as f64 / 1e3,
                },
            };
            match http
                .post(format!("{base}{}", paths::HEARTBEAT))
                .json(&hb)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => true,
                Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {
                    tracing::warn!("the orchestrator forgot this zone; registering again");
                    shared.registered.store(false, Ordering::Relaxed);
                    false
                }
                Ok(r) => {
                    tracing::warn!(status = %r.status(), "heartbeat refused");
                    false
                }
                Err(e) => {
                    tracing::warn!("heartbeat failed: {e}");
                    false
                }
            }
        } else {
            match http
                .post(format!("{base}{}", paths::REGISTER))
                .json(&me)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => {
                    tracing::info!(%base, endpoint = %me.endpoint, "registered with the orchestrator");
                    shared.registered.store(true, Ordering::Relaxed);
                    true
                }
                Ok(r) => {
                    tracing::warn!(status = %r.status(), "registration refused");
                    false
                }
                Err(e) => {
                    tracing::warn!("cannot reach the orchestrator at {base}: {e}");
                    false
                }
            }
        };
        let wait = if ok {
            backoff.reset();
            HEARTBEAT_EVERY
        } else {
            backoff.next_delay()
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = changed(&mut draining) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}
