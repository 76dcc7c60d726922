//! Registers hit application (end of `Simulate`), respawns and event delivery
//! (`Lifecycle`), the respawn command, and what combat gives a joining player.

use bevy_ecs::prelude::*;

use super::systems::{
    EventBus, HitQueue, add_player_health, apply_hits, deliver_events, expire_invulnerability,
    request_respawn, respawn_players, retune_player_health,
};
use crate::common::commands::{CommandHandlers, CommandKind};
use crate::common::schedule::{LifecycleSystems, SimulateSystems, ZonePlugin};

pub struct CombatPlugin;

impl ZonePlugin for CombatPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world.init_resource::<HitQueue>();
        world.init_resource::<EventBus>();
        world
            .resource_mut::<CommandHandlers>()
            .on_player_command(CommandKind::Respawn, request_respawn);
        world.add_observer(add_player_health);
        world.add_observer(retune_player_health);
        schedule.add_systems((
            apply_hits.in_set(SimulateSystems::ResolveHits),
            (respawn_players, expire_invulnerability).in_set(LifecycleSystems::Respawn),
            deliver_events.in_set(LifecycleSystems::Events),
        ));
    }
}
