//! The orchestrator's HTTP/JSON API as types: what clients send to log in, what zones
//! send to register, heartbeat, deregister and hand players over, and what they get
//! back. The orchestrator serves these, the zone server, the bots and the tools call
//! them; every side uses these definitions, so a renamed field breaks the build
//! instead of a running fleet.
//!
//! **API Boundary.** A change here is a change of the wire contract between
//! processes that may run different builds during a rolling upgrade: add fields with
//! `#[serde(default)]`, never rename or remove one.
//!
//! **Architecture Invariant:** types and constants only (serde); no HTTP client or
//! server, no tokio.

mod login;
mod social;
mod transfer;
mod zones;

pub use login::{LoginRequest, LoginResponse};
pub use social::{
    AuditEntry, ModerationAction, ModerationRequest, OnlinePlayer, PresenceEntry, SocialDown,
    SocialUp,
};
pub use transfer::{TransferRequest, TransferResponse};
pub use zones::{Deregister, Heartbeat, ZoneInfo, ZoneLoad, ZoneStatus};

use serde::{Deserialize, Serialize};

/// The routes, relative to the orchestrator's base URL.
pub mod paths {
    /// `POST` [`LoginRequest`](crate::LoginRequest) → [`LoginResponse`](crate::LoginResponse).
    pub const LOGIN: &str = "/v1/login";
    /// `GET` → `Vec<`[`ZoneStatus`](crate::ZoneStatus)`>`.
    pub const ZONES: &str = "/v1/zones";
    /// `POST` [`ZoneInfo`](crate::ZoneInfo) → 204.
    pub const REGISTER: &str = "/v1/zones/register";
    /// `POST` [`Heartbeat`](crate::Heartbeat) → 204, or 404 when the zone must
    /// register again.
    pub const HEARTBEAT: &str = "/v1/zones/heartbeat";
    /// `POST` [`Deregister`](crate::Deregister) → 204.
    pub const DEREGISTER: &str = "/v1/zones/deregister";
    /// `POST` [`TransferRequest`](crate::TransferRequest) →
    /// [`TransferResponse`](crate::TransferResponse), 409 when aborted, 503 to retry.
    pub const TRANSFERS: &str = "/v1/transfers";
    /// `GET`, upgraded to a WebSocket: a zone's social link
    /// ([`SocialUp`](crate::SocialUp) up, [`SocialDown`](crate::SocialDown) down). The
    /// upgrade request is signed like a `POST` with an empty body.
    pub const SOCIAL: &str = "/v1/social";
    /// `POST` [`ModerationRequest`](crate::ModerationRequest) → 204 (signed).
    pub const MODERATION: &str = "/v1/moderation";
    /// `GET` → `Vec<`[`AuditEntry`](crate::AuditEntry)`>`, newest first (`?limit=`).
    pub const AUDIT: &str = "/v1/moderation/audit";
    /// `GET ?names=a,b` → `Vec<`[`PresenceEntry`](crate::PresenceEntry)`>`.
    pub const PRESENCE: &str = "/v1/presence";
    /// `GET` → a zone's static map (obstacles, exits, size) as JSON; public.
    pub const MAP: &str = "/v1/maps/{zone}";
    /// `POST` [`LoginRequest`](crate::LoginRequest) → a viewer token, for admins only.
    pub const VIEWER_SESSION: &str = "/v1/viewer/session";
    /// `GET` (viewer token) → the zones a viewer may open.
    pub const VIEWER_ZONES: &str = "/v1/viewer/zones";
    /// `GET ?player=&map=` (viewer token) → the zone's whole world, proxied from it.
    pub const VIEWER_WORLD: &str = "/v1/viewer/zones/{zone}/world";
}

/// Annotations on an Agones `GameServerAllocation` through which the orchestrator
/// tells a standby zone server what to run.
pub mod agones {
    /// The zone id the allocated server runs as (`meadow`, `meadow~2`, `crypt~party-red`).
    pub const ZONE_ID_ANNOTATION: &str = "arcane.dev/zone-id";
    /// The content zone (map) it runs.
    pub const MAP_ANNOTATION: &str = "arcane.dev/map";
    /// Seconds after which an empty zone closes itself (copies and instances).
    pub const CLOSE_AFTER_ANNOTATION: &str = "arcane.dev/close-after-empty";
}

/// The body of every error answer (4xx and 5xx): an RFC 7807 problem
/// (`application/problem+json`). `type` is stable (one of [`problems`]) and is what a
/// client branches on; `detail` is for people. `error` repeats `detail` for clients
/// of the first version of this API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    /// What went wrong and, where the caller can act on it, what to do.
    pub error: String,
    /// The problem type: a URI from [`problems`].
    #[serde(rename = "type", default)]
    pub kind: String,
    /// A short summary of the type (the same for every problem of the type).
    #[serde(default)]
    pub title: String,
    /// The HTTP status, repeated.
    #[serde(default)]
    pub status: u16,
    /// This occurrence, for people.
    #[serde(default)]
    pub detail: String,
}

/// The content type of an [`ApiError`] body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The stable problem types (RFC 7807 `type`).
pub mod problems {
    /// The request is malformed: not JSON, a missing field, an empty name.
    pub const BAD_REQUEST: &str = "urn:arcane:problem:bad-request";
    /// A login token, or a control call's signature, is missing, forged or expired.
    pub const UNAUTHORIZED: &str = "urn:arcane:problem:unauthorized";
    /// The caller is known but may not do this (the zone viewer without the admin role).
    pub const FORBIDDEN: &str = "urn:arcane:problem:forbidden";
    /// The zone is not registered (register first) or the route does not exist.
    pub const NOT_FOUND: &str = "urn:arcane:problem:not-found";
    /// The transfer was aborted, or the zone process was replaced by a newer one.
    pub const CONFLICT: &str = "urn:arcane:problem:conflict";
    /// An `Idempotency-Key` was used before with a different request.
    pub const IDEMPOTENCY_MISMATCH: &str = "urn:arcane:problem:idempotency-key-reused";
    /// The body is larger than the route takes.
    pub const TOO_LARGE: &str = "urn:arcane:problem:too-large";
    /// Not now: no zone can take the player, a transfer is in flight. Try again.
    pub const UNAVAILABLE: &str = "urn:arcane:problem:unavailable";
    /// The orchestrator failed (the database, the registry); the log says more.
    pub const INTERNAL: &str = "urn:arcane:problem:internal";
}

#[cfg(test)]
mod tests;
