//! `zone-server --agones` against a stand-in SDK sidecar on loopback: it marks itself
//! Ready as a standby server and pings Health, waits for an allocation, then runs the
//! zone the allocation names at the public address it gives, and asks for Shutdown
//! after SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arcane_loadtest::client::Client;
use arcane_protocol::ClientTier;
use axum::routing::{get, post};
use axum::{Json, Router};

#[derive(Default)]
struct Sidecar {
    calls: Vec<String>,
    allocated: bool,
    ws_port: u16,
}

mod support;
use support::free_port;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agones_zone_waits_for_its_allocation_then_runs_that_zone() {
    let state = Arc::new(Mutex::new(Sidecar {
        ws_port: free_port(),
        ..Sidecar::default()
    }));
    let record = |name: &'static str, s: Arc<Mutex<Sidecar>>| {
        post(move || async move {
            s.lock().unwrap().calls.push(name.into());
            Json(serde_json::json!({}))
        })
    };
    let gs = {
        let s = state.clone();
        get(move || async move {
            let s = s.lock().unwrap();
            let annotations = if s.allocated {
                serde_json::json!({"arcane.dev/zone-id": "test_area~7", "arcane.dev/map": "test_area"})
            } else {
                serde_json::json!({})
            };
            Json(serde_json::json!({
                "object_meta": {"name": "arcane-zones-abc", "annotations": annotations},
                "status": {"state": if s.allocated { "Allocated" } else { "Ready" },
                    "address": "127.0.0.1", "ports": [{"name": "ws", "port": s.ws_port}]}
            }))
        })
    };
    let app = Router::new()
        .route("/ready", record("ready", state.clone()))
        .route("/health", record("health", state.clone()))
        .route("/shutdown", record("shutdown", state.clone()))
        .route("/gameserver", gs);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sdk_port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let ws_port = state.lock().unwrap().ws_port;
    let admin = free_port();
    let content = concat!(env!("CARGO_MANIFEST_DIR"), "/../content");
    let mut child = Command::new(env!("CARGO_BIN_EXE_zone-server"))
        .args(["--agones", "--content", content, "--watch-content", "false"])
        .args(["--ws-addr", &format!("127.0.0.1:{ws_port}")])
        .args(["--admin-addr", &format!("127.0.0.1:{admin}")])
        .args([
            "--quic-addr",
            "127.0.0.1:0",
            "--ticket-secret",
            "agones-test",
        ])
        .env("AGONES_SDK_HTTP_PORT", sdk_port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Standby: Ready, and health pings, but no zone yet.
    let start = Instant::now();
    loop {
        let calls = state.lock().unwrap().calls.clone();
        if calls.first().is_some_and(|c| c == "ready") && calls.iter().any(|c| c == "health") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no ready/health: {calls:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        reqwest::get(format!("http://127.0.0.1:{admin}/endpoints"))
            .await
            .is_err(),
        "a standby server runs no zone"
    );

    // The orchestrator allocates it for `test_area~7`.
    state.lock().unwrap().allocated = true;
    let endpoints = loop {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{admin}/endpoints")).await {
            break r.json::<serde_json::Value>().await.unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the zone never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(endpoints["zone_id"], "test_area~7");
    assert_eq!(endpoints["ws"], format!("ws://127.0.0.1:{ws_port}"));
    let ticket = support::player_ticket(1, "test_area~7", "agones-test");
    let mut c = Client::join(
        endpoints["ws"].as_str().unwrap(),
        &ticket,
        ClientTier::Desktop,
    )
    .await
    .unwrap();
    let welcome = support::welcome(&mut c).await;
    assert_eq!(welcome.zone_id, "test_area~7");

    // SIGTERM: the zone drains, exits cleanly and tells Agones to shut it down.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "ignored SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    let calls = state.lock().unwrap().calls.clone();
    assert_eq!(
        calls.last().map(String::as_str),
        Some("shutdown"),
        "{calls:?}"
    );
}
