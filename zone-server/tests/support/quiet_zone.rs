//! A quiet zone (no NPCs) in-process, for the transport tests, and what they read off
//! it: kicks, metrics, the player count.

use std::time::{Duration, Instant};

use arcane_loadtest::client::Client;
use arcane_loadtest::scrape;
use arcane_protocol::{KickReason, ServerMessage};
use arcane_zone_server::{RunningZone, ZoneServerConfig};
use tokio::time::timeout;

/// A quiet zone (no NPCs): once players stop, nothing changes, so every view must
/// settle on the same state.
pub fn content() -> tempfile::TempDir {
    super::content_with(
        "quic",
        &[(
            "zones/quiet.ron",
            r#"ZoneDef(
            id: "quiet",
            bounds: Bounds(min: (0.0, 0.0), max: (200.0, 200.0)),
            player_speed: 10.0,
            max_players: 50,
            spawn_points: [(100.0, 100.0)],
            spawn_radius: 10.0,
        )"#,
        )],
    )
}

pub async fn start_zone() -> RunningZone {
    start_zone_with(|_| {}).await
}

/// The quiet zone, with `adjust` applied to its configuration first. The zone reads
/// its content once (no watching), so the folder goes when it has started.
pub async fn start_zone_with(adjust: impl FnOnce(&mut ZoneServerConfig)) -> RunningZone {
    let content = content();
    let mut config = ZoneServerConfig::local(content.path().to_path_buf(), "quiet");
    config.watch_content = false;
    adjust(&mut config);
    arcane_zone_server::start(config).await.unwrap()
}

/// The quiet zone with its content's `ack_timeout_ticks` set to `ticks`.
pub async fn start_zone_with_ack_timeout(ticks: u32) -> RunningZone {
    start_zone_with(|config| {
        let netcode = config.content.join("netcode.ron");
        let text = std::fs::read_to_string(&netcode).unwrap();
        assert!(text.contains("ack_timeout_ticks: 200"), "{text}");
        let text = text.replacen(
            "ack_timeout_ticks: 200",
            &format!("ack_timeout_ticks: {ticks}"),
            1,
        );
        std::fs::write(&netcode, text).unwrap();
    })
    .await
}

/// The reason of the kick `client` gets within 5 s (what comes before it is skipped).
pub async fn kicked(client: &mut Client) -> KickReason {
    let kick = client.recv_until(|m| match m {
        ServerMessage::Kick { reason, .. } => Some(reason),
        _ => None,
    });
    timeout(Duration::from_secs(5), kick)
        .await
        .unwrap()
        .unwrap()
}

/// The zone's `/metrics` text.
pub async fn metrics(zone: &RunningZone) -> String {
    scrape::http_get(&format!("http://{}/metrics", zone.admin_addr))
        .await
        .expect("/metrics")
}

/// Waits until the zone counts `players` players, failing after `within`.
pub async fn until_players(zone: &RunningZone, players: f64, within: Duration) {
    let start = Instant::now();
    loop {
        let now = scrape::sum_of(&metrics(zone).await, "arcane_players");
        if now == players {
            return;
        }
        assert!(start.elapsed() < within, "still {now} players");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Handshakes the zone refused for `reason`, from its `/metrics` text.
pub fn handshake_failures(metrics: &str, reason: &str) -> f64 {
    scrape::labelled(metrics, "arcane_handshake_failures_total", "reason", reason)
}

/// A player's ticket for the `quiet` zone.
pub fn ticket(player: u64, secret: &str) -> String {
    super::player_ticket(player, "quiet", secret)
}
