//! Client and server message types. Clients send intents only (invariant 2): no client
//! message carries a position, HP, damage or an outcome.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::snapshot::{NetId, Snapshot};

/// Device class a client declares at handshake; it picks the interest budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
pub enum ClientTier {
    Mobile,
    Desktop,
}

/// First message of every connection.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Hello {
    pub protocol_version: u16,
    /// The signed join ticket issued by the orchestrator (see `ticket`).
    pub ticket: String,
    pub tier: ClientTier,
}

/// A movement intent for one tick: a direction, never a position.
///
/// Each component is quantized to `i8`: `127` is 1.0 and `-127` is -1.0. `-128` is not a
/// valid value (it would make the scale asymmetric) and is rejected as a malformed input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct MoveInput {
    /// Strictly increasing per connection; the server drops duplicates and old ones.
    pub seq: u32,
    pub dir_x: i8,
    pub dir_y: i8,
}

impl MoveInput {
    /// The direction as floats in [-1, 1], or `None` for the reserved value -128.
    pub fn direction(&self) -> Option<(f32, f32)> {
        if self.dir_x == i8::MIN || self.dir_y == i8::MIN {
            return None;
        }
        Some((f32::from(self.dir_x) / 127.0, f32::from(self.dir_y) / 127.0))
    }

    /// Quantizes a float direction (clamped to [-1, 1]); NaN becomes 0.
    pub fn quantize_direction(x: f32, y: f32) -> (i8, i8) {
        let q = |v: f32| {
            if v.is_nan() {
                0
            } else {
                (v.clamp(-1.0, 1.0) * 127.0).round() as i8
            }
        };
        (q(x), q(y))
    }
}

/// Everything a client may send. Several are batched into one frame.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub enum ClientMessage {
    Hello(Hello),
    Input(MoveInput),
    /// The newest snapshot id the client has applied; the server deltas against it.
    Ack {
        snapshot_id: u32,
    },
    Ping {
        nonce: u64,
    },
}

/// Why the server closed a connection. Sent in a `Kick` before the close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub enum KickReason {
    /// The client speaks another protocol version.
    VersionMismatch,
    /// The ticket is malformed or its signature does not verify.
    BadTicket,
    /// The ticket's expiry has passed.
    TicketExpired,
    /// The ticket names another zone.
    WrongZone,
    /// The first message was not a `Hello`, or a `Hello` came twice.
    HandshakeFailed,
    /// Too many frames failed to decode.
    MalformedPackets,
    /// Too many rejected inputs (replays, floods, invalid values).
    TooManyViolations,
    /// The client did not drain its snapshots or events fast enough.
    SlowClient,
    /// Nothing was heard from the client within the heartbeat timeout.
    Timeout,
    /// The same player connected again; the newer connection wins.
    DuplicateLogin,
    /// The zone is at capacity.
    ZoneFull,
    /// The zone is shutting down.
    ServerShutdown,
}

/// Why one input was not applied. Reported back as an event and counted in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
pub enum RejectReason {
    /// A direction component was not finite or used the reserved value.
    InvalidDirection,
    /// The sequence number was not newer than the last one received (replay).
    StaleSequence,
    /// More inputs arrived than the per-tick allowance (speed hack by flooding).
    Flood,
}

impl RejectReason {
    pub const ALL: [RejectReason; 3] = [
        RejectReason::InvalidDirection,
        RejectReason::StaleSequence,
        RejectReason::Flood,
    ];

    /// Stable lower-case name used in metrics labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InvalidDirection => "invalid_direction",
            RejectReason::StaleSequence => "stale_sequence",
            RejectReason::Flood => "flood",
        }
    }
}

/// A reliable, ordered event (never dropped, unlike snapshots).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ReliableEvent {
    pub tick: u32,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub enum EventKind {
    InputRejected { seq: u32, reason: RejectReason },
    Notice { text: String },
}

/// Sent once the zone has accepted the handshake.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol_version: u16,
    pub zone_id: String,
    /// The replicated id of the player's own entity.
    pub player: NetId,
    pub tick_rate_hz: u16,
    /// Zone bounds in centimetres: min x, min y, max x, max y.
    pub bounds_cm: [i32; 4],
    /// Movement speed in centimetres per tick, for client-side prediction.
    pub speed_cm_per_tick: u32,
}

/// Everything a zone may send. One message per frame.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub enum ServerMessage {
    Welcome(Welcome),
    Snapshot(Snapshot),
    Events(Vec<ReliableEvent>),
    Kick { reason: KickReason, detail: String },
    Pong { nonce: u64, tick: u32 },
}
