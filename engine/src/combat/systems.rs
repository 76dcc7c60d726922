//! Combat systems: apply queued hits, respawn, invulnerability expiry, and delivering
//! area events to the players near them.

use arcane_protocol::{EventKind, NetId};
use bevy_ecs::prelude::*;
use glam::Vec2;

use super::rules::{apply_damage, apply_heal};
use super::{Health, Invulnerable, RespawnRequested, Team};
use crate::common::commands::Rejection;
use crate::common::components::{Dead, Player, Position, Replicated};
use crate::common::events::{ContentReloaded, PlayerJoined, PlayerRespawned};
use crate::common::geometry::next_position;
use crate::common::io::{PlayerId, ZoneCommand, ZoneOutbox};
use crate::common::spatial::CellGrid;
use crate::common::state::{ZoneClock, ZoneCounters, ZoneSettings};

/// Damage or healing one entity deals another, applied at the end of `Simulate`.
#[derive(Debug, Clone, Copy)]
pub struct Hit {
    pub source: Entity,
    pub source_net: NetId,
    pub target: Entity,
    /// Damage when `heal` is false.
    pub amount: u32,
    pub heal: bool,
    /// The caster's skill slot, or `None` for an enemy attack.
    pub slot: Option<u8>,
    /// Pushes the target this far (metres, direction included), if it survives.
    pub knockback: Vec2,
}

/// Hits queued this tick.
#[derive(Resource, Default)]
pub struct HitQueue(pub Vec<Hit>);

/// Events of this tick: area events go to every player within the broadcast radius
/// of their position, direct ones to one player.
#[derive(Resource, Default)]
pub struct EventBus {
    pub area: Vec<(Vec2, EventKind)>,
    pub direct: Vec<(PlayerId, EventKind)>,
}

/// Who hurt an enemy how much, for the `Threat` target rule; cleared when it resets.
#[derive(Component, Debug, Default, Clone)]
pub struct Threat(pub Vec<(Entity, u32)>);

impl Threat {
    pub fn add(&mut self, who: Entity, amount: u32) {
        match self.0.iter_mut().find(|(e, _)| *e == who) {
            Some((_, t)) => *t = t.saturating_add(amount),
            None => self.0.push((who, amount)),
        }
    }
}

/// An enemy that died this tick (its spawner and despawn are handled by enemy AI).
#[derive(Component, Debug, Clone, Copy)]
pub struct Slain;

/// Applies every queued hit in order: invulnerable and dead targets are skipped, HP is
/// clamped, a killing blow marks the target dead (players) or slain (enemies).
#[allow(clippy::type_complexity)]
pub fn apply_hits(
    mut commands: Commands,
    mut queue: ResMut<HitQueue>,
    mut targets: Query<(
        &Replicated,
        &Team,
        &mut Health,
        &mut Position,
        Option<&Invulnerable>,
        Has<Dead>,
        Has<Slain>,
        Option<&mut Threat>,
    )>,
    mut bus: ResMut<EventBus>,
    mut counters: ResMut<ZoneCounters>,
    settings: Res<ZoneSettings>,
    clock: Res<ZoneClock>,
) {
    let content = &settings.0;
    let respawn_ticks = content
        .player_class()
        .map_or(0, |c| content.ticks(c.respawn_delay_s, 0));
    for hit in queue.0.drain(..) {
        let Ok((rep, team, mut health, mut pos, invulnerable, dead, slain, threat)) =
            targets.get_mut(hit.target)
        else {
            continue;
        };
        if dead || slain || health.hp == 0 {
            continue;
        }
        if hit.heal {
            let (hp, restored) = apply_heal(health.hp, health.max, hit.amount);
            health.hp = hp;
            bus.area.push((
                pos.0,
                EventKind::Healed {
                    source: hit.source_net,
                    target: rep.net_id,
                    amount: restored,
                },
            ));
            continue;
        }
        if invulnerable.is_some_and(|i| clock.tick < i.until_tick) {
            continue;
        }
        let (hp, killed) = apply_damage(health.hp, hit.amount);
        let dealt = health.hp - hp;
        health.hp = hp;
        counters.hits += 1;
        if let Some(mut t) = threat {
            t.add(hit.source, dealt);
        }
        bus.area.push((
            pos.0,
            EventKind::Damage {
                source: hit.source_net,
                target: rep.net_id,
                amount: dealt,
                slot: hit.slot,
            },
        ));
        if killed {
            bus.area.push((
                pos.0,
                EventKind::Died {
                    entity: rep.net_id,
                    killer: Some(hit.source_net),
                },
            ));
            match team {
                Team::Players => {
                    counters.player_deaths += 1;
                    commands.entity(hit.target).insert(Dead {
                        respawn_tick: clock.tick + respawn_ticks,
                    });
                }
                Team::Enemies => {
                    counters.kills += 1;
                    commands.entity(hit.target).insert(Slain);
                }
            }
        } else if hit.knockback != Vec2::ZERO {
            let len = hit.knockback.length();
            pos.0 = next_position(&content.zone, pos.0, hit.knockback / len, len);
        }
    }
}

