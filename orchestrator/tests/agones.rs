//! The Agones supervisor against a stand-in Kubernetes API on loopback: opening a
//! zone posts a `GameServerAllocation` for the zone Fleet with the zone id and map as
//! annotations, retries while the Fleet has no Ready server, and the zone counts as
//! open once the allocated server registers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arcane_control_api::ZoneInfo;
use arcane_orchestrator::supervisor::ZoneSpec;
use arcane_orchestrator::supervisor::agones::{AgonesConfig, AgonesSupervisor};
use arcane_orchestrator::{ApiConfig, MemoryRegistry, Orchestrator};
use arcane_service::control_auth::{ControlKey, DEV_CONTROL_SECRET};
use arcane_store::Store;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};

#[derive(Default)]
struct FakeKube {
    requests: Vec<(String, serde_json::Value)>,
    /// The orchestrator the "allocated pod" registers with.
    orchestrator: String,
}

async fn allocate(
    State(k): State<Arc<Mutex<FakeKube>>>,
    Path(namespace): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> Json<serde_json::Value> {
    let (n, orchestrator) = {
        let mut k = k.lock().unwrap();
        k.requests.push((namespace, body.clone()));
        (k.requests.len(), k.orchestrator.clone())
    };
    if n == 1 {
        // The first attempt finds no Ready server in the Fleet.
        return Json(serde_json::json!({"status": {"state": "UnAllocated"}}));
    }
    // The allocated standby server starts the zone it was given and registers.
    let zone = body["spec"]["metadata"]["annotations"]["arcane.dev/zone-id"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::spawn(async move {
        let info = ZoneInfo {
            zone_id: zone.clone(),
            endpoint: "ws://10.0.0.9:7301".into(),
            capacity: 100,
            template: "meadow".into(),
            ..ZoneInfo::default()
        };
        // Signed as a zone signs it: the internal API refuses anything else.
        let body = serde_json::to_vec(&info).unwrap();
        let key = ControlKey::new(DEV_CONTROL_SECRET);
        let mut request = reqwest::Client::new()
            .post(format!("{orchestrator}/v1/zones/register"))
            .header("content-type", "application/json");
        for (name, value) in key.headers(
            "POST",
            "/v1/zones/register",
            &body,
            arcane_service::unix_ms(),
        ) {
            request = request.header(name, value);
        }
        request.body(body).send().await.unwrap();
    });
    Json(serde_json::json!({"status": {"state": "Allocated", "gameServerName": "arcane-zones-q7"}}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_zone_allocates_a_game_server_for_it() {
    let kube = Arc::new(Mutex::new(FakeKube::default()));
    let app = Router::new()
        .route(
            "/apis/allocation.agones.dev/v1/namespaces/{ns}/gameserverallocations",
            post(allocate),
        )
        .with_state(kube.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let kube_api = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let scratch = tempfile::Builder::new()
        .prefix("arcane-agones-")
        .tempdir()
        .unwrap();
    let db = scratch.path().join("arcane.db");
    let store = Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let config = ApiConfig {
        ticket_secret: "s".into(),
        ticket_ttl: Duration::from_secs(60),
        heartbeat_timeout: Duration::from_secs(3),
        placement_ttl: Duration::from_secs(30),
        start_zone: "meadow".into(),
        start_position: (5.0, 5.0),
        start_vitals: (200, 100),
        registry_warmup: Duration::ZERO,
        cors_origins: Vec::new(),
        admins: Vec::new(),
    };
    let sup = AgonesSupervisor::new(AgonesConfig {
        api_server: Some(kube_api),
        namespace: "arcane".into(),
        fleet: "arcane-zones".into(),
        retry_for: Duration::from_secs(10),
    })
    .await
    .unwrap();
    let o =
        Arc::new(Orchestrator::new(store, MemoryRegistry::default(), config).with_supervisor(sup));
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let (bound, _task) = arcane_orchestrator::api::spawn(loopback, loopback, o.clone())
        .await
        .unwrap();
    kube.lock().unwrap().orchestrator = format!("http://{}", bound.internal);

    let opened = o
        .open_zone(ZoneSpec {
            zone_id: "meadow~2".into(),
            template: "meadow".into(),
            close_after_empty: Some(Duration::from_secs(60)),
            keep_running: false,
        })
        .await
        .unwrap();
    assert!(opened, "this call opened it");
    let requests = kube.lock().unwrap().requests.clone();
    assert_eq!(
        requests.len(),
        2,
        "retried once while the fleet had no Ready server"
    );
    let (namespace, body) = &requests[1];
    assert_eq!(namespace, "arcane");
    assert_eq!(body["kind"], "GameServerAllocation");
    assert_eq!(
        body["spec"]["selectors"][0]["matchLabels"]["agones.dev/fleet"],
        "arcane-zones"
    );
    let annotations = &body["spec"]["metadata"]["annotations"];
    assert_eq!(annotations["arcane.dev/zone-id"], "meadow~2");
    assert_eq!(annotations["arcane.dev/map"], "meadow");
    assert_eq!(annotations["arcane.dev/close-after-empty"], "60000ms");
    // Opening it again finds it running: no second allocation.
    let again = o
        .open_zone(ZoneSpec {
            zone_id: "meadow~2".into(),
            template: "meadow".into(),
            close_after_empty: None,
            keep_running: true,
        })
        .await
        .unwrap();
    assert!(!again);
    assert_eq!(kube.lock().unwrap().requests.len(), 2);
}
