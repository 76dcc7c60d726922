//! The zone's control-plane client: registers with the orchestrator (endpoint,
//! capacity) and heartbeats its load every second, re-registering when the
//! orchestrator has forgotten it (restarted) and retrying with jittered backoff while
//! it is unreachable. Runs on the I/O runtime; the tick thread only updates atomics.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use arcane_control_api::{Deregister, Heartbeat, ZoneInfo, ZoneLoad, paths};
use arcane_service::RetryPolicy;
use arcane_service::control_auth::ControlKey;

use crate::status::{Lifecycle, TickStatus};

/// Heartbeat period (the orchestrator marks a zone down after a few missed ones).
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

/// How long a stopping zone still waits for its deregistration (an orchestrator that
/// answers does so in milliseconds).
const DEREGISTER_AFTER_STOP: Duration = Duration::from_millis(500);

/// Waits between attempts while the orchestrator is unreachable or refuses.
const RETRY: RetryPolicy = RetryPolicy::new(Duration::from_millis(200), Duration::from_secs(5));

/// A POST of `body` as JSON to the orchestrator's internal `path`, signed with `key`,
/// with a new `X-Request-Id` that the orchestrator's log carries too (recorded in the
/// current span when it has a `request_id` field).
pub(crate) fn signed_post(
    http: &reqwest::Client,
    key: &ControlKey,
    base: &str,
    path: &str,
    body: &impl serde::Serialize,
) -> reqwest::RequestBuilder {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let request_id = format!(
        "{:016x}{:016x}",
        arcane_service::random_token(),
        arcane_service::random_token()
    );
    tracing::Span::current().record("request_id", request_id.as_str());
    tracing::debug!(%request_id, path, "control call");
    let mut request = http
        .post(format!("{base}{path}"))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("x-request-id", request_id);
    for (name, value) in key.headers("POST", path, &bytes, arcane_service::unix_ms()) {
        request = request.header(name, value);
    }
    request.body(bytes)
}

/// What the control loop needs.
pub struct ControlPlane {
    /// `http://host:port` of the orchestrator; `None` runs the zone on its own (only
    /// closing when empty applies).
    pub orchestrator: Option<String>,
    pub me: ZoneInfo,
    /// Signs every call (the orchestrator refuses unsigned ones).
    pub key: ControlKey,
    /// A zone with players for none of this long closes itself (copies, instances).
    pub close_after_empty: Option<Duration>,
    pub status: Arc<TickStatus>,
    pub lifecycle: Lifecycle,
}

/// Takes the zone out of the orchestrator's registry before the process goes, so
/// nothing is placed on it meanwhile: tried a few times over about three seconds (the
/// process exits after it either way; a zone that stops heartbeating is marked down).
async fn deregister(http: &reqwest::Client, key: &ControlKey, base: &str, me: &ZoneInfo) {
    let bye = Deregister {
        zone_id: me.zone_id.clone(),
        lease_generation: me.lease_generation,
    };
    let mut backoff = RETRY.backoff();
    for attempt in 1..=4 {
        match signed_post(http, key, base, paths::DEREGISTER, &bye)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => tracing::warn!(status = %r.status(), attempt, "deregistration refused"),
            Err(e) => tracing::warn!(attempt, "cannot deregister: {e}"),
        }
        tokio::time::sleep(backoff.next_delay().min(Duration::from_secs(1))).await;
    }
    tracing::error!("could not deregister; the orchestrator will see this zone go silent");
}

