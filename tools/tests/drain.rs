//! SIGTERM drains a zone (real processes: `arcane orchestrator` and `arcane zone`s on
//! one SQLite file): `/readyz` turns false at once, connected players are handed to
//! another copy of the map through the orchestrator, or, when there is none, saved
//! and disconnected with a reason; the process exits cleanly inside its grace period
//! (10 s here) and every player keeps exactly their items.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

mod world;

use std::time::{Duration, Instant};

use arcane_loadtest::client::Client;
use arcane_protocol::{ClientTier, KickReason, ServerMessage};
use tokio::sync::watch;
use world::{Start, World, check_one_owner, items_of, journey, seed_at};

/// Polls `/readyz` of `admin` until it answers 503 `draining`, or fails after `within`.
async fn wait_not_ready(admin: &str, within: Duration) -> String {
    let start = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(format!("{admin}/readyz")).await
            && r.status() == 503
        {
            return r.text().await.unwrap();
        }
        assert!(start.elapsed() < within, "{admin} stayed ready");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn admin_of(world: &World, zone: &str) -> String {
    let zones = world.zones().await;
    zones
        .iter()
        .find(|z| z.info.zone_id == zone)
        .unwrap()
        .info
        .admin_endpoint
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_players_to_another_copy_or_saves_them() {
    let world = World::start("drain").await;
    world.start_zone("west~2");
    world.wait_up(&["west~2"]).await;
    let store = world.store().await;
    let west_admin = admin_of(&world, "west").await;
    assert_eq!(
        reqwest::get(format!("{west_admin}/readyz"))
            .await
            .unwrap()
            .status(),
        200
    );

    // Six players stand in the west; they follow whatever the zone tells them.
    let (_go_tx, go) = watch::channel(true);
    let mut players = Vec::new();
    for i in 0..6u64 {
        let name = format!("d{i}");
        let l = world.login(&name).await;
        assert_eq!(l.zone_id, "west");
        seed_at(
            &store,
            "west",
            l.player_id,
            i,
            (40.0, 10.0 + i as f32 * 10.0),
        )
        .await;
        players.push((name, l, i));
    }
    let moving = futures_util::future::join_all(players.iter().map(|(name, l, _)| {
        let start = Start::Ticket(l.endpoint.clone(), l.ticket.clone());
        journey(&world, name, start, "west~2", 0, go.clone())
    }));
    tokio::pin!(moving);
    // Let them join before the SIGTERM.
    let connected = tokio::time::timeout(Duration::from_millis(1500), &mut moving).await;
    assert!(
        connected.is_err(),
        "nobody can reach west~2 before the drain"
    );
    let rosters = world.rosters().await;
    assert_eq!(rosters["west"].len(), 6, "{rosters:?}");

    let ((status, took), arrived) = tokio::join!(world.terminate("west"), async {
        let why = wait_not_ready(&west_admin, Duration::from_secs(5)).await;
        assert_eq!(why.trim(), "draining");
        tokio::time::timeout(Duration::from_secs(30), moving)
            .await
            .expect("players were not handed over")
    });
    assert!(status.success(), "west exited with {status}");
    assert!(
        took < Duration::from_secs(10),
        "west took {took:?} to drain"
    );
    for ((name, l, i), (_client, trip)) in players.iter().zip(&arrived) {
        assert_eq!(
            trip.redirects,
            1,
            "{name} was handed over: {trip:?}\n{}",
            world.logs()
        );
        check_one_owner(&world, name, l.player_id, "west~2", *i).await;
    }
    println!("drain with a copy: 6 players handed to west~2, west exited cleanly after {took:?}");

    // No other copy of the east: its players are saved and disconnected.
    let mut east_players = Vec::new();
    let mut clients = Vec::new();
    for i in 10..13u64 {
        let name = format!("d{i}");
        let player = world.login(&name).await.player_id;
        // Make them the east's, as a transfer would.
        let owner = store.owner(player).await.unwrap().unwrap();
        store
            .move_owner(player, &owner, "east", None)
            .await
            .unwrap()
            .unwrap();
        seed_at(&store, "east", player, i, (30.0, 30.0 + i as f32)).await;
        let l = world.login(&name).await;
        assert_eq!(l.zone_id, "east");
        let mut c = Client::join(&l.endpoint, &l.ticket, ClientTier::Desktop)
            .await
            .unwrap();
        c.recv_until(|m| matches!(m, ServerMessage::Welcome(_)).then_some(()))
            .await
            .unwrap();
        east_players.push((name, player, i));
        clients.push(c);
    }
    let (status, took) = world.terminate("east").await;
    assert!(
        status.success() && took < Duration::from_secs(10),
        "{status} after {took:?}"
    );
    for c in &mut clients {
        let reason = c
            .recv_until(|m| match m {
                ServerMessage::Kick { reason, .. } => Some(reason),
                _ => None,
            })
            .await
            .unwrap();
        assert_eq!(reason, KickReason::ServerShutdown);
    }
    for (name, player, i) in &east_players {
        let owner = store.owner(*player).await.unwrap().unwrap();
        assert_eq!(owner.zone, "east", "{name} stays the east's");
        let p = store.player(*player).await.unwrap().unwrap();
        assert_eq!(p.inventory, items_of(*i), "{name}: items saved");
        assert_eq!(
            (p.x, p.y),
            (30.0, 30.0 + *i as f64),
            "{name}: position saved"
        );
    }
    println!("drain without a copy: 3 players saved and disconnected, east exited after {took:?}");
}

/// A zone drained with nobody online leaves the registry before its process is gone,
/// so nothing is placed or transferred into it afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_zone_drained_leaves_the_registry_before_it_exits() {
    let world = World::start("drain-empty").await;
    let (status, took) = world.terminate("east").await;
    assert!(status.success(), "{status} after {took:?}");
    // The process has exited: its deregistration came first.
    let zones = world.zones().await;
    assert!(
        zones.iter().all(|z| z.info.zone_id != "east"),
        "east is still listed after its process exited: {zones:?}\n{}",
        world.logs()
    );
    assert!(zones.iter().any(|z| z.info.zone_id == "west" && z.up));
}
