//! Test-area and game-master commands (spawn, reset, set HP, teleport,
//! invulnerability). Only players whose ticket carries the admin role may use them;
//! anyone else is refused and counted. Each command answers its sender with an
//! `AdminResult` event. Not to be confused with the zone server's ops port.

mod commands;

use bevy_ecs::prelude::*;

use crate::common::commands::{CommandHandlers, CommandKind};
use crate::common::schedule::ZonePlugin;

pub struct AdminPlugin;

impl ZonePlugin for AdminPlugin {
    fn build(&self, world: &mut World, _schedule: &mut Schedule) {
        world
            .resource_mut::<CommandHandlers>()
            .on_player_command(CommandKind::Admin, commands::handle);
    }
}
