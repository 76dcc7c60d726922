//! The orchestrator API over real HTTP: zones register and heartbeat; logins are
//! placed (sticky to the owning zone, copies of the same map when it is full or down)
//! with tickets zones accept; two replicas sharing one Redis never place a player
//! twice under a login storm; transfers commit once and abort cleanly; instances open
//! per party and overflow copies open when every copy is full.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

mod services;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arcane_orchestrator::api::{self, ApiConfig, Heartbeat, LoginResponse, TransferResponse};
use arcane_orchestrator::shared::{ZoneInfo, ZoneLoad};
use arcane_orchestrator::store::{Handoff, HandoffStatus, ItemStack, Ownership, SavedPlayer};
use arcane_orchestrator::supervisor::{Supervisor, SupervisorError, ZoneSpec};
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
        registry_warmup: Duration::ZERO,
    }
}

/// A store in a fresh SQLite file, and the scratch folder holding it (removed when
/// the guard is dropped, so keep it for as long as the store is used).
async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::Builder::new()
        .prefix("arcane-api-")
        .tempdir()
        .unwrap();
    let file = dir.path().join("arcane.db");
    let store = Store::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    (store, dir)
}

async fn start<S: SharedState>(store: Store, shared: S) -> String {
    start_with(Orchestrator::new(store, shared, config())).await
}

/// For tests of placement, not liveness: a round of 40 logins, or a walk through
/// instances, on a loaded CI machine can take longer than `config()`'s 600 ms
/// heartbeat timeout, and a zone marked down then refuses logins with 503.
fn patient_config() -> ApiConfig {
    ApiConfig {
        heartbeat_timeout: Duration::from_secs(60),
        ..config()
    }
}

async fn start_patient<S: SharedState>(store: Store, shared: S) -> String {
    start_with(Orchestrator::new(store, shared, patient_config())).await
}

async fn start_with<S: SharedState>(o: Orchestrator<S>) -> String {
    let (addr, _task) = api::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), Arc::new(o))
        .await
        .unwrap();
    format!("http://{addr}")
}

fn zone_info(zone: &str, capacity: u32) -> ZoneInfo {
    ZoneInfo {
        zone_id: zone.into(),
        endpoint: format!("ws://127.0.0.1:1/{zone}"),
        capacity,
        template: zone.split('~').next().unwrap().into(),
        ..ZoneInfo::default()
    }
}

