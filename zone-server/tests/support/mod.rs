//! Helpers shared by the zone-server integration tests: tickets, free ports, scratch
//! content folders, and waiting for the `Welcome`.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arcane_loadtest::client::Client;
use arcane_protocol::ServerMessage;
use arcane_protocol::messages::Welcome;
use arcane_protocol::ticket::{Role, TicketClaims, TicketKey};

pub mod quiet_zone;

/// Seconds since the Unix epoch (ticket expiries).
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A ticket for `player` in `zone` with `role`, signed with `secret`, expiring at
/// `expires` (Unix seconds).
pub fn ticket_as(role: Role, player: u64, zone: &str, secret: &str, expires: u64) -> String {
    TicketKey::new(secret).mint(&TicketClaims {
        player_id: player,
        zone_id: zone.into(),
        role,
        expires_unix: expires,
    })
}

/// A player's ticket, expiring at `expires`.
pub fn ticket(player: u64, zone: &str, secret: &str, expires: u64) -> String {
    ticket_as(Role::Player, player, zone, secret, expires)
}

/// A player's ticket valid for the next minute.
pub fn player_ticket(player: u64, zone: &str, secret: &str) -> String {
    ticket(player, zone, secret, now_unix() + 60)
}

/// A TCP port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh folder under the temporary folder, removed when the guard is dropped.
pub fn scratch_dir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("arcane-{tag}-"))
        .tempdir()
        .unwrap()
}

/// The shipped content in a scratch folder, with the files in `extra` (path under
/// the content folder, text) added or replaced.
pub fn content_with(tag: &str, extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = scratch_dir(tag);
    let mut sources = arcane_engine::content::ContentSources::shipped();
    for (rel, text) in extra {
        sources.set(rel, *text);
    }
    sources.write_to(dir.path()).unwrap();
    dir
}

/// Waits (at most 5 s) for the `Welcome` and returns it.
pub async fn welcome(c: &mut Client) -> Welcome {
    tokio::time::timeout(
        Duration::from_secs(5),
        c.recv_until(|m| match m {
            ServerMessage::Welcome(w) => Some(w),
            _ => None,
        }),
    )
    .await
    .expect("no welcome in time")
    .unwrap()
}
