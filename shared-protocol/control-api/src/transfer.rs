//! `POST /v1/transfers`: a zone asks for a handoff it recorded to be carried out.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransferRequest {
    /// The handoff's id, as recorded in the store (idempotent: asking twice is safe).
    pub transfer_id: String,
}

/// Where the transferred player goes (also the answer to a repeated request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransferResponse {
    pub zone_id: String,
    /// Empty when the target zone is not up right now: the client logs in again.
    pub endpoint: String,
    pub ticket: String,
    pub expires_unix: u64,
    #[serde(default)]
    pub quic_endpoint: String,
}
