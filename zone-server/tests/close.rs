//! A zone with a close-after-empty time (an instance, an overflow copy) stays open
//! while players are in it and closes itself once it has been empty that long.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::time::Duration;

use arcane_loadtest::client::Client;
use arcane_protocol::ClientTier;
use arcane_zone_server::ZoneServerConfig;
use arcane_zone_server::config::DEV_TICKET_SECRET;
use tokio::time::timeout;

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_zone_closes_itself_and_an_occupied_one_does_not() {
    let dir = support::content_with("close", &[]);
    let mut config = ZoneServerConfig::local(dir.path().to_path_buf(), "test_area");
    config.zone_id = Some("test_area~2".into());
    config.close_after_empty = Some(Duration::from_millis(1500));
    let z = arcane_zone_server::start(config).await.unwrap();
    // The copy runs the test area's map under its own id.
    let ticket = support::player_ticket(7, "test_area~2", DEV_TICKET_SECRET);
    let mut c = Client::join(&format!("ws://{}", z.ws_addr), &ticket, ClientTier::Desktop)
        .await
        .unwrap();
    let welcome = support::welcome(&mut c).await;
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
