//! The zone viewer's API, for admins only (`--admins`): `POST /v1/viewer/session`
//! checks the identity as a login does and hands out a viewer token; with it as a
//! bearer token, `GET /v1/viewer/zones` lists the zones and
//! `GET /v1/viewer/zones/{zone}/world?player=` reads one zone whole (from the zone's
//! internal ops listener). `GET /v1/maps/{zone}` (bounds, obstacles, exits) is for
//! every player: the web client draws the map with it.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arcane_control_api::LoginRequest;
use arcane_protocol::ticket::{Role, TicketClaims};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::problem::ApiJson;
use super::{Problem, internal};
use crate::auth::AuthError;
use crate::orchestrator::Orchestrator;
use crate::registry::ZoneRegistry;

/// The "zone" viewer tokens are minted for: no zone has this id, so a viewer token
/// is never a join ticket, and a join ticket is never a viewer token.
const VIEWER_AUDIENCE: &str = "*viewer";
/// How long a viewer token lasts.
const VIEWER_TTL: Duration = Duration::from_secs(8 * 3600);
/// Longest wait for a zone's answer.
const ZONE_TIMEOUT: Duration = Duration::from_secs(3);

fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(ZONE_TIMEOUT)
            .build()
            .unwrap_or_default()
    })
}

#[derive(Debug, serde::Serialize)]
pub(super) struct ViewerSession {
    token: String,
    expires_unix: u64,
    name: String,
}

/// `POST /v1/viewer/session`: the identity of a login, which must be an admin.
pub(super) async fn session<R: ZoneRegistry>(
    State(o): State<Arc<Orchestrator<R>>>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Response {
    let name = match o.identity.authenticate(&req) {
        Ok(n) => n,
        Err(AuthError::BadRequest(e)) => return Problem::BadRequest.answer(e),
        Err(AuthError::Unauthorized(e)) => return Problem::Unauthorized.answer(e),
    };
    if !o.config.admins.iter().any(|a| a == &name) {
        tracing::warn!(%name, "viewer refused: not an admin");
        return Problem::Forbidden.answer(format!("{name} does not have the admin role"));
    }
    let expires_unix = o.now_ms() / 1000 + VIEWER_TTL.as_secs();
    let token = o.key.mint(&TicketClaims {
        player_id: 0,
        zone_id: VIEWER_AUDIENCE.into(),
        role: Role::Admin,
        expires_unix,
    });
    tracing::info!(%name, "viewer session opened");
    Json(ViewerSession {
        token,
        expires_unix,
        name,
    })
    .into_response()
}

/// Checks the bearer token of a viewer call: `None` when it may go on, else the
/// refusal to answer.
fn refused<R: ZoneRegistry>(o: &Orchestrator<R>, headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else {
        return Some(
            Problem::Unauthorized.answer("a viewer token (Authorization: Bearer) is required"),
        );
    };
    match o.key.verify(token, VIEWER_AUDIENCE, o.now_ms() / 1000) {
        Ok(c) if c.role == Role::Admin => None,
        Ok(_) => Some(Problem::Forbidden.answer("not a viewer token")),
        Err(e) => Some(Problem::Unauthorized.answer(format!("viewer token refused: {e}"))),
    }
}

#[derive(Debug, serde::Serialize)]
pub(super) struct ZoneSummary {
    zone_id: String,
    template: String,
    instance: bool,
    players: u32,
    up: bool,
}

/// `GET /v1/viewer/zones`.
pub(super) async fn zones<R: ZoneRegistry>(
    State(o): State<Arc<Orchestrator<R>>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&o, &headers) {
        return r;
    }
    let timeout = o.config.heartbeat_timeout.as_millis() as u64;
    match o.registry.zones(o.now_ms(), timeout).await {
        Ok(z) => Json(
            z.into_iter()
                .map(|s| ZoneSummary {
                    template: s.info.template().to_string(),
                    zone_id: s.info.zone_id,
                    instance: s.info.instance,
                    players: s.load.players,
                    up: s.up,
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct WorldQuery {
    player: Option<u64>,
}

/// Reads `/world` of a registered zone's ops listener.
async fn from_zone<R: ZoneRegistry>(o: &Orchestrator<R>, zone: &str, query: &str) -> Response {
    let timeout = o.config.heartbeat_timeout.as_millis() as u64;
    let zones = match o.registry.zones(o.now_ms(), timeout).await {
        Ok(z) => z,
        Err(e) => return internal(e),
    };
    let Some(z) = zones.into_iter().find(|z| z.info.zone_id == zone && z.up) else {
        return Problem::NotFound.answer(format!("no running zone {zone}"));
    };
    if z.info.admin_endpoint.is_empty() {
        return Problem::Unavailable.answer(format!("zone {zone} has no ops listener"));
    }
    let url = format!(
        "{}/world{query}",
        z.info.admin_endpoint.trim_end_matches('/')
    );
    let answer = match http().get(&url).send().await {
        Ok(a) => a,
        Err(e) => return Problem::Unavailable.answer(format!("zone {zone} did not answer: {e}")),
    };
    if !answer.status().is_success() {
        return Problem::Unavailable.answer(format!("zone {zone} answered {}", answer.status()));
    }
    match answer.bytes().await {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => Problem::Unavailable.answer(format!("zone {zone} broke off: {e}")),
    }
}

/// `GET /v1/viewer/zones/{zone}/world?player=`.
pub(super) async fn world<R: ZoneRegistry>(
    State(o): State<Arc<Orchestrator<R>>>,
    Path(zone): Path<String>,
    query: Result<Query<WorldQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&o, &headers) {
        return r;
    }
    let Ok(Query(q)) = query else {
        return Problem::BadRequest.answer("player must be a player id (an unsigned integer)");
    };
    let query = q.player.map(|p| format!("?player={p}")).unwrap_or_default();
    from_zone(&o, &zone, &query).await
}

/// `GET /v1/maps/{zone}`: a zone's bounds, obstacles and exits (public).
pub(super) async fn map<R: ZoneRegistry>(
    State(o): State<Arc<Orchestrator<R>>>,
    Path(zone): Path<String>,
) -> Response {
    from_zone(&o, &zone, "?map=true").await
}
