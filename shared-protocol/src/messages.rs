//! Client and server message types. Clients send intents only (invariant 2): no client
//! message carries a position, HP, damage or an outcome.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::creatures::{BreedOutcome, CaptureOutcome, CreatureCatalog, CreatureId, CreatureView};
use crate::snapshot::{NetId, Snapshot};
use crate::social::{ChatChannel, ChatRefusal, SocialEvent, SocialRequest};

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

/// What a cast is aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
pub enum CastTarget {
    /// No target: the caster (self-centred skills, or a heal on oneself).
    Caster,
    /// Another entity, by its zone-wide id.
    Entity(NetId),
    /// A point on the ground, in centimetres.
    Point { x_cm: i32, y_cm: i32 },
}

/// A cast intent: which of the class's skill slots (see `Welcome::skills`), at what.
/// The zone decides whether it happens and what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
pub struct CastIntent {
    /// Strictly increasing per connection (separate from move inputs).
    pub seq: u32,
    pub slot: u8,
    pub target: CastTarget,
}

/// Test-area and game-master commands, honoured only from admin tickets.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub enum AdminCommand {
    /// Spawns an enemy of a content type at a point.
    SpawnEnemy { enemy: String, x_cm: i32, y_cm: i32 },
    /// Removes admin-spawned enemies, refills the spawners and restores every player.
    ResetArea,
    /// Sets an entity's HP (clamped to its maximum; 0 kills it). `NetId(0)` is oneself.
    SetHp { target: NetId, hp: u32 },
    /// Moves a player or enemy to a walkable point. `NetId(0)` is oneself.
    Teleport { target: NetId, x_cm: i32, y_cm: i32 },
    /// Turns lasting invulnerability on or off. `NetId(0)` is oneself.
    SetInvulnerable { target: NetId, on: bool },
    /// Spawns a wild creature of a species at a point; `genes` sets expressed values
    /// by gene id (`("temperament", "docile")`, `("size", "1.2")`), the rest is drawn.
    SpawnCreature {
        species: String,
        x_cm: i32,
        y_cm: i32,
        genes: Vec<(String, String)>,
    },
    /// Makes the breeding cell around a point hold `count` wild creatures of a
    /// species (spawning or removing some; never above the cell's cap).
    SetCellPopulation {
        species: String,
        x_cm: i32,
        y_cm: i32,
        count: u32,
    },
    /// Shows a creature's genome and lineage: a wild one by `target`, or one of the
    /// sender's roster by `creature` (when `target` is `NetId(0)`).
    ShowCreature { target: NetId, creature: CreatureId },
    /// Lists the occupancy of the breeding cells within `radius_m` of a point.
    ShowCells { x_cm: i32, y_cm: i32, radius_m: u32 },
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
    Cast(CastIntent),
    /// A dead player asks to reappear (honoured once the class's delay has passed).
    Respawn,
    /// `seq` is echoed in the `AdminResult` event.
    Admin {
        seq: u32,
        command: AdminCommand,
    },
    /// Try to capture a wild creature; answered by `CaptureResult`.
    Capture {
        seq: u32,
        target: NetId,
    },
    /// Breed two creatures of one's roster; answered by `BreedResult`.
    Breed {
        seq: u32,
        first: CreatureId,
        second: CreatureId,
    },
    /// Ask for the whole roster; answered by a `Roster` event.
    RosterRequest,
    /// Say something; refused with `ChatRefused`, delivered as `Chat` events.
    Chat {
        channel: ChatChannel,
        text: String,
    },
    /// A friend, party or block-list request; answered by `Social` events.
    Social(SocialRequest),
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
    /// The client did not drain its snapshots or events fast enough, or acknowledged
    /// no snapshot for the zone's ack timeout.
    SlowClient,
    /// Nothing was heard from the client within the heartbeat timeout.
    Timeout,
    /// The same player connected again; the newer connection wins.
    DuplicateLogin,
    /// The zone is at capacity.
    ZoneFull,
    /// The zone is shutting down.
    ServerShutdown,
    /// The player moved to another zone; a `Redirect` came just before this.
    Redirected,
    /// This zone does not own the player (it is owned by another zone, or a transfer of
    /// it is in progress); log in again through the orchestrator.
    NotOwner,
    /// A moderator removed the player (the detail says why).
    Moderator,
}

impl KickReason {
    pub const ALL: [KickReason; 15] = [
        KickReason::VersionMismatch,
        KickReason::BadTicket,
        KickReason::TicketExpired,
        KickReason::WrongZone,
        KickReason::HandshakeFailed,
        KickReason::MalformedPackets,
        KickReason::TooManyViolations,
        KickReason::SlowClient,
        KickReason::Timeout,
        KickReason::DuplicateLogin,
        KickReason::ZoneFull,
        KickReason::ServerShutdown,
        KickReason::Redirected,
        KickReason::NotOwner,
        KickReason::Moderator,
    ];
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

/// Why a cast intent was refused. Reported to the caster and counted in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
pub enum CastRejectReason {
    /// The slot is not one of the class's skills.
    UnknownSkill,
    Dead,
    /// The skill's own cooldown has not run out.
    Cooldown,
    /// Another cast was too recent.
    GlobalCooldown,
    NotEnoughMana,
    OutOfRange,
    /// Wrong kind of target (an ally for a damage skill, a dead or unknown entity...).
    InvalidTarget,
    /// An obstacle is in the way.
    NoLineOfSight,
    /// A cast with a cast time is already under way.
    AlreadyCasting,
    /// The sequence number was not newer than the last cast intent's (replay).
    StaleSequence,
    /// More cast intents arrived than the zone holds per player.
    Flood,
}

impl CastRejectReason {
    pub const ALL: [CastRejectReason; 11] = [
        CastRejectReason::UnknownSkill,
        CastRejectReason::Dead,
        CastRejectReason::Cooldown,
        CastRejectReason::GlobalCooldown,
        CastRejectReason::NotEnoughMana,
        CastRejectReason::OutOfRange,
        CastRejectReason::InvalidTarget,
        CastRejectReason::NoLineOfSight,
        CastRejectReason::AlreadyCasting,
        CastRejectReason::StaleSequence,
        CastRejectReason::Flood,
    ];

