//! What happens when a system fails: bevy catches a panicking system (and a command
//! that fails, such as an insert on an entity another system despawned) and hands it
//! to the world's fallback error handler. The zone's handler logs it and counts it,
//! and the tick goes on without that system's work: one bad system costs a tick of
//! one concern, not the zone and everyone in it.

use std::cell::Cell;

use bevy_ecs::error::{BevyError, ErrorContext, FallbackErrorHandler};
use bevy_ecs::prelude::World;

thread_local! {
    /// Failures on this thread so far. A zone runs on one thread and reads the
    /// difference around each tick, so zones on other threads do not mix in.
    static FAULTS: Cell<u64> = const { Cell::new(0) };
}

/// Logs and counts a failed system or command; never panics.
fn zone_fault(error: BevyError, ctx: ErrorContext) {
    FAULTS.with(|f| f.set(f.get() + 1));
    tracing::error!(
        kind = ctx.kind(),
        name = %ctx.name(),
        "system failed; the tick goes on without it: {error}"
    );
}

/// Installs the zone's handler in `world`.
pub fn install(world: &mut World) {
    world.insert_resource(FallbackErrorHandler(zone_fault));
}

/// Failures on this thread so far.
pub fn count() -> u64 {
    FAULTS.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use bevy_ecs::prelude::*;

    #[derive(Resource, Default)]
    struct Ran(Vec<&'static str>);

    #[derive(Component)]
    struct Marker;

    fn panics(mut ran: ResMut<Ran>) {
        ran.0.push("panics");
        panic!("a bug in one system");
    }

    /// Two concerns acting on one entity in one tick: one removes it, the other then
    /// inserts into it (the flood kick and the exit freeze, once).
    fn despawns_then_inserts(mut commands: Commands, q: Query<Entity, With<Marker>>) {
        for e in &q {
            commands.entity(e).despawn();
            commands.entity(e).insert(Name::new("late"));
        }
    }

    fn runs_after(mut ran: ResMut<Ran>) {
        ran.0.push("after");
    }

    #[test]
    fn a_panicking_system_or_a_failing_command_is_counted_and_the_tick_goes_on() {
        let mut world = World::new();
        super::install(&mut world);
        world.init_resource::<Ran>();
        world.spawn(Marker);
        let mut schedule = Schedule::default();
        schedule.add_systems((panics, despawns_then_inserts, runs_after).chain());
        let before = super::count();
        schedule.run(&mut world);
        schedule.run(&mut world);
        assert_eq!(
            world.resource::<Ran>().0,
            ["panics", "after", "panics", "after"]
        );
        assert_eq!(
            super::count() - before,
            3,
            "two panics and one failed insert"
        );
    }
}
