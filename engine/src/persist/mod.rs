//! Persistence and transfers, engine side: what a zone saves of a player
//! (`SavedPlayer`: position, HP, mana, inventory), when it says so (a checkpoint of
//! everyone every `checkpoint_interval_ticks`, and the final state on logout), and the
//! exits that hand a player to another zone. The zone server writes what comes out of
//! here to the database and runs the transfer; the engine only freezes the player.
//!
//! **Invariant:** a player who is `Transferring` is frozen (no input, casts or admin
//! commands are applied) and is never saved by this zone again: from the moment of the
//! freeze the handoff record is the only copy that may become the player's state.

use arcane_protocol::EventKind;
use arcane_protocol::saved::{ItemStack, SavedPlayer};
use bevy_ecs::prelude::*;
use glam::Vec2;

use crate::ZonePlugin;
use crate::combat::{Dead, Health};
use crate::components::Position;
use crate::movement::PlayerInput;
use crate::players::Player;
use crate::skills::Mana;
use crate::zone::{PlayerId, ZoneClock, ZoneOutbox, ZoneOutput, ZoneSettings, ZoneSystems};

/// Everything a player owns (items and creatures), carried through saves and transfers.
#[derive(Component, Debug, Clone, Default, PartialEq)]
pub struct Inventory(pub Vec<ItemStack>);

/// The player walked into an exit; the zone server is handing it over (the target
/// travels in `ZoneOutput::Transfer`).
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transferring;

/// A failed transfer: exits are ignored for this player until the tick.
#[derive(Component, Debug, Clone, Copy)]
pub struct TransferRetryAt(pub u64);

/// What is saved of a player standing at `at`.
fn saved(at: Vec2, h: &Health, m: &Mana, inv: &Inventory) -> SavedPlayer {
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

/// Every `checkpoint_interval_ticks`, the state of every player not in transfer.
fn checkpoint(
    clock: Res<ZoneClock>,
    settings: Res<ZoneSettings>,
    players: Query<(&Player, &Position, &Health, &Mana, &Inventory), Without<Transferring>>,
    mut outbox: ResMut<ZoneOutbox>,
) {
    let every = u64::from(settings.0.netcode.checkpoint_interval_ticks.max(1));
    if clock.tick == 0 || !clock.tick.is_multiple_of(every) || players.is_empty() {
        return;
    }
    let states = players
        .iter()
        .map(|(p, pos, h, m, inv)| (p.id, saved(pos.0, h, m, inv)))
        .collect();
    outbox.0.push(ZoneOutput::Checkpoint(states));
}

/// Freezes living players who stand in an exit and asks the zone server to hand them
/// over, with their state at the arrival point.
#[allow(clippy::type_complexity)]
fn take_exits(
    mut commands: Commands,
    clock: Res<ZoneClock>,
    settings: Res<ZoneSettings>,
    mut players: Query<
        (
            Entity,
            &Player,
            &Position,
            &Health,
            &Mana,
            &Inventory,
            &mut PlayerInput,
            Option<&TransferRetryAt>,
        ),
        (Without<Transferring>, Without<Dead>),
    >,
    mut outbox: ResMut<ZoneOutbox>,
) {
    let exits = &settings.0.zone.exits;
    if exits.is_empty() {
        return;
    }
    for (e, p, pos, h, m, inv, mut input, retry) in &mut players {
        if retry.is_some_and(|r| clock.tick < r.0) {
            continue;
        }
        let Some(exit) = exits.iter().find(|x| x.area.contains(pos.0)) else {
            continue;
        };
        input.reset();
        commands.entity(e).insert(Transferring);
        outbox.0.push(ZoneOutput::Transfer {
            player: p.id,
            to: exit.to.clone(),
            state: saved(exit.arrive.point(pos.0), h, m, inv),
        });
    }
}

/// Freezes every player not already in transfer and asks the zone server to hand
/// them to `to`, keeping their position (a draining zone sends its players to another
/// copy of the same map). The dead go too, saved at 0 HP: they arrive respawned, as
/// after a logout. A refused transfer unfreezes the player as usual.
pub(crate) fn evacuate(world: &mut World, to: crate::content::ExitTarget) {
    let mut q = world.query_filtered::<(
        Entity,
        &Player,
        &Position,
        &Health,
        &Mana,
        &Inventory,
    ), Without<Transferring>>();
    let leaving: Vec<(Entity, PlayerId, SavedPlayer)> = q
        .iter(world)
        .map(|(e, p, pos, h, m, inv)| (e, p.id, saved(pos.0, h, m, inv)))
        .collect();
    for (e, player, state) in leaving {
        if let Some(mut input) = world.get_mut::<PlayerInput>(e) {
            input.reset();
        }
        world.entity_mut(e).insert(Transferring);
        world
            .resource_mut::<ZoneOutbox>()
            .0
            .push(ZoneOutput::Transfer {
                player,
                to: to.clone(),
                state,
            });
    }
}

/// A transfer that did not happen: unfreeze the player, tell them, and keep exits
/// quiet for `transfer_retry_ticks`.
pub(crate) fn transfer_failed(world: &mut World, player: PlayerId, e: Entity, detail: String) {
    let tick = world.resource::<ZoneClock>().tick;
    let wait = u64::from(
        world
            .resource::<ZoneSettings>()
            .0
            .netcode
            .transfer_retry_ticks,
    );
    if world.entity_mut(e).take::<Transferring>().is_none() {
        return;
    }
    world.entity_mut(e).insert(TransferRetryAt(tick + wait));
    let text = format!("the way is closed for now: {detail}");
    world
        .resource_mut::<ZoneOutbox>()
        .event(player, tick as u32, EventKind::Notice { text });
}

#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PersistSystems;

pub struct PersistPlugin;

impl ZonePlugin for PersistPlugin {
    fn build(&self, _world: &mut World, schedule: &mut Schedule) {
        schedule.configure_sets(PersistSystems.in_set(ZoneSystems::Lifecycle));
        schedule.add_systems((take_exits, checkpoint).chain().in_set(PersistSystems));
    }
}
