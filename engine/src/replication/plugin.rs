//! Registers snapshot encoding in `ZoneSystems::Replicate`.

use bevy_ecs::prelude::*;

use super::systems::encode_snapshots;
use crate::ZonePlugin;
use crate::zone::ZoneSystems;

#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplicationSystems;

pub struct ReplicationPlugin;

impl ZonePlugin for ReplicationPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world.init_resource::<super::systems::SnapshotScratch>();
        schedule.configure_sets(ReplicationSystems.in_set(ZoneSystems::Replicate));
        schedule.add_systems(encode_snapshots.in_set(ReplicationSystems));
    }
}
