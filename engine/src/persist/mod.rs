//! Persistence and transfers, engine side: what a zone saves of a player
//! (`SavedPlayer`: position, HP, mana, inventory), when it says so (a checkpoint of
//! everyone every `checkpoint_interval_ticks`, and the final state on logout), and the
//! exits that hand a player to another zone. The zone server writes what comes out of
//! here to the database and runs the transfer; the engine only freezes the player.
//! Owns `Inventory` and `TransferRetryAt`; marks frozen players with the shared
//! `Transferring`.
//!
//! **Invariant:** a player who is `Transferring` is frozen (no input, casts or admin
//! commands are applied) and is never saved by this zone again: from the moment of the
//! freeze the handoff record is the only copy that may become the player's state.

mod plugin;
mod systems;

pub use plugin::PersistPlugin;

use arcane_protocol::saved::{ItemStack, SavedPlayer};
use bevy_ecs::prelude::*;
use glam::Vec2;

use crate::combat::Health;
use crate::common::components::Position;
use crate::skills::Mana;

/// Everything a player owns (items and creatures), carried through saves and transfers.
#[derive(Component, Debug, Clone, Default, PartialEq)]
pub struct Inventory(pub Vec<ItemStack>);

/// A failed transfer: exits are ignored for this player until the tick.
#[derive(Component, Debug, Clone, Copy)]
pub struct TransferRetryAt(pub u64);

/// What is saved of a player standing at `at`.
pub(crate) fn saved(at: Vec2, h: &Health, m: &Mana, inv: &Inventory) -> SavedPlayer {
    SavedPlayer {
        x: at.x,
        y: at.y,
        hp: h.hp,
        mana: m.current.max(0.0) as u32,
        inventory: inv.0.clone(),
    }
}

/// The persistent state of one player entity (position in this zone).
pub fn saved_state(world: &World, e: Entity) -> Option<SavedPlayer> {
    Some(saved(
        world.get::<Position>(e)?.0,
        world.get::<Health>(e)?,
        world.get::<Mana>(e)?,
        world.get::<Inventory>(e)?,
    ))
}
