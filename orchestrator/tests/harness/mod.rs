//! What the orchestrator's API tests share: an orchestrator in a fresh SQLite file,
//! called through its router with no socket on a manual clock; zones that take their
//! leases and sign their calls; logins, handoffs and transfers.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use arcane_control_api::{Heartbeat, LoginResponse, TransferResponse, ZoneInfo, ZoneLoad, paths};
use arcane_orchestrator::clock::{Clock, ManualClock};
use arcane_orchestrator::{ApiConfig, Orchestrator, ZoneRegistry};
use arcane_service::control_auth::{ControlKey, DEV_CONTROL_SECRET};
use arcane_store::{Handoff, HandoffStatus, ItemStack, SavedPlayer, Store, ZoneLease};
use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt as _;

pub const SECRET: &str = "test-secret";

pub fn config() -> ApiConfig {
    ApiConfig {
        ticket_secret: SECRET.into(),
        ticket_ttl: Duration::from_secs(60),
        heartbeat_timeout: Duration::from_millis(600),
        placement_ttl: Duration::from_secs(60),
        start_zone: "meadow".into(),
        start_position: (5.0, 5.0),
        start_vitals: (200, 100),
        registry_warmup: Duration::ZERO,
        cors_origins: Vec::new(),
        admins: Vec::new(),
    }
}

/// A store in a fresh SQLite file, and the scratch folder holding it (removed when
/// the guard is dropped, so keep it for as long as the store is used).
pub async fn sqlite() -> (Store, tempfile::TempDir) {
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

/// One orchestrator's API: its router, called in-process, and the clock it reads.
#[derive(Clone)]
pub struct Api {
    pub router: axum::Router,
    pub clock: Arc<ManualClock>,
    /// The orchestrator's store, where the test's zones take their leases.
    pub store: Store,
}

impl Api {
    pub fn new<R: ZoneRegistry>(o: Orchestrator<R>) -> Api {
        let clock = Arc::new(ManualClock::default());
        let o = o.with_clock(clock.clone());
        Api {
            store: o.store.clone(),
            router: arcane_orchestrator::api::router(Arc::new(o)),
            clock,
        }
    }

    /// Sends one request; the status and the body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, Vec<u8>) {
        let (status, _, body) = self.call_with(method, path, body, &[]).await;
        (status, body)
    }

    /// [`Api::call`] with extra request headers; the answer's headers too.
    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> (u16, axum::http::HeaderMap, Vec<u8>) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        // Zones sign their calls with the control secret (the development one here);
        // players' logins are not signed.
        if method == "POST" && path != paths::LOGIN {
            let key = ControlKey::new(DEV_CONTROL_SECRET);
            for (name, value) in key.headers(method, path, bytes.as_bytes(), self.clock.unix_ms()) {
                request = request.header(name, value);
            }
        }
        let body = Body::from(bytes);
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, headers, bytes.to_vec())
    }

    pub async fn post(&self, path: &str, body: impl serde::Serialize) -> (u16, Vec<u8>) {
        self.call("POST", path, Some(serde_json::to_value(body).unwrap()))
            .await
    }

    pub async fn get(&self, path: &str) -> (u16, Vec<u8>) {
        self.call("GET", path, None).await
    }
}

pub async fn start<R: ZoneRegistry>(store: Store, registry: R) -> Api {
    Api::new(Orchestrator::new(store, registry, config()))
}

/// For tests of placement, not liveness: nothing here waits on the clock, but a
/// heartbeat timeout that never passes keeps the intent plain.
pub fn patient_config() -> ApiConfig {
    ApiConfig {
        heartbeat_timeout: Duration::from_secs(60),
        ..config()
    }
}

pub async fn start_patient<R: ZoneRegistry>(store: Store, registry: R) -> Api {
    Api::new(Orchestrator::new(store, registry, patient_config()))
}

pub fn zone_info(zone: &str, capacity: u32) -> ZoneInfo {
    ZoneInfo {
        zone_id: zone.into(),
        endpoint: format!("ws://127.0.0.1:1/{zone}"),
        capacity,
        template: zone.split('~').next().unwrap().into(),
        ..ZoneInfo::default()
    }
}

/// The zone's current lease, taken (from the test's last process of it) when asked
/// for a new process.
pub async fn lease(store: &Store, zone: &str, new_process: bool) -> ZoneLease {
    match store.lease_generation(zone).await.unwrap() {
        Some(generation) if !new_process => ZoneLease {
            zone_id: zone.into(),
            generation,
        },
        _ => store
            .acquire_lease(zone, "test", Some("test"), 0, 60_000)
            .await
            .unwrap()
            .unwrap(),
    }
}

/// Starts a process of `zone`: takes its lease and registers.
pub async fn register(api: &Api, zone: &str, capacity: u32) {
    let generation = lease(&api.store, zone, true).await.generation;
    let info = ZoneInfo {
        lease_generation: generation,
        ..zone_info(zone, capacity)
    };
    let (status, _) = api.post(paths::REGISTER, info).await;
    assert_eq!(status, 204);
}

pub async fn beat(api: &Api, zone: &str, players: u32) -> u16 {
    let lease_generation = api.store.lease_generation(zone).await.unwrap().unwrap_or(0);
    let hb = Heartbeat {
        zone_id: zone.into(),
        load: ZoneLoad {
            players,
            tick_p99_ms: 4.0,
            ..ZoneLoad::default()
        },
        lease_generation,
    };
    api.post(paths::HEARTBEAT, hb).await.0
}

/// Test names `name.party` log in as `name` with party `party`.
pub fn party_of(name: &str) -> Option<&str> {
    name.split_once('.').map(|(_, p)| p)
}

pub async fn login(api: &Api, name: &str) -> Result<LoginResponse, (u16, String)> {
    let body = serde_json::json!({
        "name": name.split('.').next().unwrap(),
        "party": party_of(name),
    });
    match api.post(paths::LOGIN, body).await {
        (200, bytes) => Ok(serde_json::from_slice(&bytes).unwrap()),
        (status, bytes) => Err((status, String::from_utf8_lossy(&bytes).into_owned())),
    }
}

pub fn items(tag: &str) -> Vec<ItemStack> {
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

pub async fn handoff(store: &Store, id: &str, player: u64, target: &str) -> Handoff {
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
            creatures: Vec::new(),
        },
    };
    let from = lease(store, &h.from_zone, false).await;
    assert_eq!(
        store.begin_handoff(&from, &h).await.unwrap(),
        HandoffStatus::Pending
    );
    h
}

pub async fn transfer(api: &Api, id: &str) -> Result<TransferResponse, u16> {
    match api
        .post(paths::TRANSFERS, serde_json::json!({ "transfer_id": id }))
        .await
    {
        (200, bytes) => Ok(serde_json::from_slice(&bytes).unwrap()),
        (status, _) => Err(status),
    }
}
