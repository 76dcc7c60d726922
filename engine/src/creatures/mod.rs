//! Creatures: wild populations that wander by temperament, fight back, die and breed
//! on per-cell timers under per-cell caps; capture into a player's roster; player
//! breeding through eggs that hatch; and the genomes behind it all (`genome`). Owns
//! `WildCreature`, `CreatureMind`, `Roster`, `CreatureIntents` and the
//! `BreedingCells` resource.
//!
//! **Invariant:** a cell never holds more wild creatures of a species than its cap:
//! births stop at the cap, and a creature does not walk or flee into a cell that is
//! full for its species (`cells`). Admin spawns obey the same caps.
//!
//! **Invariant:** a creature has one home at any instant: the world (wild, no id) or
//! exactly one roster entry (an id that never changes, from egg to adult). A capture
//! despawns the wild entity in the same command that adds the roster entry; a hatch
//! turns the egg into the creature in place.
//!
//! **Invariant:** every random draw of a creature event comes from a stream keyed by
//! (zone seed, cell or player, tick, event kind) (`rng::ZoneStream::keyed`); only
//! wandering uses the zone's shared creature stream.

mod admin;
mod breeding;
mod cells;
pub mod genome;
mod intents;
mod plugin;
mod roster;
mod state;
mod wild;

pub use admin::run as run_admin;
pub use breeding::{breed_wild_cells, lineage_allows};
pub use cells::BreedingCells;
pub use genome::{Gene, Genome, Phenotype, Temperament};
pub use plugin::CreaturesPlugin;
pub use roster::{CreatureIds, CreatureIntents, OwnedCreature, Roster};
pub use wild::{CreatureMind, Newborn, WildCreature, WildIds, with_spawner};

/// Event kinds that key the creature streams (`ZoneStream::keyed`).
pub mod stream {
    pub const TIMER: u64 = 1;
    pub const WILD_BIRTH: u64 = 2;
    pub const CAPTURE: u64 = 3;
    pub const BREED: u64 = 4;
    pub const PLACE: u64 = 5;
    pub const ADMIN: u64 = 6;
}
