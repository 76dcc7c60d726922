//! Movement systems: apply each player's queued inputs within the tick's allowance.

use bevy_ecs::prelude::*;

use super::rules::{PlayerInput, next_position};
use crate::combat::Dead;
use crate::components::{MoveSpeed, Position};
use crate::zone::{ZoneClock, ZoneCounters, ZoneSettings};

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
