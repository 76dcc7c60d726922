//! Skill systems: mana regeneration, cast intents (validate, start, interrupt,
//! complete) and projectile flight.

use arcane_protocol::quant::cm_to_metres;
use arcane_protocol::{CastRejectReason, CastTarget, EntityKind, EventKind, NetId};
use bevy_ecs::prelude::*;
use glam::Vec2;

use super::rules::{Aim, Aimed, CasterView, check_cast, segment_hit};
use super::{ActiveCast, Caster, Mana, Projectile};
use crate::combat::{EventBus, Health, Hit, HitQueue, Team};
use crate::common::components::{Dead, NetIdAllocator, Player, Position, Replicated};
use crate::common::spatial::{FRAME_SLACK_M, SpatialIndex};
use crate::common::state::{ZoneClock, ZoneCounters, ZoneSettings};
use crate::content::{SkillDef, SkillEffect, ZoneContent};

pub fn regen_mana(mut q: Query<&mut Mana, Without<Dead>>) {
    for mut m in &mut q {
        if m.current < m.max {
            m.current = (m.current + m.regen_per_tick).min(m.max);
        }
    }
}

/// Read-only view of every potential target.
type Targets<'w, 's> =
    Query<'w, 's, (&'static Position, &'static Team, &'static Health, Has<Dead>)>;

fn aim_of(target: CastTarget, index: &SpatialIndex, targets: &Targets<'_, '_>) -> Aim {
    match target {
        CastTarget::Caster => Aim::Caster,
        CastTarget::Point { x_cm, y_cm } => {
            Aim::Point(Vec2::new(cm_to_metres(x_cm), cm_to_metres(y_cm)))
        }
        CastTarget::Entity(net) => {
            let Some(entity) = index.entity(net) else {
                return Aim::Unknown;
            };
            match targets.get(entity) {
                Ok((pos, team, health, dead)) => Aim::Entity {
                    entity,
                    pos: pos.0,
                    team: *team,
                    alive: health.hp > 0 && !dead,
                },
                Err(_) => Aim::Unknown,
            }
        }
    }
}

/// Everything resolving an effect needs besides the caster.
struct Effects<'a, 'w, 's> {
    commands: Commands<'w, 's>,
    index: &'a SpatialIndex,
    targets: &'a Targets<'w, 's>,
    hits: &'a mut HitQueue,
    bus: &'a mut EventBus,
    ids: &'a mut NetIdAllocator,
    content: &'a ZoneContent,
}

impl Effects<'_, '_, '_> {
    /// Applies a completed cast's effect.
    fn resolve(&mut self, caster: (Entity, NetId, Vec2), slot: u8, skill: &SkillDef, aimed: Aimed) {
        let (me, my_net, from) = caster;
        let target_pos = |entity: Entity| self.targets.get(entity).ok().map(|t| t.0.0);
        match skill.effect {
            SkillEffect::Projectile {
                speed,
                max_range,
                damage,
                homing,
                hit_radius,
            } => {
                let (target, at) = match aimed {
                    Aimed::Entity(e) => (Some(e), target_pos(e)),
                    Aimed::Point(p) => (None, Some(p)),
                    Aimed::Caster => (None, None),
                };
                let dir = at.map_or(Vec2::X, |p| (p - from).normalize_or(Vec2::X));
                let net_id = self.ids.allocate();
                let dt = 1.0 / f32::from(self.content.netcode.tick_rate_hz.max(1));
                self.commands.spawn((
                    Replicated {
                        net_id,
                        kind: EntityKind::Projectile,
                        variant: u16::from(slot),
                    },
                    Position(from),
                    Projectile {
                        caster: me,
                        caster_net: my_net,
                        slot,
                        target,
                        dir,
                        speed_per_tick: speed * dt,
                        range_left: max_range,
                        damage,
                        hit_radius,
                        homing,
                    },
                ));
                self.bus.area.push((
                    from,
                    EventKind::ProjectileSpawned {
                        projectile: net_id,
                        caster: my_net,
                        slot,
                    },
                ));
            }
            SkillEffect::Nova {
                radius,
                damage,
                knockback,
            } => {
                let targets = self.targets;
                let hits = &mut self.hits.0;
                self.index.candidates(from, radius, FRAME_SLACK_M, |f| {
                    let Ok((pos, team, health, dead)) = targets.get(f.entity) else {
                        return;
                    };
                    if *team != Team::Enemies || dead || health.hp == 0 {
                        return;
                    }
                    if pos.0.distance_squared(from) <= radius * radius {
                        hits.push(Hit {
                            source: me,
                            source_net: my_net,
                            target: f.entity,
                            amount: damage,
                            heal: false,
                            slot: Some(slot),
                            knockback: (pos.0 - from).normalize_or_zero() * knockback,
                        });
                    }
                });
            }
            SkillEffect::Heal { amount } => {
                let target = match aimed {
                    Aimed::Entity(e) => e,
                    Aimed::Caster | Aimed::Point(_) => me,
                };
                self.hits.0.push(Hit {
                    source: me,
                    source_net: my_net,
                    target,
                    amount,
                    heal: true,
                    slot: Some(slot),
                    knockback: Vec2::ZERO,
                });
            }
        }
    }
}

