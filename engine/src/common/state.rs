//! The zone-wide resources every plugin reads: the clock, the content, the counters.

use arcane_protocol::messages::RejectReason;
use arcane_protocol::{BreedRefusal, CaptureRefusal, CastRejectReason};
use bevy_ecs::prelude::Resource;

use crate::content::ZoneContent;

/// Tick number and the fixed step derived from the tick rate.
#[derive(Resource, Debug, Clone, Copy)]
pub struct ZoneClock {
    pub tick: u64,
    /// Seconds per tick.
    pub dt: f32,
    /// The host's clock at the start of this tick, in µs, as given to
    /// [`Zone::step_at`] (0 with [`Zone::step`]). The simulation never reads it: it
    /// only measures how long inputs waited, which snapshots report to clients.
    pub host_us: u64,
    /// The host's time rate in percent of real time, as [`Zone::set_time_rate`] set
    /// it; only snapshots carry it (the simulation never reads it).
    pub time_rate: u8,
}

/// The loaded content of this zone.
#[derive(Resource, Debug, Clone)]
pub struct ZoneSettings(pub ZoneContent);

/// True while the zone runs with no clients to serve (a replay): per-client views and
/// snapshot encoding are skipped. They feed nothing back into the simulation, so the
/// state (and its hash) is the same either way. Always present: a resource is an
/// entity, so inserting one late would shift every entity id after it.
#[derive(Resource, Default, Debug)]
pub struct Headless(pub bool);

/// Monotonic counters the process exports as metrics.
#[derive(Resource, Default, Debug, Clone, PartialEq)]
pub struct ZoneCounters {
    pub inputs_applied: u64,
    pub inputs_rejected: [u64; RejectReason::ALL.len()],
    /// Inputs the network reordered behind a newer one that was already applied:
    /// dropped without blame (a replay is `StaleSequence` instead).
    pub inputs_superseded: u64,
    pub kicks: u64,
    pub snapshots: u64,
    pub full_snapshots: u64,
    pub snapshot_bytes: u64,
    pub entity_updates: u64,
    pub entity_enters: u64,
    pub entity_leaves: u64,
    /// Casts that passed validation.
    pub casts: u64,
    pub cast_rejected: [u64; CastRejectReason::ALL.len()],
    /// Damage hits that landed (skills and enemy attacks).
    pub hits: u64,
    /// Enemies killed.
    pub kills: u64,
    pub player_deaths: u64,
    pub respawns: u64,
    /// Enemy attacks resolved (whether or not they hit anyone).
    pub enemy_attacks: u64,
    pub admin_commands: u64,
    /// Admin commands from players without the admin role.
    pub admin_refused: u64,
    /// Content reloads applied at a tick boundary.
    pub content_reloads: u64,
    /// Systems or commands that failed (a panic, an insert on a despawned entity):
    /// logged and skipped for that tick instead of taking the zone down.
    pub system_faults: u64,
    /// Wild creatures born in breeding cells.
    pub creature_births: u64,
    /// Wild creatures that died (or left with a species a reload removed).
    pub creature_deaths: u64,
    pub captures: u64,
    /// Capture rolls that failed (the creature stayed wild).
    pub capture_escapes: u64,
    pub capture_refused: [u64; CaptureRefusal::ALL.len()],
    /// Eggs laid by player breeding.
    pub breeds: u64,
    pub breed_refused: [u64; BreedRefusal::ALL.len()],
    pub hatches: u64,
}

impl ZoneCounters {
    pub fn rejected(&self, reason: RejectReason) -> u64 {
        self.inputs_rejected[reason as usize]
    }
}
