//! Registers the chat command's handler. Chat has no components and no state: what
//! it reads (positions, views, players) belongs to other plugins.

use bevy_ecs::prelude::*;

use crate::common::commands::{CommandHandlers, CommandKind};
use crate::common::schedule::ZonePlugin;

pub struct ChatPlugin;

impl ZonePlugin for ChatPlugin {
    fn build(&self, world: &mut World, _schedule: &mut Schedule) {
        world
            .resource_mut::<CommandHandlers>()
            .on_player_command(CommandKind::Chat, super::systems::speak);
    }
}