/// Interrupts, completes and starts casts, in that order, for every player.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn run_casts(
    commands: Commands,
    mut casters: Query<(
        Entity,
        &Replicated,
        &Player,
        &Position,
        &mut Caster,
        &mut Mana,
        Has<Dead>,
    )>,
    targets: Targets,
    index: Res<SpatialIndex>,
    mut hits: ResMut<HitQueue>,
    mut bus: ResMut<EventBus>,
    mut counters: ResMut<ZoneCounters>,
    mut ids: ResMut<NetIdAllocator>,
    settings: Res<ZoneSettings>,
    clock: Res<ZoneClock>,
) {
    let content = &settings.0;
    let tick = clock.tick;
    let gcd_ticks = content
        .player_class()
        .map_or(0, |c| content.ticks(c.global_cooldown_s, 0));
    let mut fx = Effects {
        commands,
        index: &index,
        targets: &targets,
        hits: &mut hits,
        bus: &mut bus,
        ids: &mut ids,
        content,
    };
    for (me, rep, player, pos, mut caster, mut mana, dead) in &mut casters {
        let skill_of = |slot: u8, c: &Caster| {
            c.slots
                .get(usize::from(slot))
                .and_then(|&i| content.skills.get(usize::from(i)))
        };
        // 1. A cast under way is interrupted by death or (if the skill says so) by
        //    moving, or completes when its time has come.
        if let Some(cast) = caster.casting {
            let skill = skill_of(cast.slot, &caster);
            let moved = pos.0.distance_squared(cast.from) > 1e-6;
            if dead || skill.is_none_or(|s| s.interrupted_by_movement && moved) {
                caster.casting = None;
                fx.bus.area.push((
                    pos.0,
                    EventKind::CastInterrupted {
                        caster: rep.net_id,
                        slot: cast.slot,
                    },
                ));
            } else if tick >= cast.completes_tick {
                caster.casting = None;
                if let Some(skill) = skill {
                    fx.resolve((me, rep.net_id, pos.0), cast.slot, skill, cast.target);
                }
            }
        }
        // 2. New intents, in arrival order.
        let queue = std::mem::take(&mut caster.queue);
        for intent in &queue {
            let Some(skill) = skill_of(intent.slot, &caster) else {
                reject(
                    &mut fx,
                    &mut counters,
                    player,
                    intent.seq,
                    intent.slot,
                    CastRejectReason::UnknownSkill,
                );
                continue;
            };
            let slot = usize::from(intent.slot);
            let view = CasterView {
                pos: pos.0,
                mana: mana.current,
                dead,
                casting: caster.casting.is_some(),
                ready_tick: caster.ready_tick[slot],
                gcd_ready_tick: caster.gcd_ready_tick,
            };
            let aim = aim_of(intent.target, &index, &targets);
            match check_cast(skill, &view, &aim, tick, &content.zone) {
                Err(reason) => reject(
                    &mut fx,
                    &mut counters,
                    player,
                    intent.seq,
                    intent.slot,
                    reason,
                ),
                Ok(aimed) => {
                    mana.current -= skill.mana_cost;
                    caster.ready_tick[slot] = tick + content.ticks(skill.cooldown_s, 1);
                    caster.gcd_ready_tick = tick + gcd_ticks;
                    counters.casts += 1;
                    let cast_ticks = content.ticks(skill.cast_time_s, 0);
                    fx.bus.area.push((
                        pos.0,
                        EventKind::CastStarted {
                            caster: rep.net_id,
                            slot: intent.slot,
                            cast_ticks: cast_ticks.min(u64::from(u16::MAX)) as u16,
                        },
                    ));
                    if cast_ticks == 0 {
                        fx.resolve((me, rep.net_id, pos.0), intent.slot, skill, aimed);
                    } else {
                        caster.casting = Some(ActiveCast {
                            slot: intent.slot,
                            target: aimed,
                            completes_tick: tick + cast_ticks,
                            from: pos.0,
                        });
                    }
                }
            }
        }
        // Give the buffer back so its capacity is reused.
        let mut queue = queue;
        queue.clear();
        caster.queue = queue;
    }
}

