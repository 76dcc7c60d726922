//! The API's OpenAPI descriptions, served as `/openapi.json` on each listener: the
//! schemas come from the `arcane_control_api` types themselves (`utoipa::ToSchema`), the
//! operations from the annotations below, one per route, kept beside the routes they
//! describe. CI fuzzes a running orchestrator against them (schemathesis, `.ci/run`).

#![allow(dead_code)] // the functions exist for their annotations

use arcane_control_api::{
    ApiError, AuditEntry, Deregister, Heartbeat, LoginRequest, LoginResponse, ModerationAction,
    ModerationRequest, PresenceEntry, TransferRequest, TransferResponse, ZoneInfo, ZoneLoad,
    ZoneStatus,
};
use axum::Json;
use utoipa::OpenApi;

/// Log in: create or load the player, place it, and mint its join ticket.
#[utoipa::path(
    post, path = "/v1/login", tag = "public", request_body = LoginRequest,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255,
        pattern = "^[\\x21-\\x7e]+$",
        description = "Retrying with the same key returns the first answer (for the ticket's lifetime)")),
    responses(
        (status = 200, description = "Placed; connect to `endpoint` with `ticket`", body = LoginResponse),
        (status = 400, description = "Malformed request", body = ApiError, content_type = "application/problem+json"),
        (status = 401, description = "Missing, forged or expired identity token", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "This Idempotency-Key is still running, or was used with another request", body = ApiError, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ApiError, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = ApiError, content_type = "application/problem+json"),
        (status = 503, description = "No zone can take the player now; try again", body = ApiError, content_type = "application/problem+json"),
        (status = 500, description = "Database or registry failure", body = ApiError, content_type = "application/problem+json"),
    )
)]
fn login() {}

/// A viewer session for an admin (`--admins`): the identity of a login, and a token for
/// the zone viewer's routes.
#[utoipa::path(
    post, path = "/v1/viewer/session", tag = "viewer", request_body = LoginRequest,
    responses(
        (status = 200, description = "A viewer token (`token`, `expires_unix`, `name`)", body = Object),
        (status = 400, description = "Malformed request", body = ApiError, content_type = "application/problem+json"),
        (status = 401, description = "Missing, forged or expired identity token", body = ApiError, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ApiError, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ApiError, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = ApiError, content_type = "application/problem+json"),
    )
)]
fn viewer_session() {}

/// The zones, for the viewer (bearer: a viewer token).
#[utoipa::path(get, path = "/v1/viewer/zones", tag = "viewer",
    security(("viewer" = [])),
    responses(
        (status = 200, description = "Every registered zone: id, template, instance, players, up", body = Vec<Object>),
        (status = 401, description = "No or a bad viewer token", body = ApiError, content_type = "application/problem+json"),
        (status = 500, description = "Registry failure", body = ApiError, content_type = "application/problem+json"),
    ))]
fn viewer_zones() {}

/// One zone whole, as its tick holds it (bearer: a viewer token).
#[utoipa::path(get, path = "/v1/viewer/zones/{zone}/world", tag = "viewer",
    security(("viewer" = [])),
    params(("zone" = String, Path, description = "A zone id"),
        ("player" = Option<u64>, Query, minimum = 0, maximum = 2147483647,
            description = "Focus on this player's interest")),
    responses(
        (status = 200, description = "Entities, enemy states, spawners, obstacles, exits, creature cells, the focus", body = Object),
        (status = 400, description = "`player` is not a player id", body = ApiError, content_type = "application/problem+json"),
        (status = 401, description = "No or a bad viewer token", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "No such running zone", body = ApiError, content_type = "application/problem+json"),
        (status = 503, description = "The zone did not answer", body = ApiError, content_type = "application/problem+json"),
        (status = 500, description = "Registry failure", body = ApiError, content_type = "application/problem+json"),
    ))]
fn viewer_world() {}

/// A zone's map: bounds, obstacles and exits, in metres.
#[utoipa::path(get, path = "/v1/maps/{zone}", tag = "public",
    params(("zone" = String, Path, description = "A zone id")),
    responses(
        (status = 200, description = "The zone's map", body = Object),
        (status = 404, description = "No such running zone", body = ApiError, content_type = "application/problem+json"),
        (status = 503, description = "The zone did not answer", body = ApiError, content_type = "application/problem+json"),
        (status = 500, description = "Registry failure", body = ApiError, content_type = "application/problem+json"),
    ))]
