//! `POST /v1/login`: a player logs in and is told where to play.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    /// Development authentication: the player name (ignored when the orchestrator
    /// verifies identity-provider tokens).
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[A-Za-z0-9_-]{1,32}$", required = true)
    )]
    pub name: String,
    /// Players logging in with the same party are kept together: placed in the same
    /// copy of a zone and sent into the same instance.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]{0,32}$"))]
    pub party: Option<String>,
    /// The identity provider's JWT, required when the orchestrator is configured with
    /// one (`--jwt-secret` or `--jwt-public-key`); the player is its `sub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    pub player_id: u64,
    pub zone_id: String,
    /// The zone's WebSocket endpoint (`ws://host:port`).
    pub endpoint: String,
    /// The signed join ticket for `zone_id`.
    pub ticket: String,
    pub expires_unix: u64,
    /// The zone's QUIC endpoint (`quic://host:port?sha256=…`); empty when it serves
    /// WebSocket only.
    #[serde(default)]
    pub quic_endpoint: String,
}
