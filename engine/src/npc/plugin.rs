//! Spawns the zone's NPC population and registers the wander system in `Simulate`.

use bevy_ecs::prelude::*;

use super::systems::{spawn_npcs, wander_npcs};
use crate::ZonePlugin;
use crate::movement::MovementSystems;
use crate::zone::ZoneSystems;

#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NpcSystems;

pub struct NpcPlugin;

impl ZonePlugin for NpcPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        spawn_npcs(world);
        schedule.configure_sets(
            NpcSystems
                .in_set(ZoneSystems::Simulate)
                .after(MovementSystems),
        );
        schedule.add_systems(wander_npcs.in_set(NpcSystems));
    }
}
