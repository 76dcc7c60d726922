//! NPC spawning and the wander system.

use arcane_protocol::EntityKind;
use bevy_ecs::prelude::*;
use glam::Vec2;

use crate::common::components::{MoveSpeed, NetIdAllocator, Position, Replicated};
use crate::common::geometry::next_position;
use crate::common::state::{ZoneClock, ZoneSettings};
use crate::rng::{ZoneRng, ZoneStream};

/// The current leg of an NPC's random walk.
#[derive(Component, Debug, Clone)]
pub struct Wander {
    pub dir: Vec2,
    pub ticks_left: u32,
    /// Index of the content `NpcGroup` this NPC belongs to.
    pub group: u16,
}

fn random_point(bounds: crate::content::Bounds, rng: &mut ZoneStream) -> Vec2 {
    Vec2::new(
        rng.range(bounds.min.x, bounds.max.x),
        rng.range(bounds.min.y, bounds.max.y),
    )
}

/// Spawns every content NPC group at random walkable points.
pub fn spawn_npcs(world: &mut World) {
    let zone = world.resource::<ZoneSettings>().0.zone.clone();
    for (gi, group) in zone.npcs.iter().enumerate() {
        for _ in 0..group.count {
            let pos = {
                let rng = &mut world.resource_mut::<ZoneRng>().npc;
                let mut p = random_point(zone.bounds, rng);
                for _ in 0..16 {
                    if zone.is_walkable(p) {
                        break;
                    }
                    p = random_point(zone.bounds, rng);
                }
                p
            };
            let net_id = world.resource_mut::<NetIdAllocator>().allocate();
            world.spawn((
                Replicated {
                    net_id,
                    kind: EntityKind::Npc,
                    variant: 0,
                },
                Position(pos),
                MoveSpeed(group.speed),
                Wander {
                    dir: Vec2::ZERO,
                    ticks_left: 0,
                    group: gi as u16,
                },
            ));
        }
    }
}

pub fn wander_npcs(
    mut npcs: Query<(&mut Position, &MoveSpeed, &mut Wander)>,
    mut rng: ResMut<ZoneRng>,
    settings: Res<ZoneSettings>,
    clock: Res<ZoneClock>,
) {
    let zone = &settings.0.zone;
    let rng = &mut rng.npc;
    for (mut pos, speed, mut w) in &mut npcs {
        if w.ticks_left == 0 {
            let Some(group) = zone.npcs.get(usize::from(w.group)) else {
                continue;
            };
            let span = group.max_leg_ticks.saturating_sub(group.min_leg_ticks) + 1;
            w.ticks_left = group.min_leg_ticks + rng.below(span);
            w.dir = if rng.unit() < group.idle_chance {
                Vec2::ZERO
            } else {
                Vec2::from_angle(rng.range(0.0, std::f32::consts::TAU))
            };
        }
        w.ticks_left -= 1;
        if w.dir != Vec2::ZERO {
            let next = next_position(zone, pos.0, w.dir, speed.0 * clock.dt);
            if next == pos.0 {
                // Blocked: pick a new leg next tick instead of pushing into the wall.
                w.ticks_left = 0;
            } else {
                pos.0 = next;
            }
        }
    }
}
