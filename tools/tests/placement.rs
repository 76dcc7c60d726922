//! End to end through the control plane: an orchestrator (SQLite, in-memory registry)
//! and a zone-server that registers with it; bots log in through the orchestrator, get
//! a ticket and an endpoint, and are served by the zone, which stays registered and up
//! through its heartbeats. Once with development names over WebSocket, once with
//! identity-provider tokens over QUIC.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arcane_engine::content::ContentSources;
use arcane_loadtest::behaviour::BehaviourMix;
use arcane_loadtest::client::Transport;
use arcane_loadtest::{SwarmConfig, run_swarm_blocking};
use arcane_orchestrator::auth::IdentityProvider;
use arcane_orchestrator::{ApiConfig, MemoryRegistry, Orchestrator};
use arcane_protocol::ClientTier;
use arcane_store::Store;
use arcane_zone_server::ZoneServerConfig;
use arcane_zone_server::config::DEV_TICKET_SECRET;

/// The orchestrator's zone list.
async fn zones(orchestrator: &str) -> serde_json::Value {
    let r = reqwest::get(format!("{orchestrator}/v1/zones"))
        .await
        .unwrap();
    r.json().await.unwrap()
}

#[test]
fn bots_log_in_through_the_orchestrator_and_are_served() {
    serve_bots("dev", None, Transport::Ws);
}

/// With an identity provider configured, bots log in with signed tokens (as their
/// subject), and use the QUIC endpoint the login answers with.
#[test]
fn bots_log_in_with_identity_tokens_and_play_over_quic() {
    serve_bots("jwt", Some("idp-test-secret"), Transport::Quic);
}

fn serve_bots(tag: &str, idp_secret: Option<&str>, transport: Transport) {
    let scratch = tempfile::Builder::new()
        .prefix(&format!("arcane-placement-{tag}-"))
        .tempdir()
        .unwrap();
    let dir = scratch.path().to_path_buf();
    ContentSources::shipped().write_to(&dir).unwrap();
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (orchestrator, internal, zone) = server.block_on(async {
        let store = Store::connect(&format!("sqlite://{}", dir.join("arcane.db").display()))
            .await
            .unwrap();
        let identity = match idp_secret {
            Some(secret) => IdentityProvider::hs256(secret.as_bytes(), None, None),
            None => IdentityProvider::Dev,
        };
        let state = Arc::new(
            Orchestrator::new(
                store,
                MemoryRegistry::default(),
                ApiConfig {
                    ticket_secret: DEV_TICKET_SECRET.into(),
                    ticket_ttl: Duration::from_secs(60),
                    heartbeat_timeout: Duration::from_secs(3),
                    placement_ttl: Duration::from_secs(60),
                    start_zone: "test_area".into(),
                    start_position: (20.0, 50.0),
                    start_vitals: (200, 100),
                    registry_warmup: Duration::ZERO,
                    cors_origins: Vec::new(),
                    admins: Vec::new(),
                },
            )
            .with_identity(identity),
        );
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let (bound, _task) = arcane_orchestrator::api::spawn(loopback, loopback, state)
            .await
            .unwrap();
        let (url, internal) = (
            format!("http://{}", bound.public),
            format!("http://{}", bound.internal),
        );
        let mut config = ZoneServerConfig::local(dir.clone(), "test_area");
        config.orchestrator = Some(internal.clone());
        let zone = arcane_zone_server::start(config).await.unwrap();
        // Wait for the registration.
        for _ in 0..50 {
            let zones = zones(&internal).await;
            if zones.as_array().is_some_and(|z| !z.is_empty()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (url, internal, zone)
    });

    let swarm = SwarmConfig {
        chat_every: Duration::from_secs(5),
        ws_tasks: false,
        target: "ws://unused".into(),
        bots: 20,
        duration: Duration::from_secs(3),
        ramp: Duration::from_millis(500),
        metrics: None,
        zone: "test_area".into(),
        ticket_secret: "not-used-when-logging-in".into(),
        first_player: 1,
        tier: ClientTier::Desktop,
        input_hz: 20,
        live: false,
        input_lead: Duration::from_millis(20),
        input_margin: Some(Duration::from_millis(5)),
        behaviour: BehaviourMix::Wanderer,
        orchestrator: Some(orchestrator.clone()),
        transport,
        impairment: None,
        idp_secret: idp_secret.map(String::from),
    };
    let report = run_swarm_blocking(swarm).unwrap();
    assert_eq!(report.connected, 20, "{}", report.summary());
    assert_eq!(report.errors, 0, "{}", report.summary());
    // Served: every bot decoded snapshots and holds a view of the zone. Counts, not a
    // rate: on a loaded CI host a debug-build zone may deliver well under 20 a second
    // (it did: 8 a second once), and speed is the benchmarks' business, not a test's.
    let snapshots_per_client = report.snapshots_per_client_per_s * report.duration_s;
    assert!(snapshots_per_client >= 5.0, "{}", report.summary());
    assert!(report.mean_view_size >= 1.0, "{}", report.summary());

    // The zone kept heartbeating: it is still registered and up.
    server.block_on(async {
        let zones = zones(&internal).await;
        assert_eq!(zones[0]["info"]["zone_id"], "test_area");
        assert_eq!(zones[0]["up"], true);
        zone.shutdown();
        zone.wait().await;
    });
}
