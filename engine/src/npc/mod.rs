//! Wandering NPCs: a random walk driven by the zone RNG, giving zones realistic load
//! until the enemy state machine replaces them with real behaviour.

mod plugin;
mod systems;

pub use plugin::NpcPlugin;
pub use systems::{Wander, spawn_npcs};
