//! Netcode tuning shared by all zones (`content/netcode.ron`): the tick rate, input
//! limits, interest tiers, acks, checkpoints.

use serde::Deserialize;

/// Limits on client input (anti-flood, anti-replay, kick threshold).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputLimits {
    /// Inputs held per player waiting to be applied; more are dropped as a flood.
    pub max_queued: u8,
    /// Most inputs applied for one player in one tick.
    pub max_per_tick: u8,
    /// One credit accrues per tick up to this cap; each applied input spends one, so a
    /// client can never move faster than one input per tick on average.
    pub credit_cap: u8,
    /// Each rejected input adds 1 to a player's violation score...
    pub kick_score: f32,
    /// ...which decays by this much per tick; over `kick_score` the player is kicked.
    pub score_decay_per_tick: f32,
}

/// What one client tier may see.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterestTier {
    /// Entities enter the view within this radius (metres)...
    pub radius: f32,
    /// ...and leave it only beyond `radius + margin`, so they do not flicker at the edge.
    pub margin: f32,
    /// Most entities a client tracks at once, nearest first (at most 250).
    pub tracked_cap: u16,
    /// Most entities refreshed in one snapshot, by accumulated priority; the rest keep
    /// their last sent state and gain priority, so far ones refresh at a lower rate.
    pub snapshot_cap: u16,
    /// Priority per tick is `1 / (1 + distance / falloff)`.
    pub priority_falloff: f32,
    /// Ticks between a client's spatial queries (newcomers appear at most this late;
    /// tracked entities are refreshed every tick regardless).
    pub query_interval_ticks: u8,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tiers {
    pub mobile: InterestTier,
    pub desktop: InterestTier,
}

/// Netcode tuning shared by all zones (`content/netcode.ron`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetcodeDef {
    pub tick_rate_hz: u16,
    /// Ticks between R-tree rebuilds. In between, queries are widened by how far the
    /// fastest entity can have moved, and entities spawned since are checked
    /// linearly until the next rebuild takes them in.
    pub index_rebuild_interval_ticks: u8,
    pub input: InputLimits,
    pub tiers: Tiers,
    /// Ticks between write-behind checkpoints of every player (100 = 5 s at 20 Hz):
    /// the most movement a killed zone can lose.
    #[serde(default = "default_checkpoint_ticks")]
    pub checkpoint_interval_ticks: u32,
    /// Ticks a player waits, after a transfer failed, before an exit tries again.
    #[serde(default = "default_transfer_retry_ticks")]
    pub transfer_retry_ticks: u32,
    /// Snapshots a client may go without acknowledging any before it is disconnected
    /// as `SlowClient` (200 = 10 s at 20 Hz): a client that stopped reading, or whose
    /// snapshots no longer reach it, is let go cleanly (its state saved) instead of
    /// being sent full snapshots for ever. At least `SENT_RING` (16), the ticks a
    /// client may lag before its baseline is lost.
    #[serde(default = "default_ack_timeout_ticks")]
    pub ack_timeout_ticks: u32,
}

fn default_ack_timeout_ticks() -> u32 {
    200
}

fn default_checkpoint_ticks() -> u32 {
    100
}

fn default_transfer_retry_ticks() -> u32 {
    100
}
