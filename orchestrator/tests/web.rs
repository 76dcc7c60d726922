//! What browsers reach on the public listener: the web client, the viewer and the SDK
//! compiled into the binary; CORS only for the configured origins; the zone viewer's
//! API only with a viewer token of an admin; the public map of a zone.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

mod harness;

use std::sync::Arc;

use arcane_orchestrator::{MemoryRegistry, Orchestrator, ZoneRegistry as _};
use axum::body::Body;
use axum::http::Request;
use harness::*;
use tower::ServiceExt as _;

/// One request to the public router of an orchestrator with these settings.
async fn public(
    o: &Arc<Orchestrator<MemoryRegistry>>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, axum::http::HeaderMap, String) {
    let mut request = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = arcane_orchestrator::api::public_router(o.clone())
        .oneshot(request.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

async fn orchestrator(
    cors: &[&str],
    admins: &[&str],
) -> (Arc<Orchestrator<MemoryRegistry>>, tempfile::TempDir) {
    let (store, db) = sqlite().await;
    let mut c = config();
    c.cors_origins = cors.iter().map(|s| s.to_string()).collect();
    c.admins = admins.iter().map(|s| s.to_string()).collect();
    (
        Arc::new(Orchestrator::new(store, MemoryRegistry::default(), c)),
        db,
    )
}

#[tokio::test]
async fn the_web_client_and_the_sdk_are_served_from_the_binary() {
    let (o, _db) = orchestrator(&[], &[]).await;
    let (status, headers, body) = public(&o, "GET", "/play/", &[], "").await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        body.contains("<canvas id=\"world\">") && body.contains("game.js"),
        "{body}"
    );
    for path in [
        "/play/game.js",
        "/play/render.js",
        "/play/panels.js",
        "/viewer/viewer.js",
        "/sdk/index.js",
        "/sdk/client.js",
    ] {
        let (status, headers, body) = public(&o, "GET", path, &[], "").await;
        assert_eq!(status, 200, "{path}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/javascript"),
            "{path}"
        );
        assert!(!body.is_empty());
    }
    let (status, _, _) = public(&o, "GET", "/play/../Cargo.toml", &[], "").await;
    assert_eq!(status, 404);
    let (status, _, _) = public(&o, "GET", "/sdk/nothing.js", &[], "").await;
    assert_eq!(status, 404);
    let (status, headers, _) = public(&o, "GET", "/", &[], "").await;
    assert_eq!(
        (status, headers["location"].to_str().unwrap()),
        (303, "/play/")
    );
}

#[tokio::test]
async fn cors_answers_the_configured_origins_only() {
    let preflight = |origin: &'static str| {
        [
            ("origin", origin),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ]
    };
    let (o, _db) = orchestrator(&["https://game.example"], &[]).await;
    let (status, headers, _) = public(
        &o,
        "OPTIONS",
        "/v1/login",
        &preflight("https://game.example"),
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://game.example"
    );
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    let (_, headers, _) = public(
        &o,
        "OPTIONS",
        "/v1/login",
        &preflight("https://evil.example"),
        "",
    )
    .await;
    assert!(headers.get("access-control-allow-origin").is_none());
    // The login itself carries the header for the allowed origin.
    let (status, headers, _) = public(
        &o,
        "POST",
        "/v1/login",
        &[
            ("origin", "https://game.example"),
            ("content-type", "application/json"),
        ],
        r#"{"name":"alice"}"#,
    )
    .await;
    assert!(status == 200 || status == 503, "{status}");
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://game.example"
    );

    let (o, _db) = orchestrator(&["*"], &[]).await;
    let (_, headers, _) = public(
        &o,
        "OPTIONS",
        "/v1/login",
        &preflight("https://any.example"),
        "",
    )
    .await;
    assert_eq!(headers["access-control-allow-origin"], "*");

    let (o, _db) = orchestrator(&[], &[]).await;
    let (status, headers, _) = public(
        &o,
        "OPTIONS",
        "/v1/login",
        &preflight("https://game.example"),
        "",
    )
    .await;
    assert_eq!(status, 405, "no CORS without configured origins");
    assert!(headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn the_viewer_api_needs_an_admins_viewer_token() {
    let (o, _db) = orchestrator(&[], &["designer"]).await;
    let json = [("content-type", "application/json")];
    let (status, _, body) =
        public(&o, "POST", "/v1/viewer/session", &json, r#"{"name":"bob"}"#).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("urn:arcane:problem:forbidden"), "{body}");
    let (status, _, body) = public(
        &o,
        "POST",
        "/v1/viewer/session",
        &json,
        r#"{"name":"designer"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, _, _) = public(&o, "GET", "/v1/viewer/zones", &[], "").await;
    assert_eq!(status, 401);
    let (status, _, _) = public(
        &o,
        "GET",
        "/v1/viewer/zones",
        &[("authorization", "Bearer forged.token")],
        "",
    )
    .await;
    assert_eq!(status, 401);
    // A join ticket is not a viewer token (it names a zone), even an admin's.
    let ticket = o.key.mint(&arcane_protocol::ticket::TicketClaims {
        player_id: 1,
        zone_id: "meadow".into(),
        role: arcane_protocol::ticket::Role::Admin,
        expires_unix: u64::MAX / 2,
    });
    let (status, _, _) = public(
        &o,
        "GET",
        "/v1/viewer/zones",
        &[("authorization", &format!("Bearer {ticket}"))],
        "",
    )
    .await;
    assert_eq!(status, 401);

    let bearer = format!("Bearer {token}");
    let auth = [("authorization", bearer.as_str())];
    o.registry
        .register(zone_info("meadow", 10), o.now_ms())
        .await
        .unwrap();
    let (status, _, body) = public(&o, "GET", "/v1/viewer/zones", &auth, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"zone_id\":\"meadow\""), "{body}");
    // The zone has no ops listener to read from: a clear 503, not a hang.
    let (status, _, body) = public(&o, "GET", "/v1/viewer/zones/meadow/world", &auth, "").await;
    assert_eq!(status, 503, "{body}");
    let (status, _, _) = public(&o, "GET", "/v1/viewer/zones/nowhere/world", &auth, "").await;
    assert_eq!(status, 404);
    let (status, _, _) = public(&o, "GET", "/v1/maps/nowhere", &[], "").await;
    assert_eq!(status, 404);
}
