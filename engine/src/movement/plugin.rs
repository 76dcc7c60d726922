//! Registers input integration in `SimulateSystems::Move`, the input command handler,
//! and what movement gives a joining player.

use bevy_ecs::prelude::*;

use super::rules::PlayerInput;
use super::systems::{
    accept_input, add_player_movement, apply_move_inputs, restart_input_stream, retune_player_speed,
};
use crate::common::commands::{CommandHandlers, CommandKind};
use crate::common::components::Replicated;
use crate::common::schedule::{SimulateSystems, ZonePlugin};
use crate::common::state_hash::StateParts;

pub struct MovementPlugin;

impl ZonePlugin for MovementPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world
            .resource_mut::<CommandHandlers>()
            .on_player_command(CommandKind::Input, accept_input);
        StateParts::add(world, "inputs", |world, sink| {
            let mut q = world.query::<(&Replicated, &PlayerInput)>();
            for (r, i) in q.iter(world) {
                sink.row(u64::from(r.net_id.0), &i.state_row());
            }
        });
        world.add_observer(add_player_movement);
        world.add_observer(restart_input_stream);
        world.add_observer(retune_player_speed);
        schedule.add_systems(apply_move_inputs.in_set(SimulateSystems::Move));
    }
}
