//! The orchestrator API over real HTTP: zones register and heartbeat, logins are
//! placed (sticky, capacity, down zones skipped) with tickets zones accept, and two
//! replicas sharing one Redis never place a player twice under a login storm.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

mod services;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arcane_orchestrator::api::{self, ApiConfig, Heartbeat, LoginResponse};
use arcane_orchestrator::shared::{ZoneInfo, ZoneLoad};
use arcane_orchestrator::{MemoryState, Orchestrator, RedisState, SharedState, Store};
use arcane_protocol::ticket::TicketKey;

const SECRET: &str = "test-secret";

fn config() -> ApiConfig {
    ApiConfig {
        ticket_secret: SECRET.into(),
        ticket_ttl: Duration::from_secs(60),
        heartbeat_timeout: Duration::from_millis(600),
        placement_ttl: Duration::from_secs(60),
        start_zone: "meadow".into(),
        start_position: (5.0, 5.0),
        start_vitals: (200, 100),
    }
}

async fn sqlite() -> Store {
    let file = std::env::temp_dir().join(format!("{}.db", services::unique("arcane-api")));
    Store::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap()
}

async fn start<S: SharedState>(store: Store, shared: S) -> String {
    let state = Arc::new(Orchestrator {
        store,
        shared,
        key: TicketKey::new(SECRET),
        config: config(),
    });
    let (addr, _task) = api::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), state)
        .await
        .unwrap();
    format!("http://{addr}")
}

async fn register(http: &reqwest::Client, base: &str, zone: &str, capacity: u32) {
    let info = ZoneInfo {
        zone_id: zone.into(),
        endpoint: format!("ws://127.0.0.1:1/{zone}"),
        capacity,
    };
    let r = http
        .post(format!("{base}/v1/zones/register"))
        .json(&info)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

async fn beat(http: &reqwest::Client, base: &str, zone: &str, players: u32) -> u16 {
    let hb = Heartbeat {
        zone_id: zone.into(),
        load: ZoneLoad {
            players,
            tick_p99_ms: 4.0,
        },
    };
    http.post(format!("{base}/v1/zones/heartbeat"))
        .json(&hb)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn login(
    http: &reqwest::Client,
    base: &str,
    name: &str,
) -> Result<LoginResponse, (u16, String)> {
    let r = http
        .post(format!("{base}/v1/login"))
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    if status == 200 {
        Ok(r.json().await.unwrap())
    } else {
        Err((status, r.text().await.unwrap()))
    }
}

#[tokio::test]
async fn placement_prefers_the_last_zone_respects_capacity_and_skips_down_zones() {
    let base = start(sqlite().await, MemoryState::default()).await;
    let http = reqwest::Client::new();
    assert_eq!(
        login(&http, &base, "early").await.unwrap_err().0,
        503,
        "no zones yet"
    );
    register(&http, &base, "meadow", 2).await;
    register(&http, &base, "forest", 100).await;
    assert_eq!(beat(&http, &base, "nowhere", 0).await, 404);

    // A new player's last zone is the start zone, which is up and has room.
    let a = login(&http, &base, "ada").await.unwrap();
    assert_eq!(a.zone_id, "meadow");
    assert_eq!(a.endpoint, "ws://127.0.0.1:1/meadow");
    let claims = TicketKey::new(SECRET)
        .verify(&a.ticket, "meadow", a.expires_unix - 30)
        .unwrap();
    assert_eq!(claims.player_id, a.player_id);
    assert_eq!(login(&http, &base, "bad name!").await.unwrap_err().0, 400);

    // Meadow is full: a new player goes to the forest.
    assert_eq!(beat(&http, &base, "meadow", 2).await, 204);
    let b = login(&http, &base, "bea").await.unwrap();
    assert_eq!(b.zone_id, "forest");
    // The same login again is the same placement (idempotent).
    assert_eq!(login(&http, &base, "bea").await.unwrap().zone_id, "forest");

    // The forest stops heartbeating: it is marked down and gets nobody new.
    beat(&http, &base, "meadow", 0).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    beat(&http, &base, "meadow", 0).await;
    let zones: Vec<serde_json::Value> = http
        .get(format!("{base}/v1/zones"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let up: HashMap<String, bool> = zones
        .iter()
        .map(|z| {
            (
                z["info"]["zone_id"].as_str().unwrap().to_string(),
                z["up"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(!up["forest"], "the silent zone is down");
    assert!(up["meadow"]);
    assert_eq!(login(&http, &base, "cal").await.unwrap().zone_id, "meadow");
}

/// Many logins of the same few players through two replicas at once: every player's
/// answers name one zone.
async fn storm(bases: [String; 2]) {
    let http = reqwest::Client::new();
    // Two zones with equal load, so a replica choosing on its own could pick either.
    for base in &bases {
        register(&http, base, "east", 10_000).await;
        register(&http, base, "west", 10_000).await;
    }
    let names: Vec<String> = (0..25).map(|i| format!("storm{i}")).collect();
    let mut tasks = Vec::new();
    for round in 0..8 {
        for (i, name) in names.iter().enumerate() {
            let base = bases[(i + round) % 2].clone();
            let (http, name) = (http.clone(), name.clone());
            // Alternate the load reports so the two replicas disagree on the best zone.
            let zone_load = if round % 2 == 0 {
                ("east", 5)
            } else {
                ("west", 5)
            };
            tasks.push(tokio::spawn(async move {
                beat(&http, &base, zone_load.0, zone_load.1).await;
                (name.clone(), login(&http, &base, &name).await.unwrap())
            }));
        }
    }
    let mut placed: HashMap<String, (u64, String)> = HashMap::new();
    for t in tasks {
        let (name, r) = t.await.unwrap();
        let prev = placed.insert(name.clone(), (r.player_id, r.zone_id.clone()));
        if let Some(prev) = prev {
            assert_eq!(prev, (r.player_id, r.zone_id), "{name} was placed twice");
        }
    }
    assert_eq!(placed.len(), names.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_redis_never_place_a_player_twice() {
    let Some(url) = services::url("ARCANE_TEST_REDIS_URL") else {
        return;
    };
    let prefix = services::unique("arcane-test");
    let store = sqlite().await;
    let a = start(
        store.clone(),
        RedisState::connect(&url, &prefix).await.unwrap(),
    )
    .await;
    let b = start(store, RedisState::connect(&url, &prefix).await.unwrap()).await;
    storm([a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_in_memory_never_places_a_player_twice() {
    let base = start(sqlite().await, MemoryState::default()).await;
    storm([base.clone(), base]).await;
}

#[tokio::test]
async fn a_player_placed_in_a_zone_that_went_down_is_placed_again() {
    let base = start(sqlite().await, MemoryState::default()).await;
    let http = reqwest::Client::new();
    register(&http, &base, "meadow", 100).await;
    let first = login(&http, &base, "dora").await.unwrap();
    assert_eq!(first.zone_id, "meadow");
    // Meadow dies (no heartbeats); forest comes up.
    register(&http, &base, "forest", 100).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    beat(&http, &base, "forest", 0).await;
    let again = login(&http, &base, "dora").await.unwrap();
    assert_eq!(
        (again.player_id, again.zone_id.as_str()),
        (first.player_id, "forest")
    );
}
