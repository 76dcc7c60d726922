//! Components several plugins read: what is replicated and where it is, who is a
//! player, who is dead or frozen. A plugin's own components live in its folder.

use arcane_protocol::ticket::Role;
use arcane_protocol::{ClientTier, EntityKind, NetId};
use bevy_ecs::lifecycle::HookContext;
use bevy_ecs::prelude::{Component, Resource};
use bevy_ecs::world::DeferredWorld;
use glam::Vec2;
use rustc_hash::FxHashSet;

use super::io::PlayerId;

/// Marks an entity that is replicated to clients, with its zone-wide id. Immutable:
/// its hooks tell the [`NetIdAllocator`] which ids are live, and an edit in place
/// would slip past them (replace the component instead).
#[derive(Component, Debug, Clone, Copy)]
#[component(immutable, on_insert = net_id_taken, on_discard = net_id_released)]
pub struct Replicated {
    pub net_id: NetId,
    pub kind: EntityKind,
    /// Sub-type shown to clients (`EntityState::variant`).
    pub variant: u16,
}

/// World position in metres.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct Position(pub Vec2);

/// Movement speed in metres per second.
#[derive(Component, Debug, Clone, Copy)]
pub struct MoveSpeed(pub f32);

/// A connected player (the players plugin spawns it; every concern adds its own
/// components when it sees [`PlayerJoined`](super::events::PlayerJoined)).
#[derive(Component, Debug, Clone, Copy)]
pub struct Player {
    pub id: PlayerId,
    pub tier: ClientTier,
    pub role: Role,
}

/// A dead player (enemies are despawned instead). Movement and casts are refused.
#[derive(Component, Debug, Clone, Copy)]
pub struct Dead {
    /// From this tick a respawn request is honoured.
    pub respawn_tick: u64,
}

/// The player walked into an exit (or its zone drains) and is being handed over: its
/// input, casts and admin commands are ignored, checkpoints skip it and its leave
/// saves nothing: the handoff record carries its state (see `persist` for the one
/// exception, when the zone's process stops).
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transferring;

/// Hands out zone-wide replicated ids from a counter. Ids are 32-bit and a busy zone
/// issues thousands a second (every projectile takes one), so the counter can wrap
/// within a month of uptime; it then skips every id still on a live entity, so no two
/// live entities ever share one (a skill aimed at one must not hit the other). An id
/// is reissued only after its entity is gone and four billion others were issued.
#[derive(Resource, Debug)]
pub struct NetIdAllocator {
    next: u32,
    /// Ids on live entities, kept by `Replicated`'s hooks.
    live: FxHashSet<u32>,
}

impl Default for NetIdAllocator {
    fn default() -> Self {
        NetIdAllocator {
            next: 1,
            live: FxHashSet::default(),
        }
    }
}

impl NetIdAllocator {
    /// The next free id (0 is never issued: it means "the sender" in admin commands).
    /// Terminates: the live set is far smaller than the id space.
    pub fn allocate(&mut self) -> NetId {
        loop {
            let id = self.next;
            self.next = self.next.wrapping_add(1).max(1);
            if !self.live.contains(&id) {
                return NetId(id);
            }
        }
    }

    /// The next id to try (for the state hash).
    pub fn next(&self) -> u32 {
        self.next
    }

    /// Ids on live entities.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// Moves the counter, for tests of what happens when it wraps.
    #[cfg(test)]
    fn set_next(&mut self, next: u32) {
        self.next = next.max(1);
    }
}

fn net_id_taken(mut world: DeferredWorld, ctx: HookContext) {
    let Some(&Replicated { net_id, .. }) = world.get::<Replicated>(ctx.entity) else {
        return;
    };
    if let Some(mut ids) = world.get_resource_mut::<NetIdAllocator>() {
        ids.live.insert(net_id.0);
    }
}

fn net_id_released(mut world: DeferredWorld, ctx: HookContext) {
    let Some(&Replicated { net_id, .. }) = world.get::<Replicated>(ctx.entity) else {
        return;
    };
    if let Some(mut ids) = world.get_resource_mut::<NetIdAllocator>() {
        ids.live.remove(&net_id.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy_ecs::world::World;

    fn spawn(world: &mut World) -> (bevy_ecs::entity::Entity, u32) {
        let net_id = world.resource_mut::<NetIdAllocator>().allocate();
        let e = world
            .spawn(Replicated {
                net_id,
                kind: EntityKind::Npc,
                variant: 0,
            })
            .id();
        (e, net_id.0)
    }

    #[test]
    fn after_the_counter_wraps_live_ids_are_skipped_and_freed_ones_reused() {
        let mut world = World::new();
        world.init_resource::<NetIdAllocator>();
        // Ids 1..=4 live from the zone's start; 2 dies.
        let first: Vec<_> = (0..4).map(|_| spawn(&mut world)).collect();
        assert_eq!(first.iter().map(|f| f.1).collect::<Vec<_>>(), [1, 2, 3, 4]);
        world.despawn(first[1].0);
        assert_eq!(world.resource::<NetIdAllocator>().live(), 3);

        // Four billion ids later the counter wraps past 0 (never issued) to the
        // start: 1, 3 and 4 are still live, 2 is free.
        world
            .resource_mut::<NetIdAllocator>()
            .set_next(u32::MAX - 1);
        let ids: Vec<u32> = (0..5).map(|_| spawn(&mut world).1).collect();
        assert_eq!(ids, [u32::MAX - 1, u32::MAX, 2, 5, 6]);
        assert_eq!(world.resource::<NetIdAllocator>().live(), 8);
    }

    #[test]
    fn a_replaced_component_moves_its_id() {
        let mut world = World::new();
        world.init_resource::<NetIdAllocator>();
        let (e, id) = spawn(&mut world);
        let other = world.resource_mut::<NetIdAllocator>().allocate();
        world.entity_mut(e).insert(Replicated {
            net_id: other,
            kind: EntityKind::Npc,
            variant: 1,
        });
        let ids = world.resource::<NetIdAllocator>();
        assert_eq!(ids.live(), 1);
        assert!(!ids.live.contains(&id) && ids.live.contains(&other.0));
        world.entity_mut(e).remove::<Replicated>();
        assert_eq!(world.resource::<NetIdAllocator>().live(), 0);
    }
}
