//! The zone registry's contract, run against the in-memory implementation and a real
//! Redis: registration, heartbeats, liveness by timeout, atomic claims.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

// The one copy of the service helpers, beside the store tests that also need them.
#[path = "../store/tests/services/mod.rs"]
mod services;

use std::future::Future;

use arcane_control_api::{ZoneInfo, ZoneLoad};
use arcane_orchestrator::registry::PresenceRegistry;
use arcane_orchestrator::{Beat, MemoryRegistry, RedisRegistry, ZoneRegistry};

/// Runs the contract. Claims expire on the registry's clock: `past_ttl` lets a claim
/// of 50 ms run out (the memory registry is told a later time; Redis keeps its own
/// clock, so its caller waits for it).
async fn contract<R: ZoneRegistry, F: Future<Output = u64>>(
    s: &R,
    what: &str,
    past_ttl: impl FnOnce(u64) -> F,
) {
    let info = |id: &str| ZoneInfo {
        zone_id: id.into(),
        endpoint: format!("ws://{id}"),
        capacity: 100,
        ..ZoneInfo::default()
    };
    s.register(info("b"), 1_000).await.unwrap();
    s.register(info("a"), 1_000).await.unwrap();
    assert_eq!(
        s.heartbeat("nope", 0, ZoneLoad::default(), 1_100)
            .await
            .unwrap(),
        Beat::Unknown,
        "{what}"
    );
    let load = ZoneLoad {
        players: 7,
        tick_p99_ms: 3.5,
        ..ZoneLoad::default()
    };
    assert_eq!(
        s.heartbeat("a", 0, load, 2_000).await.unwrap(),
        Beat::Recorded,
        "{what}"
    );
    let zones = s.zones(1_900, 1_000).await.unwrap();
    let ids: Vec<_> = zones
        .iter()
        .map(|z| (z.info.zone_id.as_str(), z.up))
        .collect();
    assert_eq!(ids, [("a", true), ("b", true)], "{what}");
    assert_eq!(zones[0].load, load, "{what}");
    // b has been silent for 1.6 s with a 1 s timeout: down.
    let zones = s.zones(2_600, 1_000).await.unwrap();
    assert!(zones[0].up && !zones[1].up, "{what}: {zones:?}");

    // The first placement wins; later ones get it back; release frees the player.
    assert_eq!(
        s.claim("placement:42", "a", 60_000, 3_000).await.unwrap(),
        "a",
        "{what}"
    );
    assert_eq!(
        s.claim("placement:42", "b", 60_000, 3_000).await.unwrap(),
        "a",
        "{what}"
    );
    s.release("placement:42").await.unwrap();
    assert_eq!(
        s.claim("placement:42", "b", 60_000, 3_000).await.unwrap(),
        "b",
        "{what}"
    );
    // A placement in a dead zone moves once: the second replacer sees the first's.
    assert_eq!(
        s.reclaim("placement:42", "b", "a", 60_000, 3_000)
            .await
            .unwrap(),
        "a",
        "{what}"
    );
    assert_eq!(
        s.reclaim("placement:42", "b", "c", 60_000, 3_000)
            .await
            .unwrap(),
        "a",
        "{what}"
    );
    // Placements expire (a player who never connected can be placed again).
    assert_eq!(
        s.claim("placement:43", "a", 50, 3_000).await.unwrap(),
        "a",
        "{what}"
    );
    let later = past_ttl(3_000).await;
    assert_eq!(
        s.claim("placement:43", "b", 60_000, later).await.unwrap(),
        "b",
        "{what}"
    );

    // A newer process of b (lease generation 2) registers: the replaced one's beats
    // are answered Superseded and change nothing, and it cannot take b out.
    s.register(
        ZoneInfo {
            lease_generation: 2,
            ..info("b")
        },
        2_650,
    )
    .await
    .unwrap();
    assert_eq!(
        s.heartbeat("b", 0, load, 2_660).await.unwrap(),
        Beat::Superseded,
        "{what}"
    );
    let b = s.zones(2_700, 1_000).await.unwrap().remove(1);
    assert_eq!(
        (b.info.lease_generation, b.load, b.last_heartbeat_ms),
        (2, ZoneLoad::default(), 2_650),
        "{what}"
    );
    assert!(!s.deregister("b", 0).await.unwrap(), "{what}");
    assert_eq!(s.zones(2_700, 1_000).await.unwrap().len(), 2, "{what}");

    // A closed instance leaves the registry.
    assert!(s.deregister("b", 2).await.unwrap(), "{what}");
    let ids: Vec<_> = s
        .zones(2_600, 1_000)
        .await
        .unwrap()
        .into_iter()
        .map(|z| z.info.zone_id)
        .collect();
    assert_eq!(ids, ["a"], "{what}");
    assert_eq!(
        s.heartbeat("b", 2, load, 2_700).await.unwrap(),
        Beat::Unknown,
        "{what}"
    );
}

#[tokio::test]
async fn the_memory_registry_keeps_the_contract() {
    contract(&MemoryRegistry::default(), "memory", |now| async move {
        now + 120
    })
    .await;
}

