//! Components shared by several plugins. Plugin-private components live in their plugin.

use arcane_protocol::{EntityKind, NetId};
use bevy_ecs::prelude::{Component, Resource};
use glam::Vec2;

/// Marks an entity that is replicated to clients, with its zone-wide id.
#[derive(Component, Debug, Clone, Copy)]
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

/// Hands out zone-wide replicated ids; never reuses one within a zone's life.
#[derive(Resource, Debug)]
pub struct NetIdAllocator {
    next: u32,
}

impl Default for NetIdAllocator {
    fn default() -> Self {
        NetIdAllocator { next: 1 }
    }
}

impl NetIdAllocator {
    pub fn allocate(&mut self) -> NetId {
        let id = NetId(self.next);
        self.next = self.next.wrapping_add(1).max(1);
        id
    }
}
