//! Pure skill rules: may this cast happen, and what does an effect touch.

use arcane_protocol::CastRejectReason;
use bevy_ecs::prelude::Entity;
use glam::Vec2;

use crate::combat::Team;
use crate::content::{SkillDef, SkillEffect, SkillTarget, ZoneDef};

/// What the caster looks like to the validation.
#[derive(Debug, Clone, Copy)]
pub struct CasterView {
    pub pos: Vec2,
    pub mana: f32,
    pub dead: bool,
    pub casting: bool,
    pub ready_tick: u64,
    pub gcd_ready_tick: u64,
}

/// What the intent's target turned out to be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aim {
    Caster,
    Entity {
        entity: Entity,
        pos: Vec2,
        team: Team,
        alive: bool,
    },
    Point(Vec2),
    /// The named entity does not exist (or is not targetable at all).
    Unknown,
}

/// A validated target, kept by a cast in progress.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aimed {
    Caster,
    Entity(Entity),
    Point(Vec2),
}

/// Checks a cast intent in a fixed order (dead, busy, cooldowns, mana, target, range,
/// line of sight) and returns what it is aimed at.
pub fn check_cast(
    skill: &SkillDef,
    caster: &CasterView,
    aim: &Aim,
    tick: u64,
    zone: &ZoneDef,
) -> Result<Aimed, CastRejectReason> {
    use CastRejectReason as R;
    if caster.dead {
        return Err(R::Dead);
    }
    if caster.casting {
        return Err(R::AlreadyCasting);
    }
    if tick < caster.ready_tick {
        return Err(R::Cooldown);
    }
    if tick < caster.gcd_ready_tick {
        return Err(R::GlobalCooldown);
    }
    if caster.mana < skill.mana_cost {
        return Err(R::NotEnoughMana);
    }
    let (aimed, at) = match (skill.target, *aim) {
        (SkillTarget::Caster, _) => return Ok(Aimed::Caster),
        (SkillTarget::AllyOrSelf, Aim::Caster) => return Ok(Aimed::Caster),
        (
            SkillTarget::AllyOrSelf,
            Aim::Entity {
                entity,
                pos,
                team: Team::Players,
                alive: true,
            },
        ) => (Aimed::Entity(entity), pos),
        (
            SkillTarget::Enemy,
            Aim::Entity {
                entity,
                pos,
                team: Team::Enemies,
                alive: true,
            },
        ) => (Aimed::Entity(entity), pos),
        // A projectile may also be fired at a point on the ground.
        (SkillTarget::Enemy, Aim::Point(p))
            if matches!(skill.effect, SkillEffect::Projectile { .. }) =>
        {
            (Aimed::Point(p), p)
        }
        _ => return Err(R::InvalidTarget),
    };
    if caster.pos.distance(at) > skill.range {
        return Err(R::OutOfRange);
    }
    if !zone.line_of_sight(caster.pos, at) {
        return Err(R::NoLineOfSight);
    }
    Ok(aimed)
}

