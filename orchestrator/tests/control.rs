//! The control plane, driven through the orchestrator's routers with no socket on a
//! manual clock: a replaced zone process (an older lease generation) cannot register,
//! heartbeat or deregister its successor; nothing is transferred into a zone that is
//! down; a forged or unsigned registration is refused, and the public router has no
//! control routes at all.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

mod harness;

use std::sync::Arc;
use std::time::Duration;

use arcane_control_api::{Heartbeat, ZoneInfo, ZoneLoad, paths};
use arcane_orchestrator::clock::{Clock, ManualClock};
use arcane_orchestrator::{MemoryRegistry, Orchestrator};
use arcane_service::control_auth::{ControlKey, DEV_CONTROL_SECRET};
use arcane_store::{Handoff, Ownership};
use axum::body::Body;
use axum::http::Request;
use harness::*;
use tower::ServiceExt as _;

#[tokio::test]
async fn a_replaced_zone_process_cannot_register_beat_or_deregister_its_successor() {
    let (store, _db) = sqlite().await;
    let api = start_patient(store.clone(), MemoryRegistry::default()).await;
    register(&api, "meadow", 100).await;
    let old = store.lease_generation("meadow").await.unwrap().unwrap();
    // A second process of meadow takes the lease over (the first was stopped past it,
    // or is an orphan of a killed orchestrator) and registers.
    register(&api, "meadow", 100).await;
    let new = store.lease_generation("meadow").await.unwrap().unwrap();
    assert_eq!(new, old + 1);

    // The old one comes back: its registration, heartbeats and deregistration are
    // refused or ignored, and the registry keeps pointing at the new one.
    let stale = ZoneInfo {
        lease_generation: old,
        endpoint: "ws://127.0.0.1:1/old-meadow".into(),
        ..zone_info("meadow", 100)
    };
    assert_eq!(api.post(paths::REGISTER, &stale).await.0, 409);
    let stale_beat = Heartbeat {
        zone_id: "meadow".into(),
        load: ZoneLoad::default(),
        lease_generation: old,
    };
    assert_eq!(api.post(paths::HEARTBEAT, &stale_beat).await.0, 409);
    let bye = serde_json::json!({"zone_id": "meadow", "lease_generation": old});
    assert_eq!(api.post(paths::DEREGISTER, bye).await.0, 204);
    // A zone without a database (no lease) cannot take a leased zone's place either.
    let unleased = ZoneInfo {
        lease_generation: 0,
        ..zone_info("meadow", 100)
    };
    assert_eq!(api.post(paths::REGISTER, &unleased).await.0, 409);

    let (_, body) = api.get(paths::ZONES).await;
    let zones: Vec<arcane_control_api::ZoneStatus> = serde_json::from_slice(&body).unwrap();
    assert_eq!(zones.len(), 1);
    assert_eq!(zones[0].info.endpoint, "ws://127.0.0.1:1/meadow");
    assert_eq!(zones[0].info.lease_generation, new);
    assert_eq!(beat(&api, "meadow", 3).await, 204);
    assert_eq!(
        login(&api, "gus").await.unwrap().endpoint,
        "ws://127.0.0.1:1/meadow"
    );
}

#[tokio::test]
async fn nothing_is_transferred_into_a_zone_that_is_down() {
    let (store, _db) = sqlite().await;
    let api = start(store.clone(), MemoryRegistry::default()).await;
    register(&api, "meadow", 100).await;
    register(&api, "forest", 100).await;
    let ivy = login(&api, "ivy").await.unwrap();
    // The forest stops beating (drained and gone, or restarting); the meadow beats on.
    api.clock.advance(Duration::from_millis(800));
    assert_eq!(beat(&api, "meadow", 1).await, 204);
    let h = handoff(&store, "t-down", ivy.player_id, "zone:forest").await;
    assert_eq!(transfer(&api, "t-down").await.unwrap_err(), 409);
    assert_eq!(
        store.owner(ivy.player_id).await.unwrap().unwrap(),
        Ownership {
            zone: "meadow".into(),
            epoch: h.from_epoch
        }
    );
    // Back up, the forest takes the next try.
    assert_eq!(beat(&api, "forest", 0).await, 204);
    let again = Handoff {
        transfer_id: "t-up".into(),
        ..h
    };
    let meadow = lease(&store, "meadow", false).await;
    store.begin_handoff(&meadow, &again).await.unwrap();
    assert_eq!(transfer(&api, "t-up").await.unwrap().zone_id, "forest");
}

/// Sends `body` to `router` with the given signature headers (none: unsigned).
async fn raw_post(
    router: &axum::Router,
    path: &str,
    body: &serde_json::Value,
    headers: &[(&str, String)],
) -> u16 {
    let mut request = Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request.body(Body::from(body.to_string())).unwrap();
    router
        .clone()
        .oneshot(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_forged_registration_is_refused_and_the_public_port_has_no_control_routes() {
    let (store, _db) = sqlite().await;
    let clock = Arc::new(ManualClock::default());
    let o = Arc::new(
        Orchestrator::new(store, MemoryRegistry::default(), patient_config())
            .with_control_secret("the-real-secret")
            .with_clock(clock.clone()),
    );
    let internal = arcane_orchestrator::api::internal_router(o.clone());
    let public = arcane_orchestrator::api::public_router(o.clone());
    // The attack that worked: register a fake endpoint for the start zone.
    let fake = serde_json::to_value(ZoneInfo {
        endpoint: "ws://203.0.113.9:7777".into(),
        ..zone_info("meadow", 100)
    })
    .unwrap();
    let now = clock.unix_ms();
    let bytes = fake.to_string();
    let sign = |secret: &str, path: &str, at: u64| {
        ControlKey::new(secret)
            .headers("POST", path, bytes.as_bytes(), at)
            .to_vec()
    };
    let refused = [
        raw_post(&internal, paths::REGISTER, &fake, &[]).await,
        raw_post(
            &internal,
            paths::REGISTER,
            &fake,
            &sign(DEV_CONTROL_SECRET, paths::REGISTER, now),
        )
        .await,
        raw_post(
            &internal,
            paths::REGISTER,
            &fake,
            &sign("the-real-secret", paths::HEARTBEAT, now),
        )
        .await,
        raw_post(
            &internal,
            paths::REGISTER,
            &fake,
            &sign("the-real-secret", paths::REGISTER, now - 60_000),
        )
        .await,
    ];
    assert_eq!(
        refused, [401; 4],
        "unsigned, wrong secret, another route, too old"
    );
    assert_eq!(
        raw_post(
            &public,
            paths::REGISTER,
            &fake,
            &sign("the-real-secret", paths::REGISTER, now)
        )
        .await,
        404,
        "the public listener does not serve the registry"
    );
    let listed = o.zones_now().await.unwrap();
    assert!(listed.is_empty(), "nothing was registered: {listed:?}");
    assert_eq!(o.metrics.control_refused.get(), 4);
    // The real zone, with the secret, on the internal port.
    assert_eq!(
        raw_post(
            &internal,
            paths::REGISTER,
            &fake,
            &sign("the-real-secret", paths::REGISTER, now)
        )
        .await,
        204
    );
}
