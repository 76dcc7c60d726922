//! The orchestrator API, driven through its router with no socket and on a manual
//! clock (no test sleeps): zones register and heartbeat; logins are placed (sticky to
//! the owning zone, copies of the same map when it is full or down) with tickets zones
//! accept; two replicas sharing one Redis never place a player twice under a login
//! storm; transfers commit once and abort cleanly; instances open per party and
//! overflow copies open when every copy is full.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

// The one copy of the service helpers, beside the store tests that also need them.
mod harness;
#[path = "../store/tests/services/mod.rs"]
mod services;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arcane_control_api::{LoginResponse, paths};
use arcane_orchestrator::clock::ManualClock;
use arcane_orchestrator::supervisor::{Supervisor, SupervisorError, ZoneSpec};
use arcane_orchestrator::{MemoryRegistry, Orchestrator, RedisRegistry, ZoneRegistry};
use arcane_protocol::ticket::TicketKey;
use arcane_store::{Handoff, HandoffStatus, Ownership, Store};
use harness::*;

#[tokio::test]
async fn with_an_identity_provider_a_login_needs_its_token_and_is_its_subject() {
    use arcane_orchestrator::auth::IdentityProvider;
    use jsonwebtoken::{EncodingKey, Header, encode};
    let idp = IdentityProvider::hs256(b"idp-secret", Some("https://id.test"), Some("arcane"));
    let (store, _db) = sqlite().await;
    let api =
        Api::new(Orchestrator::new(store, MemoryRegistry::default(), config()).with_identity(idp));
    register(&api, "meadow", 10).await;
    let sign = |sub: &str, secret: &[u8]| {
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 600;
        let claims =
            serde_json::json!({"sub": sub, "exp": exp, "iss": "https://id.test", "aud": "arcane"});
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    };
    let post = |body: serde_json::Value| {
        let api = api.clone();
        async move { api.post(paths::LOGIN, body).await }
    };
    // A name alone no longer logs anyone in; neither does a forged token.
    let (status, body) = post(serde_json::json!({"name": "ann"})).await;
    assert_eq!(status, 401);
    assert!(String::from_utf8_lossy(&body).contains("token"));
    let forged = sign("ann", b"guessed");
    assert_eq!(post(serde_json::json!({"token": forged})).await.0, 401);
    // A token the provider signed logs its subject in, whatever name is claimed.
    let (status, body) =
        post(serde_json::json!({"name": "mallory", "token": sign("ann", b"idp-secret")})).await;
    assert_eq!(status, 200);
    let ann: LoginResponse = serde_json::from_slice(&body).unwrap();
    let (_, again) = post(serde_json::json!({"token": sign("ann", b"idp-secret")})).await;
    let again: LoginResponse = serde_json::from_slice(&again).unwrap();
    assert_eq!(
        ann.player_id, again.player_id,
        "the subject is the identity"
    );
    let claims = TicketKey::new(SECRET)
        .verify(&ann.ticket, "meadow", ann.expires_unix - 30)
        .unwrap();
    assert_eq!(claims.player_id, ann.player_id);
}

