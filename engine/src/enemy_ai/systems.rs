//! Enemy systems: the state machine, slain-enemy removal and spawners.

use arcane_protocol::quant::metres_to_cm;
use arcane_protocol::{EntityKind, EventKind, Telegraph, TelegraphArea};
use bevy_ecs::prelude::*;
use glam::Vec2;

use super::rules::{Candidate, choose_target, telegraph_contains, telegraph_reach};
use super::{Enemy, EnemyState, TelegraphAt};
use crate::combat::{EventBus, Health, Hit, HitQueue, Invulnerable, Slain, Team, Threat};
use crate::common::components::{Dead, MoveSpeed, NetIdAllocator, Player, Position, Replicated};
use crate::common::geometry::{next_position, walkable_point_near};
use crate::common::spatial::{FRAME_SLACK_M, SpatialIndex};
use crate::common::state::{ZoneClock, ZoneCounters, ZoneSettings};
use crate::content::{IdleBehaviour, TelegraphShape, ZoneContent};
use crate::rng::ZoneRng;

/// Idle enemies look for players every this many ticks (staggered by net id), so
/// 10,000 idle enemies cost 2,500 spatial queries per tick, not 10,000.
pub const IDLE_SCAN_INTERVAL: u64 = 4;

/// Everything to spawn an enemy of type `def` at `pos`.
pub fn enemy_bundle(
    content: &ZoneContent,
    def: u16,
    pos: Vec2,
    spawner: Option<u16>,
    net_id: arcane_protocol::NetId,
) -> impl Bundle {
    let d = &content.enemies[usize::from(def)];
    (
        Replicated {
            net_id,
            kind: EntityKind::Enemy,
            variant: def,
        },
        Position(pos),
        MoveSpeed(d.speed),
        Health::full(d.max_hp),
        Team::Enemies,
        Threat::default(),
        Enemy::new(def, pos, spawner),
    )
}

/// Per content spawner: how many of its enemies live and when the missing ones return.
#[derive(Resource, Default, Debug)]
pub struct Spawners {
    pub slots: Vec<SpawnerSlot>,
}

#[derive(Debug, Default, Clone)]
pub struct SpawnerSlot {
    pub alive: u32,
    /// Ticks at which a replacement appears.
    pub pending: Vec<u64>,
}

fn telegraph_wire(shape: TelegraphShape, at: TelegraphAt) -> Telegraph {
    let cm = |m: f32| metres_to_cm(m).max(0) as u32;
    Telegraph {
        area: match shape {
            TelegraphShape::Circle { radius } => TelegraphArea::Circle {
                radius_cm: cm(radius),
            },
            TelegraphShape::Cone { length, angle_deg } => TelegraphArea::Cone {
                length_cm: cm(length),
                angle_decideg: (angle_deg * 10.0).round().clamp(0.0, 3600.0) as u16,
            },
            TelegraphShape::Line { length, width } => TelegraphArea::Line {
                length_cm: cm(length),
                width_cm: cm(width),
            },
        },
        x_cm: metres_to_cm(at.origin.x),
        y_cm: metres_to_cm(at.origin.y),
        facing_mrad: (at.facing.to_angle() * 1000.0).round() as i16,
    }
}

/// Read access to the players enemies care about.
type PlayerTargets<'w, 's> = Query<
    'w,
    's,
    (
        &'static Position,
        &'static Health,
        Has<Dead>,
        Option<&'static Invulnerable>,
    ),
    With<Player>,
>;

fn eligible(players: &PlayerTargets<'_, '_>, e: Entity, tick: u64) -> Option<Vec2> {
    let (pos, health, dead, inv) = players.get(e).ok()?;
    let shielded = inv.is_some_and(|i| tick < i.until_tick);
    (health.hp > 0 && !dead && !shielded).then_some(pos.0)
}

/// Scan results, kept between ticks so the buffer is reused.
#[derive(Default)]
pub struct CandidateBuffer(Vec<Candidate>);

