//! Process lifecycle: the zone-server binary shuts down cleanly on SIGTERM, telling
//! connected clients why, and refuses to start on broken content.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arcane_loadtest::client::{Client, Incoming};
use arcane_protocol::{ClientTier, KickReason, ServerMessage};

mod support;
use support::free_port;

#[tokio::test]
async fn sigterm_closes_clients_with_a_reason_and_exits_zero() {
    let (ws, admin) = (free_port(), free_port());
    let content = concat!(env!("CARGO_MANIFEST_DIR"), "/../content");
    let mut child = Command::new(env!("CARGO_BIN_EXE_zone-server"))
        .args([
            "--ws-addr",
            &format!("127.0.0.1:{ws}"),
            "--admin-addr",
            &format!("127.0.0.1:{admin}"),
            "--quic-addr",
            "127.0.0.1:0",
        ])
        .args([
            "--content",
            content,
            "--zone",
            "meadow",
            "--ticket-secret",
            "sigterm-test",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("ws://127.0.0.1:{ws}");
    let ticket = support::player_ticket(9, "meadow", "sigterm-test");
    // Wait for the listener (bounded).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut client = loop {
        match Client::join(&url, &ticket, ClientTier::Desktop).await {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("zone-server did not come up: {e:#}"),
        }
    };
    client
        .recv_until(|m| matches!(m, ServerMessage::Snapshot(_)).then_some(()))
        .await
        .unwrap();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let reason = loop {
        match tokio::time::timeout(Duration::from_secs(5), client.recv())
            .await
            .unwrap()
        {
            Incoming::Message(ServerMessage::Kick { reason, .. }, _) => break Some(reason),
            Incoming::Message(..) => continue,
            _ => break None,
        }
    };
    assert_eq!(reason, Some(KickReason::ServerShutdown));
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "zone-server did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(code.success(), "exit status {code}");
}

#[tokio::test]
async fn broken_content_is_refused_with_its_location() {
    let zone =
        include_str!("../../content/zones/meadow.ron").replacen("player_speed", "player_sped", 1);
    let scratch = support::content_with("broken", &[("zones/meadow.ron", &zone)]);
    let dir = scratch.path().to_path_buf();
    let config = arcane_zone_server::ZoneServerConfig::local(dir.clone(), "meadow");
    let err = match arcane_zone_server::start(config).await {
        Ok(_) => panic!("a zone started on broken content"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("meadow.ron:") && err.contains("player_sped"),
        "{err}"
    );
    let missing = arcane_zone_server::ZoneServerConfig::local(dir, "nowhere");
    let err = format!(
        "{:#}",
        arcane_zone_server::start(missing).await.err().unwrap()
    );
    assert!(
        err.contains("nowhere.ron") && err.contains("file not found"),
        "{err}"
    );
}