#[tokio::test]
async fn placement_is_sticky_and_moves_only_between_copies_of_a_map() {
    let (store, _db) = sqlite().await;
    let api = start(store, MemoryRegistry::default()).await;
    assert_eq!(
        login(&api, "early").await.unwrap_err().0,
        503,
        "no zones yet"
    );
    register(&api, "meadow", 2).await;
    register(&api, "meadow~2", 100).await;
    register(&api, "forest", 100).await;
    assert_eq!(beat(&api, "nowhere", 0).await, 404);

    // A new player belongs to the start zone, which is up and has room.
    let a = login(&api, "ada").await.unwrap();
    assert_eq!(a.zone_id, "meadow");
    assert_eq!(a.endpoint, "ws://127.0.0.1:1/meadow");
    let claims = TicketKey::new(SECRET)
        .verify(&a.ticket, "meadow", a.expires_unix - 30)
        .unwrap();
    assert_eq!(claims.player_id, a.player_id);
    assert_eq!(login(&api, "bad name!").await.unwrap_err().0, 400);

    // Meadow is full: a new player goes to the meadow's copy, never to the forest.
    assert_eq!(beat(&api, "meadow", 2).await, 204);
    let b = login(&api, "bea").await.unwrap();
    assert_eq!(b.zone_id, "meadow~2");
    // The copy owns bea now: the same login again is the same placement.
    assert_eq!(login(&api, "bea").await.unwrap().zone_id, "meadow~2");

    // The copy stops heartbeating: it is down, and bea moves back to the meadow.
    beat(&api, "meadow", 0).await;
    api.clock.advance(Duration::from_millis(800));
    beat(&api, "meadow", 0).await;
    beat(&api, "forest", 0).await;
    let zones: Vec<serde_json::Value> =
        serde_json::from_slice(&api.get(paths::ZONES).await.1).unwrap();
    let up: HashMap<String, bool> = zones
        .iter()
        .map(|z| {
            (
                z["info"]["zone_id"].as_str().unwrap().to_string(),
                z["up"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(!up["meadow~2"], "the silent zone is down");
    assert!(up["meadow"]);
    assert_eq!(login(&api, "bea").await.unwrap().zone_id, "meadow");
    assert_eq!(login(&api, "cal").await.unwrap().zone_id, "meadow");
}

/// Rounds of concurrent logins of the same players through two replicas, with the
/// meadow and its copy taking turns being full so that every round moves every player
/// and the replicas race on each move: in each round both answers for a player name
/// the same zone, and that zone is the one the database says owns the player.
async fn storm(apis: [Api; 2], store: Store) {
    for api in &apis {
        register(api, "meadow", 10).await;
        register(api, "meadow~2", 10).await;
    }
    let names: Vec<String> = (0..20).map(|i| format!("storm{i}")).collect();
    for round in 0..6 {
        let (full, open) = if round % 2 == 0 {
            ("meadow", "meadow~2")
        } else {
            ("meadow~2", "meadow")
        };
        for api in &apis {
            beat(api, full, 10).await;
            beat(api, open, 0).await;
        }
        let mut tasks = Vec::new();
        for name in &names {
            for api in &apis {
                let (api, name) = (api.clone(), name.clone());
                tasks.push(tokio::spawn(async move {
                    (name.clone(), login(&api, &name).await.unwrap())
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
        for (name, (id, zone)) in &placed {
            assert_eq!(zone, open, "round {round}: {name} is in the full zone");
            let owner = store.owner(*id).await.unwrap().unwrap();
            assert_eq!(&owner.zone, zone, "round {round}: {name}'s owner");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_redis_never_place_a_player_twice() {
    let Some(url) = services::url("ARCANE_TEST_REDIS_URL") else {
        return;
    };
    let prefix = services::unique("arcane-test");
    let (store, _db) = sqlite().await;
    let a = start_patient(
        store.clone(),
        RedisRegistry::connect(&url, &prefix).await.unwrap(),
    )
    .await;
    let b = start_patient(
        store.clone(),
        RedisRegistry::connect(&url, &prefix).await.unwrap(),
    )
    .await;
    storm([a, b], store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_in_memory_never_places_a_player_twice() {
    let (store, _db) = sqlite().await;
    let api = start_patient(store.clone(), MemoryRegistry::default()).await;
    storm([api.clone(), api], store).await;
}

#[tokio::test]
async fn a_player_owned_by_a_zone_that_went_down_moves_to_a_running_copy() {
    let (store, _db) = sqlite().await;
    let api = start(store, MemoryRegistry::default()).await;
    register(&api, "meadow", 100).await;
    let first = login(&api, "dora").await.unwrap();
    assert_eq!(first.zone_id, "meadow");
    // Meadow dies (no heartbeats); its copy comes up.
    register(&api, "meadow~2", 100).await;
    api.clock.advance(Duration::from_millis(800));
    beat(&api, "meadow~2", 0).await;
    let again = login(&api, "dora").await.unwrap();
    assert_eq!(
        (again.player_id, again.zone_id.as_str()),
        (first.player_id, "meadow~2")
    );
    // With no copy running either, the player waits for the zone to come back.
    api.clock.advance(Duration::from_millis(800));
    assert_eq!(login(&api, "dora").await.unwrap_err().0, 503);
}

#[tokio::test]
async fn a_transfer_commits_once_moves_the_items_and_a_stale_one_aborts() {
    let (store, _db) = sqlite().await;
    let api = start_patient(store.clone(), MemoryRegistry::default()).await;
    register(&api, "meadow", 100).await;
    register(&api, "forest", 100).await;
    let eve = login(&api, "eve").await.unwrap();
    let h = handoff(&store, "t-1", eve.player_id, "zone:forest").await;

    let first = transfer(&api, "t-1").await.unwrap();
    assert_eq!(first.zone_id, "forest");
    assert_eq!(first.endpoint, "ws://127.0.0.1:1/forest");
    TicketKey::new(SECRET)
        .verify(&first.ticket, "forest", first.expires_unix - 30)
        .unwrap();
    // Asked again (a retry after a lost answer): the same outcome, nothing moves twice.
    assert_eq!(transfer(&api, "t-1").await.unwrap().zone_id, "forest");
    let owner = store.owner(eve.player_id).await.unwrap().unwrap();
    assert_eq!(
        owner,
        Ownership {
            zone: "forest".into(),
            epoch: h.from_epoch + 1
        }
    );
    let p = store.player(eve.player_id).await.unwrap().unwrap();
    assert_eq!(
        (p.zone.as_str(), p.x, p.y, p.hp),
        ("forest", 8.0, 40.0, 150)
    );
    assert_eq!(p.inventory, items("t-1"));
    assert_eq!(login(&api, "eve").await.unwrap().zone_id, "forest");

    // A handoff written by the old owner at the old epoch cannot move her again.
    let stale = Handoff {
        transfer_id: "t-stale".into(),
        ..h.clone()
    };
    let meadow = lease(&store, "meadow", false).await;
    store.begin_handoff(&meadow, &stale).await.unwrap();
    assert_eq!(transfer(&api, "t-stale").await.unwrap_err(), 409);
    assert_eq!(store.owner(eve.player_id).await.unwrap().unwrap(), owner);
    assert_eq!(
        store
            .player(eve.player_id)
            .await
            .unwrap()
            .unwrap()
            .inventory,
        items("t-1")
    );
    // A transfer to a map nobody runs is aborted; the player stays.
    handoff(&store, "t-nowhere", eve.player_id, "zone:swamp").await;
    assert_eq!(transfer(&api, "t-nowhere").await.unwrap_err(), 409);
    assert_eq!(store.owner(eve.player_id).await.unwrap().unwrap(), owner);
    assert_eq!(transfer(&api, "t-unknown").await.unwrap_err(), 404);
}

#[tokio::test]
async fn login_finishes_a_transfer_its_source_zone_left_pending() {
    let (store, _db) = sqlite().await;
    let api = start_patient(store.clone(), MemoryRegistry::default()).await;
    register(&api, "meadow", 100).await;
    register(&api, "forest", 100).await;
    let fay = login(&api, "fay").await.unwrap();
    // The source zone froze her, recorded the handoff and died before asking.
    handoff(&store, "t-orphan", fay.player_id, "zone:forest").await;
    let again = login(&api, "fay").await.unwrap();
    assert_eq!(again.zone_id, "forest");
    let p = store.player(fay.player_id).await.unwrap().unwrap();
    assert_eq!(p.inventory, items("t-orphan"));
    assert!(matches!(
        store.handoff("t-orphan").await.unwrap().unwrap().1,
        HandoffStatus::Committed { .. }
    ));
}

/// Stands in for zone processes: "starting" a zone registers it in the orchestrator's
/// registry the way a real zone-server does once it listens (a moment later).
struct RegisteringSupervisor {
    registry: MemoryRegistry,
    clock: Arc<ManualClock>,
    started: Arc<std::sync::Mutex<Vec<ZoneSpec>>>,
}

impl Supervisor for RegisteringSupervisor {
    fn start(&self, spec: ZoneSpec) -> Result<(), SupervisorError> {
        self.started.lock().unwrap().push(spec.clone());
        let (registry, clock) = (self.registry.clone(), self.clock.clone());
        tokio::spawn(async move {
            let mut info = zone_info(&spec.zone_id, 8);
            info.template = spec.template.clone();
            info.instance = spec.template == "crypt";
            use arcane_orchestrator::clock::Clock as _;
            registry.register(info, clock.unix_ms()).await.unwrap();
        });
        Ok(())
    }
    fn running(&self) -> Vec<String> {
        self.started
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.zone_id.clone())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_open_per_party_close_and_overflow_opens_copies() {
    let (store, _db) = sqlite().await;
    let started = Arc::new(std::sync::Mutex::new(Vec::new()));
    let registry = MemoryRegistry::default();
    let clock = Arc::new(ManualClock::default());
    let sup = RegisteringSupervisor {
        registry: registry.clone(),
        clock: clock.clone(),
        started: started.clone(),
    };
    let o = Orchestrator::new(store.clone(), registry, patient_config()).with_supervisor(sup);
    let api = Api {
        router: arcane_orchestrator::api::router(Arc::new(o.with_clock(clock.clone()))),
        clock,
        store: store.clone(),
    };
    register(&api, "meadow", 100).await;

    // Two members of party "red" and one player without a party take the portal.
    let a = login(&api, "ann.red").await.unwrap();
    let b = login(&api, "bob.red").await.unwrap();
    let c = login(&api, "cid").await.unwrap();
    handoff(&store, "i-a", a.player_id, "instance:crypt").await;
    handoff(&store, "i-b", b.player_id, "instance:crypt").await;
    handoff(&store, "i-c", c.player_id, "instance:crypt").await;
    let (ta, tb, tc) = tokio::join!(
        transfer(&api, "i-a"),
        transfer(&api, "i-b"),
        transfer(&api, "i-c")
    );
    assert_eq!(ta.unwrap().zone_id, "crypt~party-red");
    assert_eq!(
        tb.unwrap().zone_id,
        "crypt~party-red",
        "the party stays together"
    );
    assert_eq!(tc.unwrap().zone_id, format!("crypt~solo-{}", c.player_id));
    let opened: Vec<String> = started
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.zone_id.clone())
        .collect();
    assert_eq!(
        opened.len(),
        2,
        "one instance per party, opened once: {opened:?}"
    );
    let metrics = String::from_utf8(api.get("/metrics").await.1).unwrap();
    assert!(
        metrics.contains("arcane_orchestrator_instances_opened_total 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"arcane_orchestrator_zones{kind="instance",state="up"} 2"#),
        "{metrics}"
    );

    // The red instance empties and closes itself; Ann, still owned by it, logs in
    // again and is back at the start.
    let (status, _) = api
        .post(
            paths::DEREGISTER,
            serde_json::json!({ "zone_id": "crypt~party-red" }),
        )
        .await;
    assert_eq!(status, 204);
    let back = login(&api, "ann.red").await.unwrap();
    assert_eq!(back.zone_id, "meadow");
    let p = store.player(a.player_id).await.unwrap().unwrap();
    assert_eq!((p.x, p.y), config().start_position);
    assert_eq!(p.inventory, items("i-a"), "items survive the instance");

    // Overflow: the meadow is past its threshold, so the next arrival gets a copy.
    beat(&api, "meadow", 100).await;
    let d = login(&api, "dan").await.unwrap();
    assert_eq!(d.zone_id, "meadow~2");
    assert!(
        started
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.zone_id == "meadow~2" && s.template == "meadow")
    );

    // A party is kept together: with the copy busier than a newer one, Dan's party
    // mate still joins him there.
    let dan2 = login(&api, "dab.blue").await.unwrap();
    assert_eq!(dan2.zone_id, "meadow~2");
    register(&api, "meadow~3", 100).await;
    beat(&api, "meadow~2", 5).await;
    let eva = login(&api, "eva.blue").await.unwrap();
    assert_eq!(eva.zone_id, "meadow~2", "with her party");
    let fin = login(&api, "fin").await.unwrap();
    assert_eq!(fin.zone_id, "meadow~3", "least filled, no party");
}
