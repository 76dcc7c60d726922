//! Registers mana regeneration, casts and projectiles in `SimulateSystems::Skills`
//! (after movement, so a cast sees this tick's position; before hits are applied),
//! the cast command, and what skills give a joining player.

use bevy_ecs::prelude::*;

use super::systems::{move_projectiles, regen_mana, run_casts};
use super::upkeep::{
    accept_cast, add_player_skills, refill_mana_on_respawn, restart_cast_stream,
    retune_player_skills,
};
use crate::common::commands::{CommandHandlers, CommandKind};
use crate::common::schedule::{SimulateSystems, ZonePlugin};

pub struct SkillsPlugin;

impl ZonePlugin for SkillsPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world
            .resource_mut::<CommandHandlers>()
            .on_player_command(CommandKind::Cast, accept_cast);
        world.add_observer(add_player_skills);
        world.add_observer(restart_cast_stream);
        world.add_observer(refill_mana_on_respawn);
        world.add_observer(retune_player_skills);
        schedule.add_systems(
            (regen_mana, run_casts, move_projectiles)
                .chain()
                .in_set(SimulateSystems::Skills),
        );
    }
}
