//! Movement systems: apply each player's queued inputs within the tick's allowance;
//! take inputs in; give joining players their input stream and speed.

use arcane_protocol::EventKind;
use bevy_ecs::prelude::*;

use super::rules::{Accepted, PlayerInput};
use crate::common::commands::Rejection;
use crate::common::components::{Dead, MoveSpeed, Player, Position};
use crate::common::events::{ContentReloaded, PlayerJoined, PlayerReconnected};
use crate::common::geometry::next_position;
use crate::common::io::ZoneCommand;
use crate::common::state::{ZoneClock, ZoneCounters, ZoneSettings};

/// Dead players' inputs are consumed (their sequence still advances, so nothing piles
/// up or counts as a flood) but move nothing.
pub fn apply_move_inputs(
    mut players: Query<(&mut Position, &MoveSpeed, &mut PlayerInput, Has<Dead>)>,
    settings: Res<ZoneSettings>,
    clock: Res<ZoneClock>,
    mut counters: ResMut<ZoneCounters>,
) {
    let zone = &settings.0.zone;
    let limits = &settings.0.netcode.input;
    let mut applied = 0u64;
    for (mut pos, speed, mut input, dead) in &mut players {
        let start = pos.0;
        let mut p = start;
        for dir in input.take_for_tick(limits, clock.host_us) {
            if !dead {
                p = next_position(zone, p, dir, speed.0 * clock.dt);
            }
            applied += 1;
        }
        if p != start {
            pos.0 = p;
        }
    }
    counters.inputs_applied += applied;
}

/// Takes one `ZoneCommand::Input` into the player's stream (ingest's handler).
pub(super) fn accept_input(
    entity: &mut EntityWorldMut<'_>,
    command: &ZoneCommand,
) -> Option<Rejection> {
    let &ZoneCommand::Input {
        input, received_us, ..
    } = command
    else {
        return None;
    };
    let limits = entity.resource::<ZoneSettings>().0.netcode.input;
    let accepted = entity
        .get_mut::<PlayerInput>()?
        .accept(input, received_us, &limits);
    match accepted {
        // The common case touches nothing else.
        Ok(Accepted::Queued) => None,
        Ok(Accepted::Superseded) => {
            entity.resource_mut::<ZoneCounters>().inputs_superseded += 1;
            None
        }
        Err(reason) => {
            entity.resource_mut::<ZoneCounters>().inputs_rejected[reason as usize] += 1;
            Some(Rejection {
                reason,
                event: EventKind::InputRejected {
                    seq: input.seq,
                    reason,
                },
            })
        }
    }
}

/// A joining player gets an empty input stream and the zone's walking speed.
pub(super) fn add_player_movement(
    joined: On<PlayerJoined>,
    settings: Res<ZoneSettings>,
    mut commands: Commands,
) {
    commands.entity(joined.entity).insert((
        PlayerInput::default(),
        MoveSpeed(settings.0.zone.player_speed),
    ));
}

/// A reconnected player's sequence numbers start over.
pub(super) fn restart_input_stream(
    back: On<PlayerReconnected>,
    mut inputs: Query<&mut PlayerInput>,
) {
    if let Ok(mut input) = inputs.get_mut(back.entity) {
        input.reset();
    }
}

/// New content may change how fast players walk.
pub(super) fn retune_player_speed(
    _: On<ContentReloaded>,
    settings: Res<ZoneSettings>,
    mut players: Query<&mut MoveSpeed, With<Player>>,
) {
    for mut speed in &mut players {
        speed.0 = settings.0.zone.player_speed;
    }
}