/// Registers and heartbeats until the zone stops. A zone that stayed empty for its
/// close-after time deregisters and cancels `closing` (the process then exits cleanly,
/// and a supervisor does not restart it). Once the zone drains (or stops), it
/// deregisters and stays out of the registry.
pub async fn run(c: ControlPlane) {
    let ControlPlane {
        orchestrator,
        me,
        key,
        close_after_empty,
        status,
        lifecycle,
    } = c;
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
    let mut empty_since = tokio::time::Instant::now();
    loop {
        if lifecycle.draining.is_cancelled() {
            // Leave the registry so no one is placed or sent here, and stay out.
            status.registered.store(false, Ordering::Relaxed);
            if let Some(base) = &base {
                tracing::info!(zone = %zone_id, "draining; deregistering");
                // Best effort: once the zone shuts down (its players saved), an
                // orchestrator that is not answering (one that was killed, whose
                // successor ends its orphans) holds the exit back for at most
                // `DEREGISTER_AFTER_STOP`; a zone that goes silent is marked down anyway.
                let stopped = async {
                    lifecycle.shutdown.cancelled().await;
                    tokio::time::sleep(DEREGISTER_AFTER_STOP).await;
                };
                tokio::select! {
                    () = deregister(&http, &key, base, &me) => {}
                    () = stopped => {
                        tracing::warn!(zone = %zone_id, "stopping before the deregistration landed");
                    }
                }
            }
            lifecycle.shutdown.cancelled().await;
            return;
        }
        let players = status.players.load(Ordering::Relaxed) as u32;
        if players > 0 {
            empty_since = tokio::time::Instant::now();
        } else if let Some(after) = close_after_empty
            && empty_since.elapsed() >= after
        {
            tracing::info!(zone = %zone_id, "empty for {after:?}; closing");
            if let Some(base) = &base {
                deregister(&http, &key, base, &me).await;
            }
            lifecycle.closing.cancel();
            return;
        }
        let wait = match &base {
            None => HEARTBEAT_EVERY,
            Some(base) => {
                let landed = if status.registered.load(Ordering::Relaxed) {
                    heartbeat(&http, &key, base, &me, players, &status).await
                } else {
                    register(&http, &key, base, &me, &status).await
                };
                match landed {
                    Landed::Yes => {
                        backoff.reset();
                        HEARTBEAT_EVERY
                    }
                    Landed::No => backoff.next_delay(),
                    Landed::Superseded => {
                        tracing::error!(zone = %zone_id, "the orchestrator knows a newer process of this zone; stopping");
                        lifecycle.superseded.cancel();
                        return;
                    }
                }
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = lifecycle.draining.cancelled() => {}
        }
    }
}

/// Whether a registration or heartbeat landed.
enum Landed {
    Yes,
    /// Not this time (unreachable, refused, or forgotten: register again).
    No,
    /// 409: the orchestrator registered a newer process of this zone.
    Superseded,
}

/// One heartbeat (a 404 means register again).
async fn heartbeat(
    http: &reqwest::Client,
    key: &ControlKey,
    base: &str,
    me: &ZoneInfo,
    players: u32,
    status: &TickStatus,
) -> Landed {
    let hb = Heartbeat {
        zone_id: me.zone_id.clone(),
        load: ZoneLoad {
            players,
            tick_p99_ms: status.slowest_tick_us.swap(0, Ordering::Relaxed) as f64 / 1e3,
            time_rate: match status.time_rate_pct.load(Ordering::Relaxed) {
                0 => 1.0, // before the first tick
                pct => pct as f64 / 100.0,
            },
            dilated_s: match status.dilated_since_ms.load(Ordering::Relaxed) {
                0 => 0.0,
                since => {
                    (status.host_us(std::time::Instant::now()) / 1000).saturating_sub(since) as f64
                        / 1e3
                }
            },
        },
        lease_generation: me.lease_generation,
    };
    match signed_post(http, key, base, paths::HEARTBEAT, &hb)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => Landed::Yes,
        Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {
            tracing::warn!("the orchestrator forgot this zone; registering again");
            status.registered.store(false, Ordering::Relaxed);
            Landed::No
        }
        Ok(r) if r.status() == reqwest::StatusCode::CONFLICT => Landed::Superseded,
        Ok(r) => {
            tracing::warn!(status = %r.status(), "heartbeat refused");
            Landed::No
        }
        Err(e) => {
            tracing::warn!("heartbeat failed: {e}");
            Landed::No
        }
    }
}

/// Registers the zone.
async fn register(
    http: &reqwest::Client,
    key: &ControlKey,
    base: &str,
    me: &ZoneInfo,
    status: &TickStatus,
) -> Landed {
    match signed_post(http, key, base, paths::REGISTER, me)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => {
            tracing::info!(%base, endpoint = %me.endpoint, "registered with the orchestrator");
            status.registered.store(true, Ordering::Relaxed);
            Landed::Yes
        }
        Ok(r) if r.status() == reqwest::StatusCode::CONFLICT => Landed::Superseded,
        Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => {
            tracing::error!(
                "the orchestrator refused this zone's signature; check ARCANE_CONTROL_SECRET"
            );
            Landed::No
        }
        Ok(r) => {
            tracing::warn!(status = %r.status(), "registration refused");
            Landed::No
        }
        Err(e) => {
            tracing::warn!("cannot reach the orchestrator at {base}: {e}");
            Landed::No
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stopping_zone_waits_only_briefly_for_its_deregistration() {
        // The orchestrator takes connections and never answers (one that is starting
        // up, ending its killed predecessor's zones).
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let lifecycle = Lifecycle::default();
        // The zone drained and stops (draining is a child of shutdown).
        lifecycle.shutdown.cancel();
        let plane = ControlPlane {
            orchestrator: Some(format!("http://{}", silent.local_addr().unwrap())),
            me: ZoneInfo::default(),
            key: ControlKey::new("test"),
            close_after_empty: None,
            status: Arc::default(),
            lifecycle,
        };
        // 500 ms, well before one attempt's timeout (2 s), let alone four.
        tokio::time::timeout(Duration::from_millis(1500), run(plane))
            .await
            .expect("the control loop ends when the zone stops");
    }
}
