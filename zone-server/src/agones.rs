//! The Agones game-server lifecycle over the SDK sidecar's REST API
//! (`http://localhost:$AGONES_SDK_HTTP_PORT`): a zone pod (`--agones`) marks itself
//! Ready as a standby server, pings Health while it is well, waits until the
//! orchestrator allocates it (annotations name the zone id and map: it watches the
//! game server through the SDK's streaming `/watch/gameserver`, no polling), runs that
//! zone with the node's public address and ports, and asks for Shutdown when it exits.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use arcane_service::CancellationToken;
use serde::Deserialize;

use crate::status::TickStatus;

/// Annotations the orchestrator's allocation sets.
pub use arcane_control_api::agones::{CLOSE_AFTER_ANNOTATION, MAP_ANNOTATION, ZONE_ID_ANNOTATION};

/// The SDK sidecar's client.
#[derive(Clone)]
pub struct Sdk {
    base: String,
    http: reqwest::Client,
    /// For the watch stream, which stays open (no overall timeout).
    watch: reqwest::Client,
}

/// Longest line of the watch stream taken (a game server is a few KB).
const MAX_WATCH_LINE: usize = 1 << 20;

#[derive(Debug, Deserialize)]
pub struct GameServer {
    pub object_meta: Meta,
    pub status: Status,
}

#[derive(Debug, Default, Deserialize)]
pub struct Meta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Status {
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub ports: Vec<Port>,
}

#[derive(Debug, Deserialize)]
pub struct Port {
    pub name: String,
    pub port: u16,
}

/// What an allocation asks this server to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub zone_id: String,
    pub map: String,
    pub close_after_empty: Option<Duration>,
    /// `ws://address:port` and `quic://address:port` as clients reach them.
    pub ws_endpoint: String,
    pub quic_endpoint: Option<String>,
}

impl GameServer {
    /// The assignment once allocated with the zone annotations; `None` in standby.
    pub fn assignment(&self) -> anyhow::Result<Option<Assignment>> {
        let a = &self.object_meta.annotations;
        let (Some(zone_id), Some(map)) = (a.get(ZONE_ID_ANNOTATION), a.get(MAP_ANNOTATION)) else {
            return Ok(None);
        };
        let port = |name: &str| {
            self.status
                .ports
                .iter()
                .find(|p| p.name == name)
                .map(|p| p.port)
        };
        let ws = port("ws").context("the game server has no port named ws")?;
        let address = &self.status.address;
        let close_after_empty = match a.get(CLOSE_AFTER_ANNOTATION) {
            Some(d) => Some(
                humantime::parse_duration(d)
                    .with_context(|| format!("bad {CLOSE_AFTER_ANNOTATION} {d:?}"))?,
            ),
            None => None,
        };
        Ok(Some(Assignment {
            zone_id: zone_id.clone(),
            map: map.clone(),
            close_after_empty,
            ws_endpoint: format!("ws://{address}:{ws}"),
            quic_endpoint: port("quic").map(|q| format!("quic://{address}:{q}")),
        }))
    }
}

