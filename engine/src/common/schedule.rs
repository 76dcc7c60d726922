//! The fixed order of a zone tick, and how a plugin adds itself to it.
//!
//! Plugins put their systems in these phases, never "after plugin X": a plugin that
//! knows another's sets depends on it, and the order of a tick is written here once.

use bevy_ecs::prelude::{IntoScheduleConfigs, Schedule, SystemSet, World};
use bevy_ecs::schedule::ScheduleLabel;

/// The phases of a zone tick, in order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZoneSystems {
    /// Apply the host's commands: joins, leaves, inputs, casts, acks.
    Ingest,
    /// Gameplay (see [`SimulateSystems`]).
    Simulate,
    /// Deaths, spawns, exits, kicks and events (see [`LifecycleSystems`]).
    Lifecycle,
    /// This tick's frame of replicated entities and each client's view.
    Interest,
    /// Per-client delta snapshot encoding.
    Replicate,
}

/// The order inside [`ZoneSystems::Simulate`].
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimulateSystems {
    /// Everything that walks: players' inputs, then wandering.
    Move,
    /// Casts and projectiles (they see this tick's positions).
    Skills,
    /// Enemy state machines.
    Enemies,
    /// Creatures' behaviour and breeding.
    Creatures,
    /// Queued hits land, all in one place.
    ResolveHits,
}

/// The order inside [`ZoneSystems::Lifecycle`].
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleSystems {
    /// Respawns and expiring invulnerability.
    Respawn,
    /// Slain enemies leave, spawners refill.
    Spawn,
    /// Players in an exit are frozen and handed over; checkpoints.
    Exits,
    /// Violators are saved and removed (after exits: a frozen player's removal keeps
    /// its handoff the only state, and nothing later touches a removed entity).
    Kick,
    /// This tick's events go to the players near them (last: everything above raises
    /// events).
    Events,
}

/// The schedule a zone runs once per tick.
#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
pub struct ZoneTickSchedule;

/// Orders the phases in `schedule`.
pub fn configure_phases(schedule: &mut Schedule) {
    schedule.configure_sets(
        (
            ZoneSystems::Ingest,
            ZoneSystems::Simulate,
            ZoneSystems::Lifecycle,
            ZoneSystems::Interest,
            ZoneSystems::Replicate,
        )
            .chain(),
    );
    schedule.configure_sets(
        (
            SimulateSystems::Move,
            SimulateSystems::Skills,
            SimulateSystems::Enemies,
            SimulateSystems::Creatures,
            SimulateSystems::ResolveHits,
        )
            .chain()
            .in_set(ZoneSystems::Simulate),
    );
    schedule.configure_sets(
        (
            LifecycleSystems::Respawn,
            LifecycleSystems::Spawn,
            LifecycleSystems::Exits,
            LifecycleSystems::Kick,
            LifecycleSystems::Events,
        )
            .chain()
            .in_set(ZoneSystems::Lifecycle),
    );
}

/// A gameplay concern: it registers its resources, its systems (in the phases above),
/// its command handlers and its observers, and the components it adds to a joining
/// player.
///
/// bevy's `Plugin` lives in `bevy_app`, which would bring an event loop and a task pool
/// we do not want on the tick thread; this is the same idea over a bare `Schedule`.
pub trait ZonePlugin {
    fn build(&self, world: &mut World, schedule: &mut Schedule);
}
