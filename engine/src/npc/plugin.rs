//! Spawns the zone's NPC population and registers the wander system in
//! `SimulateSystems::Move`.

use bevy_ecs::prelude::*;

use super::systems::{spawn_npcs, wander_npcs};
use crate::common::schedule::{SimulateSystems, ZonePlugin};

pub struct NpcPlugin;

impl ZonePlugin for NpcPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        spawn_npcs(world);
        schedule.add_systems(wander_npcs.in_set(SimulateSystems::Move));
    }
}
