//! Registers command ingestion (`ZoneSystems::Ingest`) and violation kicks
//! (`LifecycleSystems::Kick`).

use bevy_ecs::prelude::*;

use super::rules::{StallAmnesty, Violations};
use super::systems::{PlayerIndex, ingest_commands, kick_violators};
use crate::common::components::Replicated;
use crate::common::schedule::{LifecycleSystems, ZonePlugin, ZoneSystems};
use crate::common::state_hash::{Bits, StateParts};

pub struct PlayersPlugin;

impl ZonePlugin for PlayersPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world.init_resource::<PlayerIndex>();
        world.init_resource::<StallAmnesty>();
        StateParts::add(world, "violations", |world, sink| {
            sink.row(0, &world.resource::<StallAmnesty>().until_tick);
            let mut q = world.query::<(&Replicated, &Violations)>();
            for (r, v) in q.iter(world) {
                let row = (Bits(v.score), v.counts, v.events_this_tick);
                sink.row(u64::from(r.net_id.0), &row);
            }
        });
        schedule.add_systems((
            ingest_commands.in_set(ZoneSystems::Ingest),
            kick_violators.in_set(LifecycleSystems::Kick),
        ));
    }
}