impl Sdk {
    /// The sidecar at `AGONES_SDK_HTTP_PORT` (9358 by default).
    pub fn from_env() -> anyhow::Result<Sdk> {
        let port = std::env::var("AGONES_SDK_HTTP_PORT").unwrap_or_else(|_| "9358".into());
        Ok(Sdk {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()?,
            watch: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(2))
                .build()?,
        })
    }

    async fn post(&self, path: &str) -> anyhow::Result<()> {
        self.http
            .post(format!("{}{path}", self.base))
            .json(&serde_json::json!({}))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// `POST /ready`, retried for a while: the sidecar may start after us.
    pub async fn ready(&self) -> anyhow::Result<()> {
        let mut last = None;
        for _ in 0..60 {
            match self.post("/ready").await {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no answer")))
            .context("the Agones SDK sidecar did not accept Ready")
    }

    pub async fn health(&self) -> anyhow::Result<()> {
        self.post("/health").await
    }

    pub async fn shutdown(&self) -> anyhow::Result<()> {
        self.post("/shutdown").await
    }

    pub async fn game_server(&self) -> anyhow::Result<GameServer> {
        Ok(self
            .http
            .get(format!("{}/gameserver", self.base))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// Standby: waits until an allocation assigns this server a zone. Reads the game
    /// server once (an allocation made before the watch began is not missed), then
    /// follows the SDK's watch stream; a broken stream is opened again after a
    /// jittered wait.
    pub async fn wait_for_assignment(&self) -> anyhow::Result<Assignment> {
        let mut backoff =
            arcane_service::RetryPolicy::new(Duration::from_millis(250), Duration::from_secs(5))
                .backoff();
        loop {
            match self.game_server().await {
                Ok(gs) => {
                    if let Some(a) = gs.assignment()? {
                        tracing::info!(server = %gs.object_meta.name, zone = %a.zone_id, map = %a.map, "allocated");
                        return Ok(a);
                    }
                }
                Err(e) => tracing::warn!("cannot read the game server from the SDK: {e:#}"),
            }
            match self.watch_until_assigned().await {
                Ok(Some(a)) => return Ok(a),
                Ok(None) => tracing::info!("the SDK's watch stream ended; watching again"),
                Err(e) => tracing::warn!("the SDK's watch stream failed: {e:#}"),
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    /// Follows `GET /watch/gameserver` (one `{"result": GameServer}` per line) until
    /// one names a zone; `None` when the stream ends first.
    async fn watch_until_assigned(&self) -> anyhow::Result<Option<Assignment>> {
        #[derive(Deserialize)]
        struct Event {
            result: GameServer,
        }
        let mut r = self
            .watch
            .get(format!("{}/watch/gameserver", self.base))
            .send()
            .await?
            .error_for_status()?;
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = r.chunk().await? {
            buf.extend_from_slice(&chunk);
            while let Some(end) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<Event>(&line) {
                    Ok(ev) => {
                        if let Some(a) = ev.result.assignment()? {
                            tracing::info!(server = %ev.result.object_meta.name, zone = %a.zone_id, map = %a.map, "allocated");
                            return Ok(Some(a));
                        }
                    }
                    Err(e) => tracing::warn!("unreadable game server from the SDK's watch: {e}"),
                }
            }
            anyhow::ensure!(
                buf.len() <= MAX_WATCH_LINE,
                "a watch event over {MAX_WATCH_LINE} bytes"
            );
        }
        Ok(None)
    }
}

/// Pings Health every two seconds until `stop` is cancelled: always while in standby, then only
/// while the zone's tick thread is ticking (so Agones replaces a stuck zone).
pub async fn health_loop(sdk: Sdk, zone: Arc<OnceLock<Arc<TickStatus>>>, stop: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.cancelled() => return,
        }
        let well = zone
            .get()
            .is_none_or(|s| s.is_healthy(Duration::from_secs(1)));
        if well && let Err(e) = sdk.health().await {
            tracing::warn!("Agones health ping failed: {e:#}");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_allocated_game_server_names_its_zone_and_public_endpoints() {
        let standby: GameServer = serde_json::from_value(serde_json::json!({
            "object_meta": {"name": "arcane-zones-x1", "annotations": {}},
            "status": {"state": "Ready", "address": "10.0.0.7", "ports": [{"name": "ws", "port": 7301}]}
        }))
        .unwrap();
        assert_eq!(standby.assignment().unwrap(), None);
        let allocated: GameServer = serde_json::from_value(serde_json::json!({
            "object_meta": {"name": "arcane-zones-x1", "annotations": {
                "arcane.dev/zone-id": "crypt~party-red", "arcane.dev/map": "crypt",
                "arcane.dev/close-after-empty": "30s"}},
            "status": {"state": "Allocated", "address": "10.0.0.7",
                "ports": [{"name": "ws", "port": 7301}, {"name": "quic", "port": 7302}]}
        }))
        .unwrap();
        assert_eq!(
            allocated.assignment().unwrap(),
            Some(Assignment {
                zone_id: "crypt~party-red".into(),
                map: "crypt".into(),
                close_after_empty: Some(Duration::from_secs(30)),
                ws_endpoint: "ws://10.0.0.7:7301".into(),
                quic_endpoint: Some("quic://10.0.0.7:7302".into()),
            })
        );
    }
}
