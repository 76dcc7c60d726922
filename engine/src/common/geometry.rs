//! Walking in a zone as pure functions over its content: the next position with
//! sliding collision, a random walkable point, a spawn point. Everything that moves
//! (players, enemies, wildlife, knockback) uses these.

use glam::Vec2;

use crate::content::ZoneDef;
use crate::rng::ZoneStream;

/// A walkable point within `spawn_radius` of a random spawn point.
pub fn pick_spawn(zone: &ZoneDef, rng: &mut ZoneStream) -> Vec2 {
    let n = zone.spawn_points.len() as u32;
    let base = zone.spawn_points[rng.below(n) as usize];
    walkable_point_near(zone, base, zone.spawn_radius, rng)
}

/// A uniformly random walkable point within `radius` of `center` (16 tries, then
/// `center` itself). Used for player spawns, enemy spawns and wandering.
pub fn walkable_point_near(
    zone: &ZoneDef,
    center: Vec2,
    radius: f32,
    rng: &mut ZoneStream,
) -> Vec2 {
    for _ in 0..16 {
        let angle = rng.range(0.0, std::f32::consts::TAU);
        let r = radius * rng.unit().sqrt();
        let p = center + Vec2::from_angle(angle) * r;
        if zone.is_walkable(p) {
            return p;
        }
    }
    center
}

/// Moves from `from` by `dir * step` metres, sliding along walls: if the full move is
/// blocked by the bounds or an obstacle, each axis is tried alone; if both are blocked
/// the entity stays put.
#[inline]
pub fn next_position(zone: &ZoneDef, from: Vec2, dir: Vec2, step: f32) -> Vec2 {
    let delta = dir * step;
    if delta == Vec2::ZERO {
        return from;
    }
    let full = from + delta;
    if zone.is_walkable(full) {
        return full;
    }
    let x_only = Vec2::new(from.x + delta.x, from.y);
    if delta.x != 0.0 && zone.is_walkable(x_only) {
        return x_only;
    }
    let y_only = Vec2::new(from.x, from.y + delta.y);
    if delta.y != 0.0 && zone.is_walkable(y_only) {
        return y_only;
    }
    from
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{Bounds, Obstacle};

    fn zone() -> ZoneDef {
        ZoneDef {
            id: "t".into(),
            bounds: Bounds {
                min: Vec2::ZERO,
                max: Vec2::splat(100.0),
            },
            player_speed: 5.0,
            max_players: 10,
            spawn_points: vec![Vec2::splat(10.0)],
            spawn_radius: 0.0,
            player_class: "mage".into(),
            respawn_points: Vec::new(),
            spawners: Vec::new(),
            exits: Vec::new(),
            instance: None,
            overflow_at: None,
            wild: None,
            obstacles: vec![
                Obstacle::Box {
                    min: Vec2::new(50.0, 0.0),
                    max: Vec2::new(60.0, 100.0),
                },
                Obstacle::Circle {
                    center: Vec2::new(20.0, 80.0),
                    radius: 5.0,
                },
            ],
            npcs: vec![],
        }
    }

    #[test]
    fn movement_is_blocked_by_bounds_and_obstacles_and_slides() {
        let z = zone();
        // free move
        assert_eq!(
            next_position(&z, Vec2::new(10.0, 10.0), Vec2::X, 1.0),
            Vec2::new(11.0, 10.0)
        );
        // bounds block x, slide along y
        let p = next_position(
            &z,
            Vec2::new(99.9, 10.0),
            Vec2::new(1.0, 1.0).normalize(),
            1.0,
        );
        assert!(p.x == 99.9 && p.y > 10.0);
        // the wall blocks
        assert_eq!(
            next_position(&z, Vec2::new(49.9, 10.0), Vec2::X, 1.0),
            Vec2::new(49.9, 10.0)
        );
        // the circle blocks
        assert_eq!(
            next_position(&z, Vec2::new(20.0, 74.5), Vec2::Y, 1.0),
            Vec2::new(20.0, 74.5)
        );
        // cannot leave through the bottom edge
        assert_eq!(
            next_position(&z, Vec2::new(10.0, 0.2), -Vec2::Y, 1.0),
            Vec2::new(10.0, 0.2)
        );
    }
}
