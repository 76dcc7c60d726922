//! End to end: a running zone-server, its content edited on disk. A valid change
//! reaches the next casts; a broken one is rejected and the zone keeps the old content.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::path::Path;
use std::time::{Duration, Instant};

use arcane_engine::content::ContentSources;
use arcane_loadtest::client::Client;
use arcane_loadtest::scrape::http_get;
use arcane_protocol::ticket::Role;
use arcane_protocol::{
    AdminCommand, CastIntent, CastTarget, ClientMessage, ClientTier, EventKind, NetId,
    ServerMessage,
};
use arcane_zone_server::config::DEV_TICKET_SECRET;
use arcane_zone_server::{RunningZone, ZoneServerConfig};
use tokio::time::timeout;

mod support;

fn admin_ticket(player: u64) -> String {
    let expires = support::now_unix() + 120;
    support::ticket_as(Role::Admin, player, "test_area", DEV_TICKET_SECRET, expires)
}

/// A counter's value in the zone's `/metrics` (0 when the series does not exist yet).
async fn metric(z: &RunningZone, series: &str) -> f64 {
    let body = http_get(&format!("http://{}/metrics", z.admin_addr))
        .await
        .unwrap();
    body.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

async fn wait_for_metric(z: &RunningZone, series: &str, at_least: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(z, series).await < at_least {
        assert!(
            Instant::now() < deadline,
            "{series} never reached {at_least}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads messages until a `Damage` event to `target`; returns its amount.
async fn damage_to(client: &mut Client, target: NetId) -> u32 {
    let found = timeout(
        Duration::from_secs(5),
        client.recv_until(|m| match m {
            ServerMessage::Events(events) => events.iter().find_map(|e| match e.kind {
                EventKind::Damage {
                    target: t, amount, ..
                } if t == target => Some(amount),
                _ => None,
            }),
            _ => None,
        }),
    )
    .await
    .expect("no damage event within 5 s");
    found.unwrap()
}

fn rewrite(dir: &Path, rel: &str, from: &str, to: &str) {
    let path = dir.join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{rel} has no {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_content_reaches_the_next_casts_and_broken_content_is_refused() {
    let scratch = support::scratch_dir("reload");
    let dir = scratch.path().to_path_buf();
    let mut sources = ContentSources::shipped();
    // No spawners: only the golem this test places is around.
    let arena = sources
        .get("zones/test_area.ron")
        .unwrap()
        .split("    spawners: [")
        .next()
        .unwrap()
        .to_string()
        + ")\n";
    sources.set("zones/test_area.ron", arena);
    sources.write_to(&dir).unwrap();
    let z = arcane_zone_server::start(ZoneServerConfig::local(dir.clone(), "test_area"))
        .await
        .unwrap();
    let applied = r#"arcane_content_reloads_total{zone="test_area",result="applied"}"#;
    let rejected = r#"arcane_content_reloads_total{zone="test_area",result="rejected"}"#;

    let mut client = Client::join(
        &format!("ws://{}", z.ws_addr),
        &admin_ticket(1),
        ClientTier::Desktop,
    )
    .await
    .unwrap();
    timeout(
        Duration::from_secs(5),
        client.recv_until(|m| matches!(m, ServerMessage::Welcome(_)).then_some(())),
    )
    .await
    .unwrap()
    .unwrap();
    // A golem 15 m east of the spawn point (20, 50): in missile range, out of its aggro.
    client
        .send(&[ClientMessage::Admin {
            seq: 1,
            command: AdminCommand::SpawnEnemy {
                enemy: "golem".into(),
                x_cm: 3500,
                y_cm: 5000,
            },
        }])
        .await
        .unwrap();
    let golem = timeout(
        Duration::from_secs(5),
        client.recv_until(|m| match m {
            ServerMessage::Events(events) => events.iter().find_map(|e| match &e.kind {
                EventKind::AdminResult {
                    ok: true, detail, ..
                } => detail
                    .split("(id ")
                    .nth(1)?
                    .split(')')
                    .next()?
                    .parse()
                    .ok()
                    .map(NetId),
                _ => None,
            }),
            _ => None,
        }),
    )
    .await
    .unwrap()
    .unwrap();
    // Let the spatial index pick the golem up.
    tokio::time::sleep(Duration::from_millis(150)).await;

    let mut seq = 0;
    let mut cast = async |client: &mut Client| {
        // Past the missile's 0.5 s cooldown since the last cast.
        tokio::time::sleep(Duration::from_millis(600)).await;
        seq += 1;
        client
            .send(&[ClientMessage::Cast(CastIntent {
                seq,
                slot: 0,
                target: CastTarget::Entity(golem),
            })])
            .await
            .unwrap();
    };
    cast(&mut client).await;
    assert_eq!(
        damage_to(&mut client, golem).await,
        25,
        "shipped missile damage"
    );

    // A designer raises the missile's damage.
    rewrite(&dir, "skills.ron", "damage: 25", "damage: 70");
    wait_for_metric(&z, applied, 1.0).await;
    cast(&mut client).await;
    assert_eq!(
        damage_to(&mut client, golem).await,
        70,
        "the next cast uses the new number"
    );

    // A broken edit: the zone logs it and keeps running the last good content.
    rewrite(&dir, "skills.ron", "damage: 70", "damage: 70, splash: 3");
    wait_for_metric(&z, rejected, 1.0).await;
    cast(&mut client).await;
    assert_eq!(
        damage_to(&mut client, golem).await,
        70,
        "still the last good content"
    );
    assert_eq!(metric(&z, applied).await, 1.0);
    let health = http_get(&format!("http://{}/healthz", z.admin_addr))
        .await
        .unwrap();
    assert!(health.contains("ok"), "{health}");
    // The fix is picked up again.
    rewrite(&dir, "skills.ron", "damage: 70, splash: 3", "damage: 40");
    wait_for_metric(&z, applied, 2.0).await;
    cast(&mut client).await;
    assert_eq!(damage_to(&mut client, golem).await, 40);

    z.shutdown();
    z.wait().await;
}
