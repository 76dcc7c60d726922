//! The orchestrator's HTTP/JSON API (axum): player login with placement and a signed
//! join ticket, and the zone registry (register, heartbeat, list).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arcane_protocol::ticket::{Role, TicketClaims, TicketKey};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::now_ms;
use crate::shared::{SharedState, ZoneInfo, ZoneLoad, ZoneStatus};
use crate::store::Store;

/// Tuning of one orchestrator.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub ticket_secret: String,
    /// How long a join ticket is valid.
    pub ticket_ttl: Duration,
    /// A zone silent for longer is down: no new players go there.
    pub heartbeat_timeout: Duration,
    /// How long a placement holds while the player connects.
    pub placement_ttl: Duration,
    /// Where new players start.
    pub start_zone: String,
    pub start_position: (f64, f64),
    /// HP and mana a new player starts with.
    pub start_vitals: (u32, u32),
}

/// Shared by every request.
pub struct Orchestrator<S> {
    pub store: Store,
    pub shared: S,
    pub key: TicketKey,
    pub config: ApiConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    /// Development authentication: the player name. Production puts an identity
    /// provider's token here and `authenticate` verifies it.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginResponse {
    pub player_id: u64,
    pub zone_id: String,
    pub endpoint: String,
    pub ticket: String,
    pub expires_unix: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heartbeat {
    pub zone_id: String,
    pub load: ZoneLoad,
}

#[derive(Debug, Serialize)]
struct ApiError {
    error: String,
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(ApiError { error: msg.into() })).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!("request failed: {e}");
    error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// The hook where a real identity provider's token would be verified; in development
/// the name is the identity. Names are 1–32 letters, digits, `_` or `-`.
pub fn authenticate(req: &LoginRequest) -> Result<String, String> {
    let n = req.name.trim();
    if n.is_empty()
        || n.len() > 32
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err("name must be 1-32 letters, digits, '_' or '-'".into());
    }
    Ok(n.to_string())
}

/// Where a player goes: its last zone when that is up and has room (sticky), else the
/// up zone with the lowest fill ratio (ties by id).
pub fn choose_zone<'a>(zones: &'a [ZoneStatus], last: &str) -> Option<&'a ZoneStatus> {
    let open = |z: &&ZoneStatus| z.up && z.load.players < z.info.capacity;
    zones
        .iter()
        .filter(open)
        .find(|z| z.info.zone_id == last)
        .or_else(|| {
            zones.iter().filter(open).min_by(|a, b| {
                let fill =
                    |z: &ZoneStatus| f64::from(z.load.players) / f64::from(z.info.capacity.max(1));
                fill(a)
                    .total_cmp(&fill(b))
                    .then_with(|| a.info.zone_id.cmp(&b.info.zone_id))
            })
        })
}

async fn login<S: SharedState>(
    State(o): State<Arc<Orchestrator<S>>>,
    Json(req): Json<LoginRequest>,
) -> Response {
    let name = match authenticate(&req) {
        Ok(n) => n,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let c = &o.config;
    let player = match o
        .store
        .login(&name, &c.start_zone, c.start_position, c.start_vitals)
        .await
    {
        Ok(p) => p,
        Err(e) => return internal(e),
    };
    let now = now_ms();
    let zones = match o
        .shared
        .zones(now, c.heartbeat_timeout.as_millis() as u64)
        .await
    {
        Ok(z) => z,
        Err(e) => return internal(e),
    };
    let Some(choice) = choose_zone(&zones, &player.zone) else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no zone is up with room for a player",
        );
    };
    let ttl = c.placement_ttl.as_millis() as u64;
    let mut placed = match o.shared.place(player.id, &choice.info.zone_id, ttl).await {
        Ok(z) => z,
        Err(e) => return internal(e),
    };
    // A concurrent or earlier login may have placed the player first; honour that
    // placement while its zone is up, and replace it when the zone went down.
    if !zones.iter().any(|z| z.info.zone_id == placed && z.up) {
        tracing::info!(player = player.id, zone = %placed, "placement in a zone that is down; placing again");
        let again = o
            .shared
            .replace(player.id, &placed, &choice.info.zone_id, ttl);
        placed = match again.await {
            Ok(z) => z,
            Err(e) => return internal(e),
        };
    }
    let Some(zone) = zones.iter().find(|z| z.info.zone_id == placed) else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("placed in unknown zone {placed}"),
        );
    };
    let expires_unix = now / 1000 + c.ticket_ttl.as_secs().max(1);
    let ticket = o.key.mint(&TicketClaims {
        player_id: player.id,
        zone_id: placed.clone(),
        role: Role::Player,
        expires_unix,
    });
    Json(LoginResponse {
        player_id: player.id,
        zone_id: placed,
        endpoint: zone.info.endpoint.clone(),
        ticket,
        expires_unix,
    })
    .into_response()
}

async fn register<S: SharedState>(
    State(o): State<Arc<Orchestrator<S>>>,
    Json(info): Json<ZoneInfo>,
) -> Response {
    if info.zone_id.is_empty() || info.capacity == 0 {
        return error(
            StatusCode::BAD_REQUEST,
            "zone_id and a positive capacity are required",
        );
    }
    tracing::info!(zone = %info.zone_id, endpoint = %info.endpoint, "zone registered");
    match o.shared.register(info, now_ms()).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => internal(e),
    }
}

async fn heartbeat<S: SharedState>(
    State(o): State<Arc<Orchestrator<S>>>,
    Json(hb): Json<Heartbeat>,
) -> Response {
    match o.shared.heartbeat(&hb.zone_id, hb.load, now_ms()).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, "unknown zone; register first"),
        Err(e) => internal(e),
    }
}

async fn zones<S: SharedState>(State(o): State<Arc<Orchestrator<S>>>) -> Response {
    let timeout = o.config.heartbeat_timeout.as_millis() as u64;
    match o.shared.zones(now_ms(), timeout).await {
        Ok(z) => Json(z).into_response(),
        Err(e) => internal(e),
    }
}

/// The API routes over `state`.
pub fn router<S: SharedState>(state: Arc<Orchestrator<S>>) -> Router {
    Router::new()
        .route("/v1/login", post(login::<S>))
        .route("/v1/zones", get(zones::<S>))
        .route("/v1/zones/register", post(register::<S>))
        .route("/v1/zones/heartbeat", post(heartbeat::<S>))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(state)
}

/// Serves the API on `listener` until the future completes.
pub async fn serve<S: SharedState>(
    listener: tokio::net::TcpListener,
    state: Arc<Orchestrator<S>>,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}

/// Binds `addr` and serves in the background; returns the bound address.
pub async fn spawn<S: SharedState>(
    addr: SocketAddr,
    state: Arc<Orchestrator<S>>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = serve(listener, state).await {
            tracing::error!("orchestrator API stopped: {e}");
        }
    });
    Ok((bound, task))
}