fn map() {}

/// The orchestrator's process is alive.
#[utoipa::path(get, path = "/livez", tag = "probes",
    responses((status = 200, description = "Alive", body = String, content_type = "text/plain")))]
fn livez() {}

/// Alias of `/livez`.
#[utoipa::path(get, path = "/healthz", tag = "probes",
    responses((status = 200, description = "Alive", body = String, content_type = "text/plain")))]
fn healthz() {}

/// Ready when the database and the shared state answer within a second.
#[utoipa::path(get, path = "/readyz", tag = "probes",
    responses(
        (status = 200, description = "Ready", body = String, content_type = "text/plain"),
        (status = 503, description = "Not ready", body = ApiError, content_type = "application/problem+json"),
    ))]
fn readyz() {}

/// The registered zones, with their load and liveness.
#[utoipa::path(get, path = "/v1/zones", tag = "internal",
    responses(
        (status = 200, description = "Every registered zone", body = Vec<ZoneStatus>),
        (status = 500, description = "Registry failure", body = ApiError, content_type = "application/problem+json"),
    ))]
fn zones() {}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "internal",
    responses((status = 200, description = "Metrics", body = String,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
fn metrics() {}

/// A zone takes its place in the registry (only the holder of its newest lease).
#[utoipa::path(post, path = "/v1/zones/register", tag = "internal", request_body = ZoneInfo,
    params(
        ("x-arcane-timestamp" = String, Header, description = "Milliseconds since the Unix epoch"),
        ("x-arcane-signature" = String, Header, description = "HMAC-SHA256 of method, path, timestamp and body (control secret)"),
    ),
    responses(
        (status = 204, description = "Registered"),
        (status = 400, description = "Malformed", body = ApiError, content_type = "application/problem+json"),
        (status = 401, description = "Unsigned, forged or stale", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "A newer process of this zone holds its lease", body = ApiError, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ApiError, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = ApiError, content_type = "application/problem+json"),
        (status = 500, description = "Failure", body = ApiError, content_type = "application/problem+json"),
    ))]
fn register() {}

/// A zone's heartbeat with its load.
#[utoipa::path(post, path = "/v1/zones/heartbeat", tag = "internal", request_body = Heartbeat,
    params(
        ("x-arcane-timestamp" = String, Header, description = "Milliseconds since the Unix epoch"),
        ("x-arcane-signature" = String, Header, description = "HMAC-SHA256 (control secret)"),
    ),
    responses(
        (status = 204, description = "Recorded"),
        (status = 400, description = "Malformed", body = ApiError, content_type = "application/problem+json"),
        (status = 401, description = "Unsigned, forged or stale", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "Not registered: register again", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "Another process of this zone is registered", body = ApiError, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ApiError, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = ApiError, content_type = "application/problem+json"),
        (status = 500, description = "Failure", body = ApiError, content_type = "application/problem+json"),
    ))]
fn heartbeat() {}

/// A zone leaves the registry (closing or draining).
#[utoipa::path(post, path = "/v1/zones/deregister", tag = "internal", request_body = Deregister,
    params(
        ("x-arcane-timestamp" = String, Header, description = "Milliseconds since the Unix epoch"),
        ("x-arcane-signature" = String, Header, description = "HMAC-SHA256 (control secret)"),
    ),
    responses(
        (status = 204, description = "Removed, or nothing of this process's to remove"),
        (status = 400, description = "Malformed", body = ApiError, content_type = "application/problem+json"),
        (status = 401, description = "Unsigned, forged or stale", body = ApiError, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ApiError, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = ApiError, content_type = "application/problem+json"),
        (status = 500, description = "Failure", body = ApiError, content_type = "application/problem+json"),
    ))]
fn deregister() {}

