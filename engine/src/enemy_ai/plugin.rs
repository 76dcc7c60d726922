//! Registers the enemy state machine in `Simulate` (after movement, before hits are
//! applied) and slain-enemy removal and spawners in `Lifecycle`.

use bevy_ecs::prelude::*;

use super::systems::{Spawners, remove_slain, run_enemies, run_spawners};
use crate::ZonePlugin;
use crate::combat::CombatSystems;
use crate::movement::MovementSystems;
use crate::zone::ZoneSystems;

#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnemyAiSystems {
    Think,
    Spawn,
}

pub struct EnemyAiPlugin;

impl ZonePlugin for EnemyAiPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world.init_resource::<Spawners>();
        schedule.configure_sets((
            EnemyAiSystems::Think
                .in_set(ZoneSystems::Simulate)
                .after(MovementSystems)
                .before(CombatSystems::ApplyHits),
            EnemyAiSystems::Spawn
                .in_set(ZoneSystems::Lifecycle)
                .before(CombatSystems::DeliverEvents),
        ));
        schedule.add_systems((
            run_enemies.in_set(EnemyAiSystems::Think),
            (remove_slain, run_spawners)
                .chain()
                .in_set(EnemyAiSystems::Spawn),
        ));
    }
}
