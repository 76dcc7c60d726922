//! The API's conventions, through the router on a manual clock: every error is an RFC
//! 7807 problem with a stable `type`; every answer carries the request's
//! `X-Request-Id` (the caller's, or a new one); a login or transfer retried with the
//! same `Idempotency-Key` gets the first answer again, and the key cannot be reused
//! for another request.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

mod harness;

use std::time::Duration;

use arcane_control_api::{ApiError, LoginResponse, PROBLEM_JSON, paths, problems};
use arcane_orchestrator::MemoryRegistry;
use harness::*;

fn problem(status: u16, headers: &axum::http::HeaderMap, body: &[u8]) -> ApiError {
    assert_eq!(headers["content-type"], PROBLEM_JSON, "status {status}");
    let p: ApiError = serde_json::from_slice(body).unwrap();
    assert_eq!(p.status, status);
    assert!(!p.title.is_empty() && !p.detail.is_empty() && p.error == p.detail);
    p
}

#[tokio::test]
async fn errors_are_problems_with_a_stable_type() {
    let (store, _db) = sqlite().await;
    let api = start_patient(store, MemoryRegistry::default()).await;
    let cases: [(&str, &str, Option<serde_json::Value>, u16, &str); 5] = [
        ("GET", "/v1/nothing-here", None, 404, problems::NOT_FOUND),
        (
            "POST",
            paths::LOGIN,
            Some(serde_json::json!([1, 2])),
            400,
            problems::BAD_REQUEST,
        ),
        (
            "POST",
            paths::LOGIN,
            Some(serde_json::json!({"name": ""})),
            400,
            problems::BAD_REQUEST,
        ),
        // No zone runs: nowhere to place anyone.
        (
            "POST",
            paths::LOGIN,
            Some(serde_json::json!({"name": "ada"})),
            503,
            problems::UNAVAILABLE,
        ),
        (
            "POST",
            paths::HEARTBEAT,
            Some(serde_json::json!({"zone_id": "x", "load": {"players": 0, "tick_p99_ms": 0.0}})),
            404,
            problems::NOT_FOUND,
        ),
    ];
    for (method, path, body, status, kind) in cases {
        let (got, headers, bytes) = api.call_with(method, path, body, &[]).await;
        assert_eq!(
            got,
            status,
            "{method} {path}: {}",
            String::from_utf8_lossy(&bytes)
        );
        assert_eq!(
            problem(status, &headers, &bytes).kind,
            kind,
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn every_answer_carries_the_request_id() {
    let (store, _db) = sqlite().await;
    let api = start_patient(store, MemoryRegistry::default()).await;
    let (_, headers, _) = api
        .call_with("GET", "/healthz", None, &[("x-request-id", "trace-me-42")])
        .await;
    assert_eq!(headers["x-request-id"], "trace-me-42");
    let (_, a, _) = api.call_with("GET", "/healthz", None, &[]).await;
    let (_, b, _) = api.call_with("GET", "/v1/unknown", None, &[]).await;
    let (a, b) = (
        a["x-request-id"].to_str().unwrap(),
        b["x-request-id"].to_str().unwrap(),
    );
    assert!(a.len() >= 32 && b.len() >= 32 && a != b, "{a} {b}");
}

#[tokio::test]
async fn a_login_retried_with_its_idempotency_key_gets_the_first_answer() {
    let (store, _db) = sqlite().await;
    let api = start_patient(store, MemoryRegistry::default()).await;
    register(&api, "meadow", 100).await;
    let ada = serde_json::json!({"name": "ada"});
    let login = |key: Option<&'static str>, body: serde_json::Value| {
        let api = api.clone();
        async move {
            let headers: Vec<(&str, &str)> =
                key.map(|k| ("idempotency-key", k)).into_iter().collect();
            api.call_with("POST", paths::LOGIN, Some(body), &headers)
                .await
        }
    };
    let (status, _, first) = login(Some("k-1"), ada.clone()).await;
    assert_eq!(status, 200);
    let first: LoginResponse = serde_json::from_slice(&first).unwrap();
    // Later (a new ticket would expire later), the retry gets the same answer back.
    api.clock.advance(Duration::from_secs(5));
    let (status, headers, again) = login(Some("k-1"), ada.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(
        serde_json::from_slice::<LoginResponse>(&again).unwrap(),
        first
    );
    // Without the key it is a new login, with a new ticket.
    let (_, _, fresh) = login(None, ada.clone()).await;
    let fresh: LoginResponse = serde_json::from_slice(&fresh).unwrap();
    assert_ne!(fresh.ticket, first.ticket);
    assert_eq!(fresh.player_id, first.player_id);
    // The key cannot be reused for someone else.
    let (status, headers, body) = login(Some("k-1"), serde_json::json!({"name": "bob"})).await;
    assert_eq!(status, 409);
    assert_eq!(
        problem(409, &headers, &body).kind,
        problems::IDEMPOTENCY_MISMATCH
    );
    // A failed request does not hold its key: the retry runs.
    let (status, _, _) = login(Some("k-2"), serde_json::json!({"name": ""})).await;
    assert_eq!(status, 400);
    let (status, _, _) = login(Some("k-2"), serde_json::json!({"name": "cy"})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn each_listener_describes_its_routes_in_openapi() {
    let (store, _db) = sqlite().await;
    let o = std::sync::Arc::new(arcane_orchestrator::Orchestrator::new(
        store,
        MemoryRegistry::default(),
        patient_config(),
    ));
    let paths_of = |router: axum::Router| async move {
        use tower::ServiceExt as _;
        let req = axum::http::Request::get("/openapi.json")
            .body(axum::body::Body::empty())
            .unwrap();
        let r = router.oneshot(req).await.unwrap();
        assert_eq!(r.status(), 200);
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let mut paths: Vec<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
        paths.sort();
        paths
    };
    let public = paths_of(arcane_orchestrator::api::public_router(o.clone())).await;
    let mut want = vec![
        "/healthz",
        "/livez",
        "/readyz",
        paths::LOGIN,
        paths::MAP,
        paths::VIEWER_SESSION,
        paths::VIEWER_ZONES,
        paths::VIEWER_WORLD,
    ];
    want.sort();
    assert_eq!(public, want);
    let internal = paths_of(arcane_orchestrator::api::internal_router(o)).await;
    let mut want = vec![
        "/healthz",
        "/livez",
        "/metrics",
        "/readyz",
        paths::TRANSFERS,
        paths::ZONES,
        paths::DEREGISTER,
        paths::HEARTBEAT,
        paths::REGISTER,
        paths::MODERATION,
        paths::AUDIT,
        paths::PRESENCE,
    ];
    want.sort();
    assert_eq!(internal, want);
}