#[tokio::test]
async fn the_redis_registry_keeps_the_contract() {
    let Some(url) = services::url("ARCANE_TEST_REDIS_URL") else {
        return;
    };
    let prefix = services::unique("arcane-test");
    let s = RedisRegistry::connect(&url, &prefix).await.unwrap();
    contract(&s, "redis", |now| async move {
        // Redis expires keys on its own clock (`PX`): wait past the TTL there.
        tokio::time::sleep(std::time::Duration::from_millis(120)).await;
        now
    })
    .await;

    // A record left behind without set membership (what a heartbeat racing a
    // deregistration used to write) does not count as registered: the zone is told to
    // register again instead of heartbeating into a record no listing shows.
    let mut c = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let record = r#"{"info":{"zone_id":"ghost","endpoint":"ws://ghost","capacity":1},"load":{"players":0,"tick_p99_ms":0.0},"last_heartbeat_ms":1,"up":true}"#;
    redis::cmd("SET")
        .arg(format!("{prefix}:zone:ghost"))
        .arg(record)
        .query_async::<()>(&mut c)
        .await
        .unwrap();
    assert_eq!(
        s.heartbeat("ghost", 0, ZoneLoad::default(), 3_000)
            .await
            .unwrap(),
        Beat::Unknown
    );
    let ids: Vec<_> = s.zones(3_000, 1_000).await.unwrap();
    assert!(ids.iter().all(|z| z.info.zone_id != "ghost"), "{ids:?}");

    // A zone an older orchestrator registered (no lease generation stored) keeps
    // beating through an upgrade instead of being told it was replaced.
    let old = r#"{"info":{"zone_id":"old","endpoint":"ws://old","capacity":1},"load":{"players":0,"tick_p99_ms":0.0},"last_heartbeat_ms":1,"up":true}"#;
    redis::pipe()
        .cmd("SET")
        .arg(format!("{prefix}:zone:old"))
        .arg(old)
        .ignore()
        .cmd("SADD")
        .arg(format!("{prefix}:zones"))
        .arg("old")
        .ignore()
        .query_async::<()>(&mut c)
        .await
        .unwrap();
    assert_eq!(
        s.heartbeat("old", 4, ZoneLoad::default(), 3_000)
            .await
            .unwrap(),
        Beat::Recorded
    );
}

/// Presence: set, moved by a transfer (the new zone may report first), cleared only
/// by the zone the player is in, listed per zone.
async fn presence_contract<R: ZoneRegistry>(s: &R, what: &str) {
    use arcane_orchestrator::registry::Presence;
    let at = |zone: &str| Presence {
        zone: zone.into(),
        name: "ann".into(),
        hp: 40,
        max_hp: 100,
        party: Some("p1".into()),
        blocks: vec![3],
        hidden: vec![3, 4],
        muted_until: 9,
        arriving: false,
        epoch: 2,
    };
    assert_eq!(
        s.presence_set(7, at("meadow")).await.unwrap(),
        None,
        "{what}"
    );
    assert_eq!(s.presence_in_zone("meadow").await.unwrap(), vec![7]);
    // The forest reports the arrival before the meadow reports the departure.
    assert_eq!(
        s.presence_set(7, at("forest")).await.unwrap(),
        Some(at("meadow")),
        "{what}"
    );
    assert_eq!(s.presence_clear(7, "meadow").await.unwrap(), None, "{what}");
    assert_eq!(
        s.presence_get(&[7, 8]).await.unwrap(),
        vec![Some(at("forest")), None],
        "{what}"
    );
    assert!(
        s.presence_in_zone("meadow").await.unwrap().is_empty(),
        "{what}"
    );
    assert_eq!(s.presence_in_zone("forest").await.unwrap(), vec![7]);
    assert_eq!(
        s.presence_clear(7, "forest").await.unwrap(),
        Some(at("forest"))
    );
    assert_eq!(s.presence_get(&[7]).await.unwrap(), vec![None], "{what}");
    assert!(s.presence_in_zone("forest").await.unwrap().is_empty());
}

#[tokio::test]
async fn presence_keeps_its_contract_in_memory_and_in_redis() {
    presence_contract(&MemoryRegistry::default(), "memory").await;
    assert!(
        !MemoryRegistry::default()
            .publish_social("z", "{}")
            .await
            .unwrap()
    );
    let Some(url) = services::url("ARCANE_TEST_REDIS_URL") else {
        return;
    };
    let prefix = services::unique("arcane-presence");
    let s = RedisRegistry::connect(&url, &prefix).await.unwrap();
    presence_contract(&s, "redis").await;
    // What one replica publishes, another (here: the same one) receives.
    let mut rx = s.subscribe_social().expect("a Redis bus");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        assert!(s.publish_social("meadow", "{\"x\":1}").await.unwrap());
        match tokio::time::timeout(std::time::Duration::from_millis(200), rx.recv()).await {
            Ok(Some(m)) => {
                assert_eq!(m, ("meadow".to_string(), "{\"x\":1}".to_string()));
                break;
            }
            _ => assert!(std::time::Instant::now() < deadline, "nothing on the bus"),
        }
    }
}
