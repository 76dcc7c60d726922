//! Registers exits and checkpoints in `LifecycleSystems::Exits`, the drain and
//! transfer-outcome commands, and what persistence does when players come and go.

use bevy_ecs::prelude::*;

use super::systems::{
    add_player_inventory, checkpoint, evacuate, save_leaving_player, take_exits, transfer_failed,
};
use crate::common::commands::{CommandHandlers, CommandKind};
use crate::common::schedule::{LifecycleSystems, ZonePlugin};

pub struct PersistPlugin;

impl ZonePlugin for PersistPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        let mut handlers = world.resource_mut::<CommandHandlers>();
        handlers.on_zone_command(CommandKind::Evacuate, evacuate);
        handlers.on_player_command(CommandKind::TransferFailed, transfer_failed);
        world.add_observer(add_player_inventory);
        world.add_observer(save_leaving_player);
        schedule.add_systems(
            (take_exits, checkpoint)
                .chain()
                .in_set(LifecycleSystems::Exits),
        );
    }
}
