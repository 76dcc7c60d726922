//! Registers command ingestion (`Ingest`) and violation kicks (`Lifecycle`).

use bevy_ecs::prelude::*;

use super::systems::{PlayerIndex, ingest_commands, kick_violators};
use crate::ZonePlugin;
use crate::zone::ZoneSystems;

#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlayersSystems {
    Ingest,
    Kick,
}

pub struct PlayersPlugin;

impl ZonePlugin for PlayersPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world.init_resource::<PlayerIndex>();
        schedule.configure_sets((
            PlayersSystems::Ingest.in_set(ZoneSystems::Ingest),
            PlayersSystems::Kick.in_set(ZoneSystems::Lifecycle),
        ));
        schedule.add_systems((
            ingest_commands.in_set(PlayersSystems::Ingest),
            kick_violators.in_set(PlayersSystems::Kick),
        ));
    }
}
