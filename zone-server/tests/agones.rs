//! `zone-server --agones` against a stand-in SDK sidecar on loopback: it marks itself
//! Ready as a standby server and pings Health, watches its game server (the SDK's
//! streaming `/watch/gameserver`, not polling) until an allocation, then runs the zone
//! the allocation names at the public address it gives, and asks for Shutdown after
//! SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arcane_loadtest::client::Client;
use arcane_protocol::ClientTier;
use axum::routing::{get, post};
use axum::{Json, Router};

struct Sidecar {
    calls: Vec<String>,
    ws_port: u16,
    /// Whether the game server is allocated; watchers see each change.
    allocated: tokio::sync::watch::Sender<bool>,
}

impl Default for Sidecar {
    fn default() -> Self {
        Sidecar {
            calls: Vec::new(),
            ws_port: 0,
            allocated: tokio::sync::watch::channel(false).0,
        }
    }
}

/// The game server as the SDK shows it.
fn game_server(allocated: bool, ws_port: u16) -> serde_json::Value {
    let annotations = if allocated {
        serde_json::json!({"arcane.dev/zone-id": "test_area~7", "arcane.dev/map": "test_area"})
    } else {
        serde_json::json!({})
    };
    serde_json::json!({
        "object_meta": {"name": "arcane-zones-abc", "annotations": annotations},
        "status": {"state": if allocated { "Allocated" } else { "Ready" },
            "address": "127.0.0.1", "ports": [{"name": "ws", "port": ws_port}]}
    })
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
            let mut s = s.lock().unwrap();
            s.calls.push("gameserver".into());
            Json(game_server(*s.allocated.borrow(), s.ws_port))
        })
    };
    // The watch: the game server now, then again on every change, one JSON per line.
    let watch = {
        let s = state.clone();
        get(move || async move {
            let (rx, port) = {
                let mut s = s.lock().unwrap();
                s.calls.push("watch".into());
                (s.allocated.subscribe(), s.ws_port)
            };
            let events =
                futures_util::stream::unfold((rx, true), move |(mut rx, first)| async move {
                    if !first && rx.changed().await.is_err() {
                        return None;
                    }
                    let allocated = *rx.borrow_and_update();
                    let line = format!(
                        "{}\n",
                        serde_json::json!({"result": game_server(allocated, port)})
                    );
                    Some((Ok::<_, std::convert::Infallible>(line), (rx, false)))
                });
            axum::body::Body::from_stream(events)
        })
    };
    let app = Router::new()
        .route("/ready", record("ready", state.clone()))
        .route("/health", record("health", state.clone()))
        .route("/shutdown", record("shutdown", state.clone()))
        .route("/gameserver", gs)
        .route("/watch/gameserver", watch);
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

    // Watching, not polling: one read of the game server, then the stream.
    let start_watch = Instant::now();
    while !state.lock().unwrap().calls.iter().any(|c| c == "watch") {
        assert!(
            start_watch.elapsed() < Duration::from_secs(10),
            "never watched"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let reads = |s: &Sidecar| s.calls.iter().filter(|c| *c == "gameserver").count();
    assert_eq!(reads(&state.lock().unwrap()), 1, "polled the game server");

    // The orchestrator allocates it for `test_area~7`.
    state.lock().unwrap().allocated.send_replace(true);
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