fn reject(
    fx: &mut Effects<'_, '_, '_>,
    counters: &mut ZoneCounters,
    player: &Player,
    seq: u32,
    slot: u8,
    reason: CastRejectReason,
) {
    counters.cast_rejected[reason as usize] += 1;
    fx.bus
        .direct
        .push((player.id, EventKind::CastRejected { seq, slot, reason }));
}

/// Moves projectiles along their path (homing ones turn toward a living target); the
/// first valid target the path touches takes the hit. Obstacles, bounds and range end
/// them.
#[allow(clippy::type_complexity)]
pub fn move_projectiles(
    mut commands: Commands,
    mut projectiles: Query<(Entity, &mut Position, &mut Projectile)>,
    targets: Query<(&Position, &Team, &Health, Has<Dead>), Without<Projectile>>,
    index: Res<SpatialIndex>,
    mut hits: ResMut<HitQueue>,
    settings: Res<ZoneSettings>,
) {
    let zone = &settings.0.zone;
    for (e, mut pos, mut p) in &mut projectiles {
        if p.homing
            && let Some(target) = p.target
        {
            match targets.get(target) {
                Ok((tpos, _, health, dead)) if health.hp > 0 && !dead => {
                    p.dir = (tpos.0 - pos.0).normalize_or(p.dir);
                }
                _ => p.target = None,
            }
        }
        let step = p.speed_per_tick.min(p.range_left);
        let from = pos.0;
        let to = from + p.dir * step;
        let mid = (from + to) * 0.5;
        let mut first: Option<(f32, Entity)> = None;
        index.candidates(mid, step * 0.5 + p.hit_radius, FRAME_SLACK_M, |f| {
            let Ok((tpos, team, health, dead)) = targets.get(f.entity) else {
                return;
            };
            if *team != Team::Enemies || dead || health.hp == 0 {
                return;
            }
            if let Some(t) = segment_hit(from, to, tpos.0, p.hit_radius)
                && first.is_none_or(|(best, _)| t < best)
            {
                first = Some((t, f.entity));
            }
        });
        if let Some((t, target)) = first
            && zone.line_of_sight(from, from + (to - from) * t)
        {
            hits.0.push(Hit {
                source: p.caster,
                source_net: p.caster_net,
                target,
                amount: p.damage,
                heal: false,
                slot: Some(p.slot),
                knockback: Vec2::ZERO,
            });
            commands.entity(e).despawn();
            continue;
        }
        p.range_left -= step;
        if !zone.line_of_sight(from, to) || !zone.bounds.contains(to) || p.range_left <= 0.0 {
            commands.entity(e).despawn();
            continue;
        }
        pos.0 = to;
    }
}