/// Brings back dead players who asked to respawn, once their delay has passed: at the
/// nearest respawn point, with full HP, invulnerable for a while (and
/// [`PlayerRespawned`] for what other concerns restore, such as mana).
pub fn respawn_players(
    mut commands: Commands,
    mut players: Query<
        (Entity, &Replicated, &Dead, &mut Position, &mut Health),
        With<RespawnRequested>,
    >,
    mut bus: ResMut<EventBus>,
    mut counters: ResMut<ZoneCounters>,
    settings: Res<ZoneSettings>,
    clock: Res<ZoneClock>,
) {
    let content = &settings.0;
    let invulnerable_ticks = content
        .player_class()
        .map_or(0, |c| content.ticks(c.respawn_invulnerable_s, 0));
    for (e, rep, dead, mut pos, mut health) in &mut players {
        if clock.tick < dead.respawn_tick {
            continue;
        }
        pos.0 = content.zone.respawn_point(pos.0);
        health.hp = health.max;
        commands.trigger(PlayerRespawned { entity: e });
        commands
            .entity(e)
            .remove::<(Dead, RespawnRequested)>()
            .insert(Invulnerable {
                until_tick: clock.tick + invulnerable_ticks,
            });
        counters.respawns += 1;
        bus.area
            .push((pos.0, EventKind::Respawned { entity: rep.net_id }));
    }
}

/// Removes invulnerability that has run out.
pub fn expire_invulnerability(
    mut commands: Commands,
    q: Query<(Entity, &Invulnerable)>,
    clock: Res<ZoneClock>,
) {
    for (e, inv) in &q {
        if clock.tick >= inv.until_tick {
            commands.entity(e).remove::<Invulnerable>();
        }
    }
}

/// Sends this tick's events: direct ones to their player, area ones to every player
/// within the broadcast radius (the widest interest radius), via a grid of players.
pub fn deliver_events(
    mut bus: ResMut<EventBus>,
    players: Query<(&Player, &Position)>,
    mut outbox: ResMut<ZoneOutbox>,
    mut grid: Local<CellGrid<PlayerId>>,
    settings: Res<ZoneSettings>,
    clock: Res<ZoneClock>,
) {
    let tick = clock.tick as u32;
    let EventBus { area, direct } = &mut *bus;
    for (player, kind) in direct.drain(..) {
        outbox.event(player, tick, kind);
    }
    if area.is_empty() {
        return;
    }
    let tiers = &settings.0.netcode.tiers;
    let radius = (tiers.desktop.radius + tiers.desktop.margin)
        .max(tiers.mobile.radius + tiers.mobile.margin)
        .max(1.0);
    grid.rebuild(
        radius,
        players.iter().map(|(player, pos)| (pos.0, player.id)),
    );
    for (at, kind) in area.drain(..) {
        grid.within(at, radius, |&player, _, _| {
            outbox.event(player, tick, kind.clone());
        });
    }
}

/// `ZoneCommand::Respawn` (ingest's handler): a dead player asks to come back; it does
/// at `Dead::respawn_tick`.
pub(super) fn request_respawn(
    entity: &mut EntityWorldMut<'_>,
    _: &ZoneCommand,
) -> Option<Rejection> {
    if entity.contains::<Dead>() {
        entity.insert(RespawnRequested);
    }
    None
}

/// A joining player fights for the players with the class's HP (what it was saved
/// with, unless it was saved dead: then it comes back full, at a respawn point).
pub(super) fn add_player_health(
    joined: On<PlayerJoined>,
    settings: Res<ZoneSettings>,
    mut commands: Commands,
) {
    let mut health = Health::of_player_class(&settings.0);
    if let Some(saved) = &joined.saved
        && saved.hp > 0
    {
        health.hp = saved.hp.min(health.max);
    }
    commands
        .entity(joined.entity)
        .insert((health, Team::Players));
}

/// New content may change the class's maximum HP: current HP is kept, clamped.
pub(super) fn retune_player_health(
    _: On<ContentReloaded>,
    settings: Res<ZoneSettings>,
    mut players: Query<&mut Health, With<Player>>,
) {
    let max = Health::of_player_class(&settings.0).max;
    for mut h in &mut players {
        h.max = max;
        h.hp = h.hp.min(max);
    }
}
