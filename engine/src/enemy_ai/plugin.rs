//! Registers the enemy state machine in `SimulateSystems::Enemies` and slain-enemy
//! removal and spawners in `LifecycleSystems::Spawn`, and adapts enemies to reloads.

use bevy_ecs::prelude::*;

use super::reload::retune_enemies;
use super::systems::{Spawners, remove_slain, run_enemies, run_spawners};
use crate::common::schedule::{LifecycleSystems, SimulateSystems, ZonePlugin};

pub struct EnemyAiPlugin;

impl ZonePlugin for EnemyAiPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world.init_resource::<Spawners>();
        world.add_observer(retune_enemies);
        schedule.add_systems((
            run_enemies.in_set(SimulateSystems::Enemies),
            (remove_slain, run_spawners)
                .chain()
                .in_set(LifecycleSystems::Spawn),
        ));
    }
}
