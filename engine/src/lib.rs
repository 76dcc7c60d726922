//! Arcane Realms zone simulation on `bevy_ecs`.
//!
//! A [`Zone`] is fed [`ZoneCommand`]s and hands back [`ZoneOutput`]s. Inside, one
//! plugin per concern (players, movement, npc, combat, skills, enemy_ai, creatures,
//! persist, admin, interest, replication) registers its systems into the phases of a tick
//! (`common::schedule`), its command handlers and its observers; the types they share
//! are in [`common`], below every plugin.
//!
//! **Architecture Invariant:** no I/O and no clock. Time enters as the tick number, all
//! randomness comes from the zone's seeded ChaCha streams, and the same seed plus the
//! same command journal yields the same state tick for tick (see [`Zone::state_hash`]).
//! Sockets, threads and wall time belong to `arcane-zone-server`.
//!
//! **Architecture Invariant:** a plugin owns its components. It adds them to a joining
//! player by observing `PlayerJoined`, adapts them on `ContentReloaded`, and no plugin
//! spawns or inserts another's.

pub mod admin;
pub mod chat;
pub mod combat;
pub mod common;
pub mod content;
pub mod creatures;
pub mod enemy_ai;
pub mod interest;
pub mod movement;
pub mod npc;
pub mod persist;
pub mod players;
pub mod replication;
pub mod rng;
pub mod skills;
pub mod viewer;
mod zone;

pub use common::io::{PlayerId, ZoneCommand, ZoneOutput};
pub use common::schedule::{ZonePlugin, ZoneSystems};
pub use common::state::ZoneCounters;
pub use content::{ContentError, NetcodeDef, ZoneDef};
pub use zone::Zone;
