//! When a player's state leaves the zone: checkpoints, exits, the drain's evacuation,
//! a failed transfer, and the final save of a leaving player.

use arcane_protocol::EventKind;
use arcane_protocol::saved::SavedPlayer;
use bevy_ecs::prelude::*;

use super::{Inventory, TransferRetryAt, saved};

/// The components [`saved`] reads besides the position.
type KeptQuery = (
    &'static Health,
    &'static Mana,
    &'static Inventory,
    Option<&'static crate::creatures::Roster>,
);
use crate::combat::Health;
use crate::common::commands::Rejection;
use crate::common::components::{Dead, Player, Position, Transferring};
use crate::common::events::{PlayerJoined, PlayerLeaving};
use crate::common::io::{PlayerId, ZoneCommand, ZoneOutbox, ZoneOutput};
use crate::common::state::{ZoneClock, ZoneSettings};
use crate::movement::PlayerInput;
use crate::skills::Mana;

/// Every `checkpoint_interval_ticks`, the state of every player not in transfer.
pub(super) fn checkpoint(
    clock: Res<ZoneClock>,
    settings: Res<ZoneSettings>,
    players: Query<(&Player, &Position, KeptQuery), Without<Transferring>>,
    mut outbox: ResMut<ZoneOutbox>,
) {
    let every = u64::from(settings.0.netcode.checkpoint_interval_ticks.max(1));
    if clock.tick == 0 || !clock.tick.is_multiple_of(every) || players.is_empty() {
        return;
    }
    let states = players
        .iter()
        .map(|(p, pos, kept)| (p.id, saved(pos.0, kept, clock.tick)))
        .collect();
    outbox.0.push(ZoneOutput::Checkpoint(states));
}

/// Freezes living players who stand in an exit and asks the zone server to hand them
/// over, with their state at the arrival point.
#[allow(clippy::type_complexity)]
pub(super) fn take_exits(
    mut commands: Commands,
    clock: Res<ZoneClock>,
    settings: Res<ZoneSettings>,
    mut players: Query<
        (
            Entity,
            &Player,
            &Position,
            KeptQuery,
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
    for (e, p, pos, kept, mut input, retry) in &mut players {
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
            state: saved(exit.arrive.point(pos.0), kept, clock.tick),
        });
    }
}

/// Freezes every player not already in transfer and asks the zone server to hand
/// them to `to`, keeping their position (a draining zone sends its players to another
/// copy of the same map). The dead go too, saved at 0 HP: they arrive respawned, as
/// after a logout. A refused transfer unfreezes the player as usual.
pub(super) fn evacuate(world: &mut World, command: &ZoneCommand) {
    let ZoneCommand::Evacuate { to } = command else {
        return;
    };
    let to = to.clone();
    let mut q =
        world.query_filtered::<(Entity, &Player, &Position, KeptQuery), Without<Transferring>>();
    let tick = world.resource::<ZoneClock>().tick;
    let leaving: Vec<(Entity, PlayerId, SavedPlayer)> = q
        .iter(world)
        .map(|(e, p, pos, kept)| (e, p.id, saved(pos.0, kept, tick)))
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
pub(super) fn transfer_failed(
    entity: &mut EntityWorldMut<'_>,
    command: &ZoneCommand,
) -> Option<Rejection> {
    let e = entity.id();
    entity.world_scope(|world| unfreeze(world, e, command))
}

fn unfreeze(world: &mut World, e: Entity, command: &ZoneCommand) -> Option<Rejection> {
    let ZoneCommand::TransferFailed { player, detail } = command else {
        return None;
    };
    let (player, detail) = (*player, detail.clone());
    let tick = world.resource::<ZoneClock>().tick;
    let wait = u64::from(
        world
            .resource::<ZoneSettings>()
            .0
            .netcode
            .transfer_retry_ticks,
    );
    world.entity_mut(e).take::<Transferring>()?;
    world.entity_mut(e).insert(TransferRetryAt(tick + wait));
    let text = format!("the way is closed for now: {detail}");
    world
        .resource_mut::<ZoneOutbox>()
        .event(player, tick as u32, EventKind::Notice { text });
    None
}

/// A joining player brings what it owns.
pub(super) fn add_player_inventory(joined: On<PlayerJoined>, mut commands: Commands) {
    let items = joined
        .saved
        .as_ref()
        .map(|s| s.inventory.clone())
        .unwrap_or_default();
    commands.entity(joined.entity).insert(Inventory(items));
}

/// A leaving player's final state here is saved (a `Logout`), unless it is being
/// handed over: then the handoff record is the only state that may be kept.
pub(super) fn save_leaving_player(
    leaving: On<PlayerLeaving>,
    not_frozen: Query<(), Without<Transferring>>,
    states: Query<(&Position, KeptQuery)>,
    clock: Res<ZoneClock>,
    mut outbox: ResMut<ZoneOutbox>,
) {
    if not_frozen.get(leaving.entity).is_err() {
        return;
    }
    if let Ok((pos, kept)) = states.get(leaving.entity) {
        outbox.0.push(ZoneOutput::Logout {
            player: leaving.player,
            state: saved(pos.0, kept, clock.tick),
        });
    }
}
