//! Registers the enemy state machine in `SimulateSystems::Enemies` and slain-enemy
//! removal and spawners in `LifecycleSystems::Spawn`, and adapts enemies to reloads.

use bevy_ecs::prelude::*;

use super::reload::retune_enemies;
use super::systems::{Spawners, remove_slain, run_enemies, run_spawners};
use super::{Enemy, EnemyState};
use crate::common::components::Replicated;
use crate::common::schedule::{LifecycleSystems, SimulateSystems, ZonePlugin};
use crate::common::state_hash::{Bits, RowSink, StateParts, v2};

pub struct EnemyAiPlugin;

impl ZonePlugin for EnemyAiPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world.init_resource::<Spawners>();
        StateParts::add(world, "enemies", enemy_rows);
        StateParts::add(world, "spawners", spawner_rows);
        world.add_observer(retune_enemies);
        schedule.add_systems((
            run_enemies.in_set(SimulateSystems::Enemies),
            (remove_slain, run_spawners)
                .chain()
                .in_set(LifecycleSystems::Spawn),
        ));
    }
}

/// Every enemy's state machine: state, target, timer, telegraph, wander goal.
fn enemy_rows(world: &mut World, sink: &mut dyn RowSink) {
    type Vec2Bits = (Bits, Bits);
    #[derive(Hash, serde::Serialize)]
    struct Row {
        def: u16,
        home: Vec2Bits,
        spawner: Option<u16>,
        state: EnemyState,
        target: Option<u64>,
        until_tick: u64,
        telegraph: Option<(Vec2Bits, Vec2Bits)>,
        wander_to: Option<Vec2Bits>,
    }
    let mut q = world.query::<(&Replicated, &Enemy)>();
    for (r, e) in q.iter(world) {
        let row = Row {
            def: e.def,
            home: v2(e.home),
            spawner: e.spawner,
            state: e.state,
            target: e.target.map(Entity::to_bits),
            until_tick: e.until_tick,
            telegraph: e.telegraph.map(|t| (v2(t.origin), v2(t.facing))),
            wander_to: e.wander_to.map(v2),
        };
        sink.row(u64::from(r.net_id.0), &row);
    }
}

/// Per spawner: enemies alive and the ticks the missing ones return at.
fn spawner_rows(world: &mut World, sink: &mut dyn RowSink) {
    for (i, s) in world.resource::<Spawners>().slots.iter().enumerate() {
        sink.row(i as u64, &(s.alive, &s.pending));
    }
}
