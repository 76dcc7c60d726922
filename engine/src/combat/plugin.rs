//! Registers hit application (end of `Simulate`), respawns and event delivery
//! (`Lifecycle`), the respawn command, and what combat gives a joining player.

use bevy_ecs::prelude::*;

use super::systems::Threat;
use super::systems::{
    EventBus, HitQueue, add_player_health, apply_hits, deliver_events, expire_invulnerability,
    request_respawn, respawn_players, retune_player_health,
};
use super::{Health, Invulnerable, Team};
use crate::common::commands::{CommandHandlers, CommandKind};
use crate::common::components::Replicated;
use crate::common::schedule::{LifecycleSystems, SimulateSystems, ZonePlugin};
use crate::common::state_hash::{RowSink, StateParts};

pub struct CombatPlugin;

impl ZonePlugin for CombatPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world.init_resource::<HitQueue>();
        world.init_resource::<EventBus>();
        world
            .resource_mut::<CommandHandlers>()
            .on_player_command(CommandKind::Respawn, request_respawn);
        StateParts::add(world, "health", health_rows);
        world.add_observer(add_player_health);
        world.add_observer(retune_player_health);
        schedule.add_systems((
            apply_hits.in_set(SimulateSystems::ResolveHits),
            (respawn_players, expire_invulnerability).in_set(LifecycleSystems::Respawn),
            deliver_events.in_set(LifecycleSystems::Events),
        ));
    }
}

/// HP, team, invulnerability and threat of everything that can be hurt.
fn health_rows(world: &mut World, sink: &mut dyn RowSink) {
    #[derive(Hash, serde::Serialize)]
    struct Row {
        hp: u32,
        max: u32,
        team: Option<u8>,
        invulnerable_until: Option<u64>,
        threat: Vec<(u64, u32)>,
    }
    let mut q = world.query::<(
        &Replicated,
        &Health,
        Option<&Team>,
        Option<&Invulnerable>,
        Option<&Threat>,
    )>();
    for (r, h, team, inv, threat) in q.iter(world) {
        let row = Row {
            hp: h.hp,
            max: h.max,
            team: team.map(|t| *t as u8),
            invulnerable_until: inv.map(|i| i.until_tick),
            threat: threat
                .map(|t| t.0.iter().map(|(e, n)| (e.to_bits(), *n)).collect())
                .unwrap_or_default(),
        };
        sink.row(u64::from(r.net_id.0), &row);
    }
}
