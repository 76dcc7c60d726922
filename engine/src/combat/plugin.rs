//! Registers hit application (end of `Simulate`) and deaths, respawns and event
//! delivery (`Lifecycle`).

use bevy_ecs::prelude::*;

use super::systems::{
    EventBus, HitQueue, apply_hits, deliver_events, expire_invulnerability, respawn_players,
};
use crate::ZonePlugin;
use crate::zone::ZoneSystems;

#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CombatSystems {
    /// After every system that queues hits.
    ApplyHits,
    Respawn,
    /// Last in `Lifecycle`, after everything that raises events.
    DeliverEvents,
}

pub struct CombatPlugin;

impl ZonePlugin for CombatPlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world.init_resource::<HitQueue>();
        world.init_resource::<EventBus>();
        schedule.configure_sets((
            CombatSystems::ApplyHits.in_set(ZoneSystems::Simulate),
            CombatSystems::Respawn.in_set(ZoneSystems::Lifecycle),
            CombatSystems::DeliverEvents
                .in_set(ZoneSystems::Lifecycle)
                .after(CombatSystems::Respawn),
        ));
        schedule.add_systems((
            apply_hits.in_set(CombatSystems::ApplyHits),
            (respawn_players, expire_invulnerability).in_set(CombatSystems::Respawn),
            deliver_events.in_set(CombatSystems::DeliverEvents),
        ));
    }
}
