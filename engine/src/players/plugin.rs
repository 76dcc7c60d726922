//! Registers command ingestion (`ZoneSystems::Ingest`) and violation kicks
//! (`LifecycleSystems::Kick`).

use bevy_ecs::prelude::*;

use super::rules::StallAmnesty;
use super::systems::{PlayerIndex, ingest_commands, kick_violators};
use crate::common::schedule::{LifecycleSystems, ZonePlugin, ZoneSystems};

pub struct PlayersPlugin;

impl ZonePlugin for PlayersPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world.init_resource::<PlayerIndex>();
        world.init_resource::<StallAmnesty>();
        schedule.add_systems((
            ingest_commands.in_set(ZoneSystems::Ingest),
            kick_violators.in_set(LifecycleSystems::Kick),
        ));
    }
}
