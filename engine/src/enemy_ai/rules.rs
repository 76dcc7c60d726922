//! Pure enemy rules: telegraph shapes and target choice.

use bevy_ecs::prelude::Entity;
use glam::Vec2;

use crate::content::{TargetRule, TelegraphShape};

/// True when `p` is inside the telegraph `shape` placed at `origin` facing `facing`
/// (a unit vector).
pub fn telegraph_contains(shape: TelegraphShape, origin: Vec2, facing: Vec2, p: Vec2) -> bool {
    let d = p - origin;
    match shape {
        TelegraphShape::Circle { radius } => d.length_squared() <= radius * radius,
        TelegraphShape::Cone { length, angle_deg } => {
            let dist = d.length();
            if dist > length {
                return false;
            }
            if dist < 1e-4 {
                return true;
            }
            let half = (angle_deg * 0.5).to_radians();
            d.dot(facing) / dist >= half.cos()
        }
        TelegraphShape::Line { length, width } => {
            let along = d.dot(facing);
            let across = d.perp_dot(facing).abs();
            (0.0..=length).contains(&along) && across <= width * 0.5
        }
    }
}

/// How far from its origin a telegraph reaches (for the candidate search).
pub fn telegraph_reach(shape: TelegraphShape) -> f32 {
    match shape {
        TelegraphShape::Circle { radius } => radius,
        TelegraphShape::Cone { length, .. } => length,
        TelegraphShape::Line { length, width } => length.hypot(width * 0.5),
    }
}

/// One eligible player as an enemy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    pub entity: Entity,
    pub distance: f32,
    /// Damage this player dealt the enemy.
    pub threat: u32,
}

/// The documented target rule: `Nearest` takes the closest candidate; `Threat` takes
/// the one who dealt the most damage, the closest among equals (so the closest when
/// nobody has hurt it yet). Ties in distance go to the lower entity for determinism.
pub fn choose_target(rule: TargetRule, candidates: &[Candidate]) -> Option<Entity> {
    let nearest_first = |a: &Candidate, b: &Candidate| {
        a.distance
            .total_cmp(&b.distance)
            .then_with(|| a.entity.cmp(&b.entity))
    };
    match rule {
        TargetRule::Nearest => candidates.iter().min_by(|a, b| nearest_first(a, b)),
        TargetRule::Threat => candidates
            .iter()
            .min_by(|a, b| b.threat.cmp(&a.threat).then_with(|| nearest_first(a, b))),
    }
    .map(|c| c.entity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_contain_what_they_should() {
        let o = Vec2::ZERO;
        let east = Vec2::X;
        let circle = TelegraphShape::Circle { radius: 2.0 };
        assert!(telegraph_contains(circle, o, east, Vec2::new(0.0, 1.9)));
        assert!(!telegraph_contains(circle, o, east, Vec2::new(0.0, 2.1)));

        let cone = TelegraphShape::Cone {
            length: 4.0,
            angle_deg: 90.0,
        };
        assert!(telegraph_contains(cone, o, east, Vec2::new(3.0, 0.0)));
        assert!(telegraph_contains(cone, o, east, Vec2::new(2.0, 1.9)));
        assert!(
            !telegraph_contains(cone, o, east, Vec2::new(1.0, 2.0)),
            "outside 45° half-angle"
        );
        assert!(
            !telegraph_contains(cone, o, east, Vec2::new(-1.0, 0.0)),
            "behind"
        );
        assert!(
            !telegraph_contains(cone, o, east, Vec2::new(4.1, 0.0)),
            "too far"
        );

        let line = TelegraphShape::Line {
            length: 10.0,
            width: 2.0,
        };
        assert!(telegraph_contains(line, o, east, Vec2::new(9.0, 0.9)));
        assert!(!telegraph_contains(line, o, east, Vec2::new(9.0, 1.1)));
        assert!(!telegraph_contains(line, o, east, Vec2::new(-0.5, 0.0)));
        assert!(
            telegraph_contains(line, o, Vec2::Y, Vec2::new(0.5, 9.0)),
            "facing north"
        );
    }

    #[test]
    fn target_rules() {
        let e = |i: u32| Entity::from_raw_u32(i).unwrap();
        let c = [
            Candidate {
                entity: e(1),
                distance: 5.0,
                threat: 0,
            },
            Candidate {
                entity: e(2),
                distance: 2.0,
                threat: 0,
            },
            Candidate {
                entity: e(3),
                distance: 8.0,
                threat: 50,
            },
        ];
        assert_eq!(choose_target(TargetRule::Nearest, &c), Some(e(2)));
        assert_eq!(choose_target(TargetRule::Threat, &c), Some(e(3)));
        assert_eq!(choose_target(TargetRule::Threat, &c[..2]), Some(e(2)));
        assert_eq!(choose_target(TargetRule::Nearest, &[]), None);
    }
}