/// Runs every enemy's state machine for one tick.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn run_enemies(
    mut enemies: Query<
        (
            Entity,
            &Replicated,
            &mut Position,
            &mut Enemy,
            &mut Health,
            &mut Threat,
        ),
        (Without<Player>, Without<Slain>),
    >,
    players: PlayerTargets,
    index: Res<SpatialIndex>,
    mut hits: ResMut<HitQueue>,
    mut bus: ResMut<EventBus>,
    mut rng: ResMut<ZoneRng>,
    mut counters: ResMut<ZoneCounters>,
    mut found: Local<CandidateBuffer>,
    settings: Res<ZoneSettings>,
    clock: Res<ZoneClock>,
) {
    let content = &settings.0;
    let zone = &content.zone;
    let (tick, dt) = (clock.tick, clock.dt);
    let rng = &mut rng.ai;
    let found = &mut found.0;
    for (me, rep, mut pos, mut enemy, mut health, mut threat) in &mut enemies {
        let Some(def) = content.enemies.get(usize::from(enemy.def)) else {
            continue;
        };
        let step = def.speed * dt;
        // Eligible players within `radius` of the enemy, with the threat they hold.
        let scan = |at: Vec2, radius: f32, threat: &Threat, found: &mut Vec<Candidate>| {
            found.clear();
            index.candidates(at, radius, FRAME_SLACK_M, |f| {
                if f.state.kind != arcane_protocol::EntityKind::Player {
                    return;
                }
                let Some(p) = eligible(&players, f.entity, tick) else {
                    return;
                };
                let distance = p.distance(at);
                if distance <= radius && zone.line_of_sight(at, p) {
                    let t = threat
                        .0
                        .iter()
                        .find(|(e, _)| *e == f.entity)
                        .map_or(0, |x| x.1);
                    found.push(Candidate {
                        entity: f.entity,
                        distance,
                        threat: t,
                    });
                }
            });
        };
        match enemy.state {
            EnemyState::Idle => {
                if (tick + u64::from(rep.net_id.0)).is_multiple_of(IDLE_SCAN_INTERVAL) {
                    scan(pos.0, def.aggro_radius, &threat, found);
                    if let Some(t) = choose_target(def.target_rule, found) {
                        enemy.target = Some(t);
                        enemy.wander_to = None;
                        enemy.state = EnemyState::Pursue;
                        continue;
                    }
                }
                if let IdleBehaviour::Wander { radius } = def.idle {
                    match enemy.wander_to {
                        Some(to) if pos.0.distance(to) > step * 0.5 => {
                            let next = next_position(
                                zone,
                                pos.0,
                                (to - pos.0).normalize_or_zero(),
                                (step * 0.5).min(pos.0.distance(to)),
                            );
                            if next == pos.0 {
                                enemy.wander_to = None;
                            }
                            pos.0 = next;
                        }
                        Some(_) => {
                            // Arrived: pause for one to four seconds.
                            enemy.wander_to = None;
                            enemy.until_tick = tick + content.ticks(1.0 + 3.0 * rng.unit(), 1);
                        }
                        None if tick >= enemy.until_tick => {
                            enemy.wander_to =
                                Some(walkable_point_near(&content.zone, enemy.home, radius, rng));
                        }
                        None => {}
                    }
                }
            }
            EnemyState::Pursue => {
                if pos.0.distance(enemy.home) > def.leash_radius {
                    leash(&mut enemy, &mut health, &mut threat);
                    continue;
                }
                // Keep the target while it stays eligible; `Threat` enemies re-pick on
                // the scan interval so a bigger threat takes over.
                let rescan = enemy
                    .target
                    .and_then(|t| eligible(&players, t, tick))
                    .is_none()
                    || (def.target_rule == crate::content::TargetRule::Threat
                        && (tick + u64::from(rep.net_id.0)).is_multiple_of(IDLE_SCAN_INTERVAL));
                if rescan {
                    scan(pos.0, def.leash_radius, &threat, found);
                    enemy.target = choose_target(def.target_rule, found);
                }
                let Some(target_pos) = enemy.target.and_then(|t| eligible(&players, t, tick))
                else {
                    enemy.target = None;
                    enemy.state = EnemyState::Idle;
                    continue;
                };
                let to_target = target_pos - pos.0;
                if to_target.length() <= def.attack.range && zone.line_of_sight(pos.0, target_pos) {
                    let at = TelegraphAt {
                        origin: pos.0,
                        facing: to_target.normalize_or(Vec2::X),
                    };
                    let windup = content.ticks(def.attack.windup_s, 1);
                    enemy.telegraph = Some(at);
                    enemy.state = EnemyState::WindUp;
                    enemy.until_tick = tick + windup;
                    bus.area.push((
                        pos.0,
                        EventKind::Telegraph {
                            enemy: rep.net_id,
                            telegraph: telegraph_wire(def.attack.shape, at),
                            windup_ticks: windup.min(u64::from(u16::MAX)) as u16,
                        },
                    ));
                } else {
                    let dist = step.min((to_target.length() - def.attack.range * 0.8).max(0.0));
                    pos.0 = next_position(zone, pos.0, to_target.normalize_or_zero(), dist);
                }
            }
            EnemyState::WindUp => {
                if tick < enemy.until_tick {
                    continue;
                }
                // The attack lands on whoever is inside the telegraph right now.
                if let Some(at) = enemy.telegraph {
                    let shape = def.attack.shape;
                    let h = &mut hits.0;
                    index.candidates(at.origin, telegraph_reach(shape), FRAME_SLACK_M, |f| {
                        if f.state.kind != arcane_protocol::EntityKind::Player {
                            return;
                        }
                        if let Some(p) = eligible(&players, f.entity, tick)
                            && telegraph_contains(shape, at.origin, at.facing, p)
                        {
                            h.push(Hit {
                                source: me,
                                source_net: rep.net_id,
                                target: f.entity,
                                amount: def.attack.damage,
                                heal: false,
                                slot: None,
                                knockback: Vec2::ZERO,
                            });
                        }
                    });
                }
                counters.enemy_attacks += 1;
                enemy.state = EnemyState::Attack;
                enemy.until_tick = tick + 1;
            }
            EnemyState::Attack => {
                if tick >= enemy.until_tick {
                    enemy.telegraph = None;
                    enemy.state = EnemyState::Recover;
                    enemy.until_tick = tick + content.ticks(def.attack.recover_s, 0);
                }
            }
            EnemyState::Recover => {
                if tick >= enemy.until_tick {
                    enemy.state = EnemyState::Pursue;
                }
            }
            EnemyState::Return => {
                let home = enemy.home - pos.0;
                if home.length() <= step {
                    pos.0 = enemy.home;
                    enemy.state = EnemyState::Idle;
                    enemy.until_tick = tick;
                } else {
                    let next = next_position(zone, pos.0, home.normalize_or_zero(), step);
                    // Stuck on an obstacle on the way home: go home directly.
                    pos.0 = if next == pos.0 { enemy.home } else { next };
                }
            }
        }
    }
}

