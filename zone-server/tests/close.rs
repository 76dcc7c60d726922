//! A zone with a close-after-empty time (an instance, an overflow copy) stays open
//! while players are in it and closes itself once it has been empty that long.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arcane_engine::content::ContentSources;
use arcane_loadtest::client::Client;
use arcane_protocol::ticket::{Role, TicketClaims, TicketKey};
use arcane_protocol::{ClientTier, ServerMessage};
use arcane_zone_server::ZoneServerConfig;
use arcane_zone_server::config::DEV_TICKET_SECRET;
use tokio::time::timeout;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_zone_closes_itself_and_an_occupied_one_does_not() {
    let dir = std::env::temp_dir().join(format!("arcane-close-{}", std::process::id()));
    ContentSources::shipped().write_to(&dir).unwrap();
    let mut config = ZoneServerConfig::local(dir, "test_area");
    config.zone_id = Some("test_area~2".into());
    config.close_after_empty = Some(Duration::from_millis(1500));
    let z = arcane_zone_server::start(config).await.unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ticket = TicketKey::new(DEV_TICKET_SECRET).mint(&TicketClaims {
        player_id: 7,
        // The copy runs the test area's map under its own id.
        zone_id: "test_area~2".into(),
        role: Role::Player,
        expires_unix: now + 60,
    });
    let mut c = Client::join(&format!("ws://{}", z.ws_addr), &ticket, ClientTier::Desktop)
        .await
        .unwrap();
    let welcome = c
        .recv_until(|m| match m {
            ServerMessage::Welcome(w) => Some(w),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(welcome.zone_id, "test_area~2");
    // Occupied for three close-after periods: it stays open.
    assert!(
        timeout(Duration::from_millis(4500), z.closed())
            .await
            .is_err(),
        "closed with a player inside"
    );
    c.close().await;
    // Empty: it closes within the period plus one control-loop round.
    timeout(Duration::from_secs(5), z.closed())
        .await
        .expect("an empty zone should close itself");
    z.shutdown();
    z.wait().await;
}
