//! Persistence and transfers, engine side: what a zone saves of a player
//! (`SavedPlayer`: position, HP, mana, inventory, creatures), when it says so (a checkpoint of
//! everyone every `checkpoint_interval_ticks`, and the final state on logout), and the
//! exits that hand a player to another zone. The zone server writes what comes out of
//! here to the database and runs the transfer; the engine only freezes the player.
//! Owns `Inventory` and `TransferRetryAt`; marks frozen players with the shared
//! `Transferring`.
//!
//! **Invariant:** a player who is `Transferring` is frozen (no input, casts or admin
//! commands are applied) and this engine never saves it again: from the moment of the
//! freeze the handoff record carries the player's state. Only when its process stops
//! (a shutdown, or a crash recovered from the journal) does the zone server write a
//! frozen player's state ([`crate::Zone::player_states`]), under the epoch it was
//! loaded with: the database refuses it if the transfer committed, and keeps it if the
//! transfer is aborted with no zone left to take the player back.

mod plugin;
mod systems;

pub use plugin::PersistPlugin;

use arcane_protocol::saved::{ItemStack, SavedPlayer};
use bevy_ecs::prelude::*;
use glam::Vec2;

use crate::combat::Health;
use crate::common::components::{Player, Position};
use crate::common::io::PlayerId;
use crate::creatures::Roster;
use crate::skills::Mana;

/// Everything a player owns (items and creatures), carried through saves and transfers.
#[derive(Component, Debug, Clone, Default, PartialEq)]
pub struct Inventory(pub Vec<ItemStack>);

/// A failed transfer: exits are ignored for this player until the tick.
#[derive(Component, Debug, Clone, Copy)]
pub struct TransferRetryAt(pub u64);

/// What is saved of a player standing at `at`.
pub(crate) fn saved(at: Vec2, (h, m, inv, roster): Kept<'_>, tick: u64) -> SavedPlayer {
    SavedPlayer {
        x: at.x,
        y: at.y,
        hp: h.hp,
        mana: m.current.max(0.0) as u32,
        inventory: inv.0.clone(),
        creatures: roster.map(|r| r.to_saved(tick)).unwrap_or_default(),
    }
}

/// What is kept of a player besides its position: HP, mana, items, creatures.
pub(crate) type Kept<'a> = (&'a Health, &'a Mana, &'a Inventory, Option<&'a Roster>);

/// The persistent state of one player entity (position in this zone).
/// The saved state of every player in the zone, those frozen in a transfer too (crash
/// recovery writes these; the database refuses any a transfer already took).
pub fn player_states(world: &mut World) -> Vec<(PlayerId, SavedPlayer)> {
    let mut q = world.query::<(Entity, &Player)>();
    let players: Vec<(Entity, PlayerId)> = q.iter(world).map(|(e, p)| (e, p.id)).collect();
    let mut out: Vec<(PlayerId, SavedPlayer)> = players
        .into_iter()
        .filter_map(|(e, id)| Some((id, saved_state(world, e)?)))
        .collect();
    out.sort_by_key(|(id, _)| *id);
    out
}

pub fn saved_state(world: &World, e: Entity) -> Option<SavedPlayer> {
    let kept = (
        world.get::<Health>(e)?,
        world.get::<Mana>(e)?,
        world.get::<Inventory>(e)?,
        world.get::<Roster>(e),
    );
    let tick = world.resource::<crate::common::state::ZoneClock>().tick;
    Some(saved(world.get::<Position>(e)?.0, kept, tick))
}