/// Gives up the chase: home, full HP, no threat.
fn leash(enemy: &mut Enemy, health: &mut Health, threat: &mut Threat) {
    enemy.state = EnemyState::Return;
    enemy.target = None;
    enemy.telegraph = None;
    enemy.wander_to = None;
    health.hp = health.max;
    threat.0.clear();
}

/// Removes slain enemies and schedules their spawner's replacement.
pub fn remove_slain(
    mut commands: Commands,
    slain: Query<(Entity, &Enemy), With<Slain>>,
    mut spawners: ResMut<Spawners>,
    settings: Res<ZoneSettings>,
    clock: Res<ZoneClock>,
) {
    let content = &settings.0;
    for (e, enemy) in &slain {
        if let Some(i) = enemy.spawner
            && let Some(slot) = spawners.slots.get_mut(usize::from(i))
        {
            slot.alive = slot.alive.saturating_sub(1);
            let respawn = content
                .zone
                .spawners
                .get(usize::from(i))
                .map_or(0, |s| content.ticks(s.respawn_s, 1));
            slot.pending.push(clock.tick + respawn);
        }
        commands.entity(e).despawn();
    }
}

/// Keeps every spawner at its count: missing enemies are scheduled (at once on the
/// first tick or when a reload raised the count) and appear when their time comes.
pub fn run_spawners(
    mut commands: Commands,
    mut spawners: ResMut<Spawners>,
    mut ids: ResMut<NetIdAllocator>,
    mut rng: ResMut<ZoneRng>,
    settings: Res<ZoneSettings>,
    clock: Res<ZoneClock>,
) {
    let content = &settings.0;
    let tick = clock.tick;
    let defs = &content.zone.spawners;
    spawners.slots.resize_with(defs.len(), SpawnerSlot::default);
    for (i, (def, slot)) in defs.iter().zip(spawners.slots.iter_mut()).enumerate() {
        let Some(enemy) = content.enemy_index(&def.enemy) else {
            continue;
        };
        let have = slot.alive as usize + slot.pending.len();
        let want = def.count as usize;
        if have < want {
            slot.pending.extend(std::iter::repeat_n(tick, want - have));
        }
        let mut k = 0;
        while k < slot.pending.len() {
            if slot.pending[k] > tick {
                k += 1;
                continue;
            }
            slot.pending.swap_remove(k);
            let pos = walkable_point_near(&content.zone, def.at, def.radius, &mut rng.ai);
            commands.spawn(enemy_bundle(
                content,
                enemy as u16,
                pos,
                Some(i as u16),
                ids.allocate(),
            ));
            slot.alive += 1;
        }
    }
}