/// Carry out a handoff the source zone recorded; where the player goes.
#[utoipa::path(post, path = "/v1/transfers", tag = "internal", request_body = TransferRequest,
    params(
        ("x-arcane-timestamp" = String, Header, description = "Milliseconds since the Unix epoch"),
        ("x-arcane-signature" = String, Header, description = "HMAC-SHA256 (control secret)"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255,
            pattern = "^[\\x21-\\x7e]+$",
            description = "Retrying with the same key returns the first answer"),
    ),
    responses(
        (status = 200, description = "Committed", body = TransferResponse),
        (status = 400, description = "Malformed", body = ApiError, content_type = "application/problem+json"),
        (status = 401, description = "Unsigned, forged or stale", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "No such transfer was recorded", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "Aborted (nothing moved), or the Idempotency-Key was used with another request", body = ApiError, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ApiError, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = ApiError, content_type = "application/problem+json"),
        (status = 503, description = "Not yet: try again", body = ApiError, content_type = "application/problem+json"),
        (status = 500, description = "Failure", body = ApiError, content_type = "application/problem+json"),
    ))]
fn transfers() {}

/// A moderator mutes (for `minutes`; 0 lifts it) or kicks a player. Written to the
/// moderation audit, then carried out in the player's zone if they are online.
#[utoipa::path(post, path = "/v1/moderation", tag = "internal", request_body = ModerationRequest,
    params(
        ("x-arcane-timestamp" = String, Header, description = "Milliseconds since the Unix epoch"),
        ("x-arcane-signature" = String, Header, description = "HMAC-SHA256 (control secret)"),
    ),
    responses(
        (status = 204, description = "Done"),
        (status = 400, description = "Malformed, or no actor or reason", body = ApiError, content_type = "application/problem+json"),
        (status = 401, description = "Unsigned, forged or stale", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "No player of that name", body = ApiError, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ApiError, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = ApiError, content_type = "application/problem+json"),
        (status = 500, description = "Failure", body = ApiError, content_type = "application/problem+json"),
    ))]
fn moderation() {}

/// The moderation audit (mutes, kicks, word-filter hits), newest first.
#[utoipa::path(get, path = "/v1/moderation/audit", tag = "internal",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Rows (default 100)")),
    responses(
        (status = 200, description = "The newest rows", body = Vec<AuditEntry>),
        (status = 400, description = "A limit out of range", body = ApiError, content_type = "application/problem+json"),
        (status = 500, description = "Failure", body = ApiError, content_type = "application/problem+json"),
    ))]
fn audit() {}

/// Where each named player is online (`zone` empty: offline, or no such player).
#[utoipa::path(get, path = "/v1/presence", tag = "internal",
    params(("names" = String, Query, min_length = 1, description = "Comma-separated player names, 1 to 200")),
    responses(
        (status = 200, description = "One entry per name, in order", body = Vec<PresenceEntry>),
        (status = 400, description = "No names, or too many", body = ApiError, content_type = "application/problem+json"),
        (status = 500, description = "Failure", body = ApiError, content_type = "application/problem+json"),
    ))]
fn presence() {}

/// What players reach.
#[derive(OpenApi)]
#[openapi(
    info(title = "Arcane Realms orchestrator: public API", version = "1"),
    paths(login, map, viewer_session, viewer_zones, viewer_world, livez, healthz, readyz),
    components(schemas(LoginRequest, LoginResponse, ApiError)),
    modifiers(&ViewerToken)
)]
pub struct PublicApi;

/// The viewer routes' bearer token.
struct ViewerToken;

impl utoipa::Modify for ViewerToken {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "viewer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// What zones and operators reach.
#[derive(OpenApi)]
#[openapi(
    info(title = "Arcane Realms orchestrator: internal API", version = "1"),
    paths(
        zones, metrics, register, heartbeat, deregister, transfers, moderation, audit, presence,
        livez, healthz, readyz
    ),
    components(schemas(
        ZoneInfo,
        ZoneLoad,
        ZoneStatus,
        Heartbeat,
        Deregister,
        TransferRequest,
        TransferResponse,
        ModerationRequest,
        ModerationAction,
        AuditEntry,
        PresenceEntry,
        ApiError
    ))
)]
pub struct InternalApi;

pub(super) async fn public_json() -> Json<utoipa::openapi::OpenApi> {
    Json(PublicApi::openapi())
}

pub(super) async fn internal_json() -> Json<utoipa::openapi::OpenApi> {
    Json(InternalApi::openapi())
}