async fn register(http: &reqwest::Client, base: &str, zone: &str, capacity: u32) {
    let info = zone_info(zone, capacity);
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

/// Test names `name.party` log in as `name` with party `party`.
fn party_of(name: &str) -> Option<&str> {
    name.split_once('.').map(|(_, p)| p)
}

async fn login(
    http: &reqwest::Client,
    base: &str,
    name: &str,
) -> Result<LoginResponse, (u16, String)> {
    let r = http
        .post(format!("{base}/v1/login"))
        .json(&serde_json::json!({
            "name": name.split('.').next().unwrap(),
            "party": party_of(name),
        }))
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
async fn with_an_identity_provider_a_login_needs_its_token_and_is_its_subject() {
    use arcane_orchestrator::auth::IdentityProvider;
    use jsonwebtoken::{EncodingKey, Header, encode};
    let idp = IdentityProvider::hs256(b"idp-secret", Some("https://id.test"), Some("arcane"));
    let (store, _db) = sqlite().await;
    let base =
        start_with(Orchestrator::new(store, MemoryState::default(), config()).with_identity(idp))
            .await;
    let http = reqwest::Client::new();
    register(&http, &base, "meadow", 10).await;
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
        let http = http.clone();
        let url = format!("{base}/v1/login");
        async move { http.post(url).json(&body).send().await.unwrap() }
    };
    // A name alone no longer logs anyone in; neither does a forged token.
    let r = post(serde_json::json!({"name": "ann"})).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("token"));
    let forged = sign("ann", b"guessed");
    assert_eq!(
        post(serde_json::json!({"token": forged})).await.status(),
        401
    );
    // A token the provider signed logs its subject in, whatever name is claimed.
    let r = post(serde_json::json!({"name": "mallory", "token": sign("ann", b"idp-secret")})).await;
    assert_eq!(r.status(), 200);
    let ann: LoginResponse = r.json().await.unwrap();
    let again = post(serde_json::json!({"token": sign("ann", b"idp-secret")})).await;
    let again: LoginResponse = again.json().await.unwrap();
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
    let base = start(store, MemoryState::default()).await;
    let http = reqwest::Client::new();
    assert_eq!(
        login(&http, &base, "early").await.unwrap_err().0,
        503,
        "no zones yet"
    );
    register(&http, &base, "meadow", 2).await;
    register(&http, &base, "meadow~2", 100).await;
    register(&http, &base, "forest", 100).await;
    assert_eq!(beat(&http, &base, "nowhere", 0).await, 404);

    // A new player belongs to the start zone, which is up and has room.
    let a = login(&http, &base, "ada").await.unwrap();
    assert_eq!(a.zone_id, "meadow");
    assert_eq!(a.endpoint, "ws://127.0.0.1:1/meadow");
    let claims = TicketKey::new(SECRET)
        .verify(&a.ticket, "meadow", a.expires_unix - 30)
        .unwrap();
    assert_eq!(claims.player_id, a.player_id);
    assert_eq!(login(&http, &base, "bad name!").await.unwrap_err().0, 400);

    // Meadow is full: a new player goes to the meadow's copy, never to the forest.
    assert_eq!(beat(&http, &base, "meadow", 2).await, 204);
    let b = login(&http, &base, "bea").await.unwrap();
    assert_eq!(b.zone_id, "meadow~2");
    // The copy owns bea now: the same login again is the same placement.
    assert_eq!(
        login(&http, &base, "bea").await.unwrap().zone_id,
        "meadow~2"
    );

    // The copy stops heartbeating: it is down, and bea moves back to the meadow.
    beat(&http, &base, "meadow", 0).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    beat(&http, &base, "meadow", 0).await;
    beat(&http, &base, "forest", 0).await;
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
    assert!(!up["meadow~2"], "the silent zone is down");
    assert!(up["meadow"]);
    assert_eq!(login(&http, &base, "bea").await.unwrap().zone_id, "meadow");
    assert_eq!(login(&http, &base, "cal").await.unwrap().zone_id, "meadow");
}

