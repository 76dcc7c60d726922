//! Instances with real processes: the orchestrator (`arcane orchestrator --zones
//! west`) runs `west` as a child; a party walks through west's portal, the
//! orchestrator's local supervisor starts a `vault~party-…` zone process for it, the
//! party is transferred in with its items, walks back out, and the empty instance
//! closes itself, leaves the registry and its process exits.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

mod world;

use std::time::{Duration, Instant};

use arcane_loadtest::scrape;
use tokio::sync::watch;
use world::{Start, World, check_one_owner, journey, seed_at};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_opens_an_instance_enters_leaves_and_it_closes() {
    let world = World::start_supervised("instances").await;
    let store = world.store().await;
    let (_go_tx, go) = watch::channel(true);
    // Two members of party "raid" and one player on their own.
    let members = [("ann", Some("raid")), ("bob", Some("raid")), ("cid", None)];
    let mut trips = Vec::new();
    for (i, (name, party)) in members.into_iter().enumerate() {
        let l = world.login_in_party(name, party).await;
        assert_eq!(l.zone_id, "west");
        seed_at(
            &store,
            "west",
            l.player_id,
            i as u64,
            (55.0, 20.0 + i as f32 * 20.0),
        )
        .await;
        let want = match party {
            Some(p) => format!("vault~party-{p}"),
            None => format!("vault~solo-{}", l.player_id),
        };
        let (world, go) = (&world, go.clone());
        trips.push(async move {
            let start = Start::Ticket(l.endpoint, l.ticket);
            let (client, trip) = journey(world, name, start, &want, 127, go).await;
            (name, l.player_id, i as u64, want, client, trip)
        });
    }
    let inside = futures_util::future::join_all(trips).await;

    // Two instances were opened (one per party), as processes that registered.
    let zones = world.zones().await;
    for id in ["vault~party-raid".to_string(), inside[2].3.clone()] {
        let z = zones.iter().find(|z| z.info.zone_id == id);
        let z = z.unwrap_or_else(|| panic!("{id} is not in the registry: {zones:?}"));
        assert!(z.up && z.info.instance, "{id}: {z:?}");
        assert_eq!(z.info.template, "vault");
    }
    let metrics = world.metrics().await;
    assert_eq!(
        scrape::sum_of(&metrics, "arcane_orchestrator_instances_opened_total"),
        2.0,
        "{metrics}"
    );
    let kind = |m: &str| scrape::labelled(m, "arcane_orchestrator_zones", "kind", "instance");
    assert_eq!(kind(&metrics), 2.0, "{metrics}");
    for (name, player, i, want, _client, trip) in &inside {
        assert_eq!(trip.redirects, 1, "{name}: {trip:?}");
        assert_eq!(trip.hp, 150, "{name}: HP carried in");
        check_one_owner(&world, name, *player, want, *i).await;
    }
    let rosters = world.rosters().await;
    let mut party = rosters["vault~party-raid"].clone();
    party.sort_unstable();
    assert_eq!(
        party,
        vec![inside[0].1, inside[1].1],
        "the party is together"
    );

    // Everyone walks west out of the instance, back to `west`.
    let mut trips = Vec::new();
    for (name, player, i, _want, client, _trip) in inside {
        let (world, go) = (&world, go.clone());
        trips.push(async move {
            let (client, trip) = journey(
                world,
                name,
                Start::Connected(Box::new(client)),
                "west",
                -127,
                go,
            )
            .await;
            (name, player, i, client, trip)
        });
    }
    let back = futures_util::future::join_all(trips).await;
    for (name, player, i, _client, trip) in &back {
        assert_eq!(trip.redirects, 1, "{name}: {trip:?}");
        check_one_owner(&world, name, *player, "west", *i).await;
    }

    // Emptied, both instances close themselves: they deregister and their processes
    // exit (the admin port stops answering), and the metrics count no instance.
    let admin: Vec<String> = zones
        .iter()
        .filter(|z| z.info.instance)
        .map(|z| z.info.admin_endpoint.clone())
        .collect();
    assert_eq!(admin.len(), 2);
    let start = Instant::now();
    loop {
        let zones = world.zones().await;
        let open: Vec<_> = zones.iter().filter(|z| z.info.instance).collect();
        let mut alive = 0;
        for a in &admin {
            if reqwest::get(format!("{a}/healthz")).await.is_ok() {
                alive += 1;
            }
        }
        if open.is_empty() && alive == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "instances did not close: {open:?}, {alive} still answering\n{}",
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let metrics = world.metrics().await;
    assert_eq!(kind(&metrics), 0.0, "{metrics}");
    // The shared zone stays.
    world.wait_up(&["west"]).await;
    println!(
        "instances: 2 opened as processes, {} players in and out, both closed after {:?}",
        back.len(),
        start.elapsed()
    );
}