    /// Stable lower-case name used in metrics labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            CastRejectReason::UnknownSkill => "unknown_skill",
            CastRejectReason::Dead => "dead",
            CastRejectReason::Cooldown => "cooldown",
            CastRejectReason::GlobalCooldown => "global_cooldown",
            CastRejectReason::NotEnoughMana => "not_enough_mana",
            CastRejectReason::OutOfRange => "out_of_range",
            CastRejectReason::InvalidTarget => "invalid_target",
            CastRejectReason::NoLineOfSight => "no_line_of_sight",
            CastRejectReason::AlreadyCasting => "already_casting",
            CastRejectReason::StaleSequence => "stale_sequence",
            CastRejectReason::Flood => "flood",
        }
    }
}

/// The area an enemy attack will hit, in centimetres, announced at wind-up start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub enum TelegraphArea {
    Circle {
        radius_cm: u32,
    },
    /// Full opening angle in tenths of a degree.
    Cone {
        length_cm: u32,
        angle_decideg: u16,
    },
    Line {
        length_cm: u32,
        width_cm: u32,
    },
}

/// A telegraph: shape, origin and facing (milliradians, counter-clockwise from +x).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Telegraph {
    pub area: TelegraphArea,
    pub x_cm: i32,
    pub y_cm: i32,
    pub facing_mrad: i16,
}

/// A reliable, ordered event (never dropped, unlike snapshots).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ReliableEvent {
    pub tick: u32,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub enum EventKind {
    InputRejected {
        seq: u32,
        reason: RejectReason,
    },
    Notice {
        text: String,
    },
    /// To the caster only.
    CastRejected {
        seq: u32,
        slot: u8,
        reason: CastRejectReason,
    },
    /// A cast began; it resolves after `cast_ticks` (0: it already has).
    CastStarted {
        caster: NetId,
        slot: u8,
        cast_ticks: u16,
    },
    /// A cast with a cast time was broken off (by moving, or by death).
    CastInterrupted {
        caster: NetId,
        slot: u8,
    },
    ProjectileSpawned {
        projectile: NetId,
        caster: NetId,
        slot: u8,
    },
    /// `slot` is the caster's skill slot, or `None` for an enemy attack.
    Damage {
        source: NetId,
        target: NetId,
        amount: u32,
        slot: Option<u8>,
    },
    Healed {
        source: NetId,
        target: NetId,
        amount: u32,
    },
    Died {
        entity: NetId,
        killer: Option<NetId>,
    },
    Respawned {
        entity: NetId,
    },
    /// An enemy winds up: the attack lands on whoever is inside `telegraph` in
    /// `windup_ticks` ticks.
    Telegraph {
        enemy: NetId,
        telegraph: Telegraph,
        windup_ticks: u16,
    },
    /// To the admin who sent command `seq`.
    AdminResult {
        seq: u32,
        ok: bool,
        detail: String,
    },
    /// To the player who sent capture intent `seq`.
    CaptureResult {
        seq: u32,
        target: NetId,
        outcome: CaptureOutcome,
    },
    /// To the player who sent breed intent `seq`.
    BreedResult {
        seq: u32,
        outcome: BreedOutcome,
    },
    /// The whole roster, in answer to `RosterRequest`.
    Roster {
        capacity: u16,
        creatures: Vec<CreatureView>,
    },
    /// A roster entry was added or changed (captured, egg laid, hatched, bred).
    RosterEntry {
        /// Boxed: it is the largest event, and every event is as large as the largest.
        creature: Box<CreatureView>,
    },
    /// A chat message from player `from_id` (named `from`), checked and filtered by
    /// the speaker's zone.
    Chat {
        channel: ChatChannel,
        from_id: u64,
        from: String,
        text: String,
    },
    /// To the speaker: this message was not delivered.
    ChatRefused {
        reason: ChatRefusal,
        detail: String,
    },
    /// Friends, presence, parties, lists (boxed: large and rare).
    Social(Box<SocialEvent>),
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
    /// Hash of the content the zone runs (changes on hot reload).
    pub content_version: u64,
    /// Skill ids of the player's slots, in slot order (`CastIntent::slot`).
    pub skills: Vec<String>,
    /// How to draw this zone's wild creatures (`EntityKind::Creature` variants).
    pub creatures: CreatureCatalog,
}

/// Everything a zone may send. One message per frame.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub enum ServerMessage {
    Welcome(Welcome),
    Snapshot(Snapshot),
    Events(Vec<ReliableEvent>),
    Kick {
        reason: KickReason,
        detail: String,
    },
    Pong {
        nonce: u64,
        tick: u32,
    },
    /// Continue in another zone: connect to `endpoint` and send a `Hello` with `ticket`.
    /// The zone closes this connection (`Kick { Redirected }`) right after.
    Redirect(Redirect),
}

/// Where a player goes after a zone transfer.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Redirect {
    pub zone_id: String,
    /// `ws://host:port`; empty when the target zone is not reachable right now, in
    /// which case the client logs in again through the orchestrator.
    pub endpoint: String,
    pub ticket: String,
    /// The target's QUIC endpoint (`quic://host:port?sha256=…`); empty when it serves
    /// WebSocket only.
    pub quic_endpoint: String,
}