/// Rounds of concurrent logins of the same players through two replicas, with the
/// meadow and its copy taking turns being full so that every round moves every player
/// and the replicas race on each move: in each round both answers for a player name
/// the same zone, and that zone is the one the database says owns the player.
async fn storm(bases: [String; 2], store: Store) {
    let http = reqwest::Client::new();
    for base in &bases {
        register(&http, base, "meadow", 10).await;
        register(&http, base, "meadow~2", 10).await;
    }
    let names: Vec<String> = (0..20).map(|i| format!("storm{i}")).collect();
    for round in 0..6 {
        let (full, open) = if round % 2 == 0 {
            ("meadow", "meadow~2")
        } else {
            ("meadow~2", "meadow")
        };
        for base in &bases {
            beat(&http, base, full, 10).await;
            beat(&http, base, open, 0).await;
        }
        let mut tasks = Vec::new();
        for name in &names {
            for base in &bases {
                let (http, base, name) = (http.clone(), base.clone(), name.clone());
                tasks.push(tokio::spawn(async move {
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
        RedisState::connect(&url, &prefix).await.unwrap(),
    )
    .await;
    let b = start_patient(
        store.clone(),
        RedisState::connect(&url, &prefix).await.unwrap(),
    )
    .await;
    storm([a, b], store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_in_memory_never_places_a_player_twice() {
    let (store, _db) = sqlite().await;
    let base = start_patient(store.clone(), MemoryState::default()).await;
    storm([base.clone(), base], store).await;
}

#[tokio::test]
async fn a_player_owned_by_a_zone_that_went_down_moves_to_a_running_copy() {
    let (store, _db) = sqlite().await;
    let base = start(store, MemoryState::default()).await;
    let http = reqwest::Client::new();
    register(&http, &base, "meadow", 100).await;
    let first = login(&http, &base, "dora").await.unwrap();
    assert_eq!(first.zone_id, "meadow");
    // Meadow dies (no heartbeats); its copy comes up.
    register(&http, &base, "meadow~2", 100).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    beat(&http, &base, "meadow~2", 0).await;
    let again = login(&http, &base, "dora").await.unwrap();
    assert_eq!(
        (again.player_id, again.zone_id.as_str()),
        (first.player_id, "meadow~2")
    );
    // With no copy running either, the player waits for the zone to come back.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(login(&http, &base, "dora").await.unwrap_err().0, 503);
}

fn items(tag: &str) -> Vec<ItemStack> {
    vec![
        ItemStack {
            item: format!("sword-{tag}"),
            count: 1,
        },
        ItemStack {
            item: "gold".into(),
            count: 250,
        },
    ]
}

async fn handoff(store: &Store, id: &str, player: u64, target: &str) -> Handoff {
    let owner = store.owner(player).await.unwrap().unwrap();
    let h = Handoff {
        transfer_id: id.into(),
        player_id: player,
        from_zone: owner.zone,
        from_epoch: owner.epoch,
        target: target.into(),
        state: SavedPlayer {
            x: 8.0,
            y: 40.0,
            hp: 150,
            mana: 60,
            inventory: items(id),
        },
    };
    assert_eq!(
        store.begin_handoff(&h).await.unwrap(),
        HandoffStatus::Pending
    );
    h
}

async fn transfer(http: &reqwest::Client, base: &str, id: &str) -> Result<TransferResponse, u16> {
    let r = http
        .post(format!("{base}/v1/transfers"))
        .json(&serde_json::json!({ "transfer_id": id }))
        .send()
        .await
        .unwrap();
    match r.status().as_u16() {
        200 => Ok(r.json().await.unwrap()),
        s => Err(s),
    }
}

#[tokio::test]
async fn a_transfer_commits_once_moves_the_items_and_a_stale_one_aborts() {
    let (store, _db) = sqlite().await;
    let base = start_patient(store.clone(), MemoryState::default()).await;
    let http = reqwest::Client::new();
    register(&http, &base, "meadow", 100).await;
    register(&http, &base, "forest", 100).await;
    let eve = login(&http, &base, "eve").await.unwrap();
    let h = handoff(&store, "t-1", eve.player_id, "zone:forest").await;

    let first = transfer(&http, &base, "t-1").await.unwrap();
    assert_eq!(first.zone_id, "forest");
    assert_eq!(first.endpoint, "ws://127.0.0.1:1/forest");
    TicketKey::new(SECRET)
        .verify(&first.ticket, "forest", first.expires_unix - 30)
        .unwrap();
    // Asked again (a retry after a lost answer): the same outcome, nothing moves twice.
    assert_eq!(
        transfer(&http, &base, "t-1").await.unwrap().zone_id,
        "forest"
    );
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
    assert_eq!(login(&http, &base, "eve").await.unwrap().zone_id, "forest");

    // A handoff written by the old owner at the old epoch cannot move her again.
    let stale = Handoff {
        transfer_id: "t-stale".into(),
        ..h.clone()
    };
    store.begin_handoff(&stale).await.unwrap();
    assert_eq!(transfer(&http, &base, "t-stale").await.unwrap_err(), 409);
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
    assert_eq!(transfer(&http, &base, "t-nowhere").await.unwrap_err(), 409);
    assert_eq!(store.owner(eve.player_id).await.unwrap().unwrap(), owner);
    assert_eq!(transfer(&http, &base, "t-unknown").await.unwrap_err(), 503);
}

#[tokio::test]
async fn login_finishes_a_transfer_its_source_zone_left_pending() {
    let (store, _db) = sqlite().await;
    let base = start_patient(store.clone(), MemoryState::default()).await;
    let http = reqwest::Client::new();
    register(&http, &base, "meadow", 100).await;
    register(&http, &base, "forest", 100).await;
    let fay = login(&http, &base, "fay").await.unwrap();
    // The source zone froze her, recorded the handoff and died before asking.
    handoff(&store, "t-orphan", fay.player_id, "zone:forest").await;
    let again = login(&http, &base, "fay").await.unwrap();
    assert_eq!(again.zone_id, "forest");
    let p = store.player(fay.player_id).await.unwrap().unwrap();
    assert_eq!(p.inventory, items("t-orphan"));
    assert!(matches!(
        store.handoff("t-orphan").await.unwrap().unwrap().1,
        HandoffStatus::Committed { .. }
    ));
}

/// Stands in for zone processes: "starting" a zone registers it with the orchestrator
/// the way a real zone-server does once it listens.
struct RegisteringSupervisor {
    base: std::sync::Mutex<String>,
    started: Arc<std::sync::Mutex<Vec<ZoneSpec>>>,
}

impl Supervisor for RegisteringSupervisor {
    fn start(&self, spec: ZoneSpec) -> Result<(), SupervisorError> {
        self.started.lock().unwrap().push(spec.clone());
        let base = self.base.lock().unwrap().clone();
        tokio::spawn(async move {
            let mut info = zone_info(&spec.zone_id, 8);
            info.template = spec.template.clone();
            info.instance = spec.template == "crypt";
            let http = reqwest::Client::new();
            http.post(format!("{base}/v1/zones/register"))
                .json(&info)
                .send()
                .await
                .unwrap();
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
    let sup = RegisteringSupervisor {
        base: std::sync::Mutex::new(String::new()),
        started: started.clone(),
    };
    // The supervisor needs the address, which exists once the API listens.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *sup.base.lock().unwrap() = base.clone();
    let o = Arc::new(
        Orchestrator::new(store.clone(), MemoryState::default(), patient_config())
            .with_supervisor(sup),
    );
    tokio::spawn(api::serve(listener, o));
    let http = reqwest::Client::new();
    register(&http, &base, "meadow", 100).await;

    // Two members of party "red" and one player without a party take the portal.
    let a = login(&http, &base, "ann.red").await.unwrap();
    let b = login(&http, &base, "bob.red").await.unwrap();
    let c = login(&http, &base, "cid").await.unwrap();
    handoff(&store, "i-a", a.player_id, "instance:crypt").await;
    handoff(&store, "i-b", b.player_id, "instance:crypt").await;
    handoff(&store, "i-c", c.player_id, "instance:crypt").await;
    let (ta, tb, tc) = tokio::join!(
        transfer(&http, &base, "i-a"),
        transfer(&http, &base, "i-b"),
        transfer(&http, &base, "i-c")
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
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
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
    let r = http
        .post(format!("{base}/v1/zones/deregister"))
        .json(&serde_json::json!({ "zone_id": "crypt~party-red" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let back = login(&http, &base, "ann.red").await.unwrap();
    assert_eq!(back.zone_id, "meadow");
    let p = store.player(a.player_id).await.unwrap().unwrap();
    assert_eq!((p.x, p.y), config().start_position);
    assert_eq!(p.inventory, items("i-a"), "items survive the instance");

    // Overflow: the meadow is past its threshold, so the next arrival gets a copy.
    beat(&http, &base, "meadow", 100).await;
    let d = login(&http, &base, "dan").await.unwrap();
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
    let dan2 = login(&http, &base, "dab.blue").await.unwrap();
    assert_eq!(dan2.zone_id, "meadow~2");
    register(&http, &base, "meadow~3", 100).await;
    beat(&http, &base, "meadow~2", 5).await;
    let eva = login(&http, &base, "eva.blue").await.unwrap();
    assert_eq!(eva.zone_id, "meadow~2", "with her party");
    let fin = login(&http, &base, "fin").await.unwrap();
    assert_eq!(fin.zone_id, "meadow~3", "least filled, no party");
}
