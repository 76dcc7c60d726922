//! Registers mana regeneration, casts and projectiles in `Simulate`, after movement
//! (so a cast sees this tick's position) and before hits are applied.

use bevy_ecs::prelude::*;

use super::systems::{move_projectiles, regen_mana, run_casts};
use crate::ZonePlugin;
use crate::combat::CombatSystems;
use crate::movement::MovementSystems;
use crate::zone::ZoneSystems;

#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SkillsSystems;

pub struct SkillsPlugin;

impl ZonePlugin for SkillsPlugin {
    fn build(&self, _world: &mut World, schedule: &mut Schedule) {
        schedule.configure_sets(
            SkillsSystems
                .in_set(ZoneSystems::Simulate)
                .after(MovementSystems)
                .before(CombatSystems::ApplyHits),
        );
        schedule.add_systems(
            (regen_mana, run_casts, move_projectiles)
                .chain()
                .in_set(SkillsSystems),
        );
    }
}
