//! Spawns the zone's NPC population and registers the wander system in
//! `SimulateSystems::Move`.

use bevy_ecs::prelude::*;

use super::systems::Wander;
use super::systems::{spawn_npcs, wander_npcs};
use crate::common::components::Replicated;
use crate::common::schedule::{SimulateSystems, ZonePlugin};
use crate::common::state_hash::{RowSink, StateParts, v2};

pub struct NpcPlugin;

impl ZonePlugin for NpcPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        StateParts::add(world, "wanderers", wander_rows);
        spawn_npcs(world);
        schedule.add_systems(wander_npcs.in_set(SimulateSystems::Move));
    }
}

/// Every wandering NPC's heading, ticks left on it and group.
fn wander_rows(world: &mut World, sink: &mut dyn RowSink) {
    let mut q = world.query::<(&Replicated, &Wander)>();
    for (r, w) in q.iter(world) {
        sink.row(u64::from(r.net_id.0), &(v2(w.dir), w.ticks_left, w.group));
    }
}