/// Where along the segment `from`→`to` (as a fraction) it first comes within `radius`
/// of `p`, if it does.
pub fn segment_hit(from: Vec2, to: Vec2, p: Vec2, radius: f32) -> Option<f32> {
    let d = to - from;
    let f = from - p;
    let a = d.length_squared();
    let c = f.length_squared() - radius * radius;
    if c <= 0.0 {
        return Some(0.0);
    }
    if a == 0.0 {
        return None;
    }
    let b = 2.0 * f.dot(d);
    let disc = b * b - 4.0 * a * c;
    if disc < 0.0 {
        return None;
    }
    let t = (-b - disc.sqrt()) / (2.0 * a);
    (0.0..=1.0).contains(&t).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::ContentSources;

    fn zone() -> ZoneDef {
        ContentSources::shipped().zone("test_area").unwrap().zone
    }

    fn skill(id: &str) -> SkillDef {
        let c = ContentSources::shipped().zone("test_area").unwrap();
        c.skills.into_iter().find(|s| s.id == id).unwrap()
    }

    fn ready(pos: Vec2) -> CasterView {
        CasterView {
            pos,
            mana: 100.0,
            dead: false,
            casting: false,
            ready_tick: 0,
            gcd_ready_tick: 0,
        }
    }

    fn enemy_at(pos: Vec2) -> Aim {
        Aim::Entity {
            entity: Entity::PLACEHOLDER,
            pos,
            team: Team::Enemies,
            alive: true,
        }
    }

    #[test]
    fn every_rejection_reason_in_order() {
        use CastRejectReason as R;
        let (z, mm) = (zone(), skill("magic_missile"));
        let me = Vec2::new(20.0, 50.0);
        let target = enemy_at(Vec2::new(30.0, 50.0));
        let cases: [(CasterView, Aim, R); 8] = [
            (
                CasterView {
                    dead: true,
                    ..ready(me)
                },
                target,
                R::Dead,
            ),
            (
                CasterView {
                    casting: true,
                    ..ready(me)
                },
                target,
                R::AlreadyCasting,
            ),
            (
                CasterView {
                    ready_tick: 11,
                    ..ready(me)
                },
                target,
                R::Cooldown,
            ),
            (
                CasterView {
                    gcd_ready_tick: 11,
                    ..ready(me)
                },
                target,
                R::GlobalCooldown,
            ),
            (
                CasterView {
                    mana: 1.0,
                    ..ready(me)
                },
                target,
                R::NotEnoughMana,
            ),
            (ready(me), enemy_at(Vec2::new(90.0, 50.0)), R::OutOfRange),
            // The box at x 48..52, y 30..45 stands between these two.
            (
                ready(Vec2::new(40.0, 37.0)),
                enemy_at(Vec2::new(60.0, 37.0)),
                R::NoLineOfSight,
            ),
            (ready(me), Aim::Caster, R::InvalidTarget),
        ];
        for (caster, aim, want) in cases {
            assert_eq!(
                check_cast(&mm, &caster, &aim, 10, &z),
                Err(want),
                "{caster:?} {aim:?}"
            );
        }
        assert_eq!(
            check_cast(&mm, &ready(me), &target, 10, &z),
            Ok(Aimed::Entity(Entity::PLACEHOLDER))
        );
    }

    #[test]
    fn heal_targets_self_or_living_allies_only() {
        let (z, heal) = (zone(), skill("heal"));
        let me = ready(Vec2::new(20.0, 50.0));
        assert_eq!(
            check_cast(&heal, &me, &Aim::Caster, 0, &z),
            Ok(Aimed::Caster)
        );
        let ally = |alive| Aim::Entity {
            entity: Entity::PLACEHOLDER,
            pos: Vec2::new(25.0, 50.0),
            team: Team::Players,
            alive,
        };
        assert!(check_cast(&heal, &me, &ally(true), 0, &z).is_ok());
        assert_eq!(
            check_cast(&heal, &me, &ally(false), 0, &z),
            Err(CastRejectReason::InvalidTarget)
        );
        assert_eq!(
            check_cast(&heal, &me, &enemy_at(Vec2::new(25.0, 50.0)), 0, &z),
            Err(CastRejectReason::InvalidTarget)
        );
    }

    #[test]
    fn segment_hit_finds_the_first_touch() {
        let t = segment_hit(Vec2::ZERO, Vec2::new(10.0, 0.0), Vec2::new(5.0, 0.5), 1.0).unwrap();
        assert!((t - 0.4134).abs() < 1e-3, "{t}");
        assert_eq!(
            segment_hit(Vec2::ZERO, Vec2::new(10.0, 0.0), Vec2::new(5.0, 2.0), 1.0),
            None
        );
        assert_eq!(
            segment_hit(Vec2::ZERO, Vec2::new(1.0, 0.0), Vec2::new(5.0, 0.0), 1.0),
            None
        );
        assert_eq!(
            segment_hit(Vec2::ZERO, Vec2::new(1.0, 0.0), Vec2::ZERO, 1.0),
            Some(0.0)
        );
    }
}
