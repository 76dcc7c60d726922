//! Zone transfers between real processes (`arcane orchestrator`, `arcane zone` ×2,
//! one SQLite file): players walk across the west–east border and reconnect in the
//! other zone with their HP and items; and a fault run that, at each step of a
//! transfer in turn, SIGKILLs the source zone, the target zone or the orchestrator,
//! restarts it, and checks that every player ends in exactly one zone with exactly
//! their items.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

mod world;

use std::time::{Duration, Instant};

use tokio::sync::watch;
use world::{World, check_one_owner, seed, set_off, travel};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_cross_the_border_and_arrive_with_their_state() {
    let world = World::start("transfer-e2e").await;
    let store = world.store().await;
    let (_go_tx, go) = watch::channel(true);
    let mut trips = Vec::new();
    for i in 0..6u64 {
        trips.push(set_off(&world, &store, format!("walker{i}"), i, go.clone()).await);
    }
    let arrived = futures_util::future::join_all(trips).await;
    for (name, player, i, _client, trip) in &arrived {
        assert_eq!(trip.redirects, 1, "{name}: {trip:?}");
        assert_eq!(trip.relogins, 0, "{name}: {trip:?}");
        assert_eq!(trip.hp, 150, "{name}: HP carried over");
        check_one_owner(&world, name, *player, "east", *i).await;
        let p = store.player(*player).await.unwrap().unwrap();
        assert_eq!(p.x, 8.0, "{name}: arrived at the east side of the border");
    }
    println!(
        "e2e: {} players crossed west → east with HP and items intact",
        arrived.len()
    );
}

/// Where a fault is injected: the failpoint, and what it is in the transfer.
const STEPS: [(&str, &str); 6] = [
    (
        "zone.freeze",
        "source froze the player, handoff not recorded",
    ),
    ("zone.handoff", "handoff recorded, orchestrator not asked"),
    ("orch.commit", "orchestrator asked, not committed"),
    ("orch.committed", "committed, source not answered"),
    ("zone.redirect", "source answered, client not redirected"),
    ("zone.load", "target loaded the player, not yet in its tick"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_survive_a_kill_of_any_process_at_every_step() {
    let world = World::start("transfer-faults").await;
    let store = world.store().await;
    let per_case = 3u64;
    let mut next_player = 0u64;
    let (mut transfers, mut relogins) = (0u32, 0u32);
    let mut cases = 0u32;
    for (step, what) in STEPS {
        for victim in ["west", "east", "orchestrator"] {
            let (go_tx, go) = watch::channel(false);
            let mut players = Vec::new();
            for _ in 0..per_case {
                let i = next_player;
                next_player += 1;
                let name = format!("f{i}");
                let l = world.login(&name).await;
                seed(&store, &l.zone_id, l.player_id, i).await;
                players.push((name, l, i));
            }
            // Everyone connects and waits in the west before the failpoint is armed
            // (a join also passes `zone.load`).
            let mut walking = Vec::new();
            for (name, l, i) in &players {
                walking.push((
                    name.clone(),
                    l.player_id,
                    *i,
                    (l.endpoint.clone(), l.ticket.clone()),
                ));
            }
            let handles = {
                let world = &world;
                let go = go.clone();
                futures_util::future::join_all(walking.iter().map(|(name, _, _, first)| {
                    travel(world, name, first.clone(), "east", go.clone())
                }))
            };
            tokio::pin!(handles);
            // Let them connect, arm, then go.
            let connected = tokio::time::timeout(Duration::from_millis(1500), &mut handles).await;
            assert!(connected.is_err(), "nobody can arrive before the go");
            world.arm(step, 1500);
            go_tx.send(true).unwrap();
            let fired_by = Instant::now() + Duration::from_secs(20);
            let mut arrived = None;
            while !world.fired().exists() {
                assert!(
                    Instant::now() < fired_by,
                    "{step} never fired ({victim})\n{}",
                    world.logs()
                );
                if let Ok(done) =
                    tokio::time::timeout(Duration::from_millis(20), &mut handles).await
                {
                    arrived = Some(done);
                    break;
                }
            }
            assert!(
                arrived.is_none(),
                "{step}: everyone arrived before the failpoint fired"
            );
            world.kill_and_restart(victim);
            let done = tokio::time::timeout(Duration::from_secs(120), &mut handles)
                .await
                .unwrap_or_else(|_| panic!("{step}/{victim}: travellers stuck\n{}", world.logs()));
            world.wait_up(&["west", "east"]).await;
            let mut reconnected = Vec::new();
            for ((name, player, i, _), (_client, trip)) in walking.iter().zip(done.iter()) {
                transfers += trip.redirects;
                relogins += trip.relogins;
                // A player who had already arrived when its zone was killed lost its
                // connection with the process; like any client it logs in again.
                let present = world
                    .rosters()
                    .await
                    .values()
                    .any(|ids| ids.contains(player));
                if !present {
                    let l = world.login(name).await;
                    let (_, go) = watch::channel(true);
                    let again = travel(&world, name, (l.endpoint, l.ticket), "east", go).await;
                    relogins += 1;
                    reconnected.push(again);
                }
                check_one_owner(&world, name, *player, "east", *i).await;
            }
            drop(reconnected);
            drop(done);
            cases += 1;
            println!(
                "fault {cases:>2}: kill {victim:<12} at {step:<15} ({what}): {per_case} players in east with their items"
            );
        }
    }
    let (committed, aborted, pending) = store.handoff_counts().await.unwrap();
    assert_eq!(pending, 0, "no transfer is left half done");
    assert!(
        committed >= next_player,
        "every player crossed at least once"
    );
    println!(
        "fault run: {cases} cases, {next_player} players, {committed} transfers committed, {aborted} aborted, 0 pending; {transfers} redirects followed, {relogins} re-logins; every player in exactly one zone with exactly their items"
    );
}
