//! Registers snapshot encoding in `ZoneSystems::Replicate`, the ack command, and what
//! replication gives a joining client.

use bevy_ecs::prelude::*;

use super::systems::{
    SnapshotScratch, add_snapshot_link, encode_snapshots, restart_snapshot_link, take_ack,
};
use crate::common::commands::{CommandHandlers, CommandKind};
use crate::common::schedule::{ZonePlugin, ZoneSystems};

pub struct ReplicationPlugin;

impl ZonePlugin for ReplicationPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world.init_resource::<SnapshotScratch>();
        world
            .resource_mut::<CommandHandlers>()
            .on_player_command(CommandKind::Ack, take_ack);
        world.add_observer(add_snapshot_link);
        world.add_observer(restart_snapshot_link);
        schedule.add_systems(encode_snapshots.in_set(ZoneSystems::Replicate));
    }
}
