//! Registers the movement systems in `ZoneSystems::Simulate`.

use bevy_ecs::prelude::*;

use super::systems::apply_move_inputs;
use crate::ZonePlugin;
use crate::zone::ZoneSystems;

#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MovementSystems;

pub struct MovementPlugin;

impl ZonePlugin for MovementPlugin {
    fn build(&self, _world: &mut World, schedule: &mut Schedule) {
        schedule.configure_sets(MovementSystems.in_set(ZoneSystems::Simulate));
        schedule.add_systems(apply_move_inputs.in_set(MovementSystems));
    }
}
