//! Arcane Realms zone simulation on `bevy_ecs`.
//!
//! **Architecture Invariant:** no I/O and no clock. Time enters as the tick number, all
//! randomness comes from the zone's seeded ChaCha streams, and the same seed plus the
//! same command journal yields the same state tick for tick (see [`Zone::state_hash`]).
//! Sockets, threads and wall time belong to `arcane-zone-server`.

pub mod admin;
pub mod combat;
pub mod components;
pub mod content;
pub mod enemy_ai;
pub mod interest;
pub mod movement;
pub mod npc;
pub mod persist;
pub mod players;
pub mod reload;
pub mod replication;
pub mod rng;
pub mod skills;
pub mod zone;

pub use content::{ContentError, NetcodeDef, ZoneDef};
pub use zone::{PlayerId, Zone, ZoneCommand, ZoneCounters, ZoneOutput, ZoneSystems};

/// A gameplay concern that registers its systems and resources into a zone schedule.
///
/// bevy's `Plugin` lives in `bevy_app`, which would bring an event loop and a task pool
/// we do not want on the tick thread; this is the same idea over a bare `Schedule`.
pub trait ZonePlugin {
    fn build(
        &self,
        world: &mut bevy_ecs::world::World,
        schedule: &mut bevy_ecs::schedule::Schedule,
    );
}
