//! The zone registry's messages: register, heartbeat, deregister, and the listing.

use serde::{Deserialize, Serialize};

/// What a zone tells the orchestrator when it registers (`POST /v1/zones/register`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ZoneInfo {
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub zone_id: String,
    /// Where clients connect (`ws://host:port`).
    pub endpoint: String,
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub capacity: u32,
    /// The content zone this runs (a copy or an instance runs its template's map);
    /// empty means the same as `zone_id`.
    #[serde(default)]
    pub template: String,
    /// Players from which new arrivals go to an overflow copy (0: `capacity`).
    #[serde(default)]
    pub overflow_at: u32,
    /// An instance (dungeon, arena) opened for a party rather than a shared zone.
    #[serde(default)]
    pub instance: bool,
    /// `http://host:port` of the zone's `/metrics`, `/healthz` and `/players`.
    #[serde(default)]
    pub admin_endpoint: String,
    /// Where QUIC clients connect (`quic://host:port?sha256=…`); empty when none.
    #[serde(default)]
    pub quic_endpoint: String,
    /// The generation of the zone's lease this process holds (0: a zone without a
    /// database, which holds none). The orchestrator registers only the holder of the
    /// newest one, so a replaced process cannot take its place back.
    #[serde(default)]
    pub lease_generation: i64,
}

impl ZoneInfo {
    /// The content zone id this zone runs.
    pub fn template(&self) -> &str {
        if self.template.is_empty() {
            &self.zone_id
        } else {
            &self.template
        }
    }

    /// Population from which new arrivals are sent to a copy.
    pub fn overflow_at(&self) -> u32 {
        if self.overflow_at == 0 {
            self.capacity
        } else {
            self.overflow_at.min(self.capacity)
        }
    }
}

/// A zone's load, sent with every heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ZoneLoad {
    pub players: u32,
    /// The slowest tick since the last heartbeat, in milliseconds (20 ticks at 20 Hz:
    /// at least their p99).
    pub tick_p99_ms: f64,
    /// The zone's time rate, a share of real time: 1, or less while its ticks run
    /// over budget and it dilates time.
    #[serde(default = "full_speed")]
    pub time_rate: f64,
    /// How long the zone has dilated time without a break, in seconds (0 at full
    /// speed). Placement sends no new players to a zone dilated for long.
    #[serde(default)]
    pub dilated_s: f64,
}

fn full_speed() -> f64 {
    1.0
}

impl Default for ZoneLoad {
    fn default() -> Self {
        ZoneLoad {
            players: 0,
            tick_p99_ms: 0.0,
            time_rate: full_speed(),
            dilated_s: 0.0,
        }
    }
}

/// `POST /v1/zones/heartbeat`, every second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Heartbeat {
    pub zone_id: String,
    pub load: ZoneLoad,
    /// As in [`ZoneInfo::lease_generation`]: a heartbeat from another generation than
    /// the registered one is answered 409 (the zone was replaced).
    #[serde(default)]
    pub lease_generation: i64,
}

/// `POST /v1/zones/deregister`: the zone leaves the registry (closing or draining).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deregister {
    pub zone_id: String,
    /// As in [`ZoneInfo::lease_generation`]: only the registered process leaves.
    #[serde(default)]
    pub lease_generation: i64,
}

/// A registered zone as the orchestrator sees it (`GET /v1/zones`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ZoneStatus {
    pub info: ZoneInfo,
    pub load: ZoneLoad,
    pub last_heartbeat_ms: u64,
    /// False once heartbeats stopped for longer than the timeout: no new players.
    pub up: bool,
}
