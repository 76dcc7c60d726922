//! Player systems: the exclusive command ingest (joins need to spawn, and later
//! commands of the same tick must see the new entity) and the violation kick.

use arcane_protocol::quant::metres_to_cm;
use arcane_protocol::saved::SavedPlayer;
use arcane_protocol::ticket::Role;
use arcane_protocol::{ClientTier, EntityKind, KickReason, NetId, PROTOCOL_VERSION, Welcome};
use bevy_ecs::prelude::*;
use glam::Vec2;
use rustc_hash::FxHashMap;

use super::rules::{STALL_AMNESTY_TICKS, StallAmnesty, Violations};
use crate::common::commands::{CommandHandlers, CommandKind, Rejection};
use crate::common::components::{NetIdAllocator, Player, Position, Replicated, Transferring};
use crate::common::events::{PlayerJoined, PlayerLeaving, PlayerReconnected};
use crate::common::geometry::{pick_spawn, walkable_point_near};
use crate::common::io::{CommandInbox, PlayerId, ZoneCommand, ZoneOutbox, ZoneOutput};
use crate::common::state::{ZoneClock, ZoneCounters, ZoneSettings};
use crate::rng::ZoneRng;

/// Player id → entity, for routing commands. Looked up twice per player per tick
/// (input, ack); player ids come from signed tickets, so a fast non-keyed hash is safe.
#[derive(Resource, Default, Debug)]
pub struct PlayerIndex(FxHashMap<PlayerId, Entity>);

impl PlayerIndex {
    pub fn get(&self, player: PlayerId) -> Option<Entity> {
        self.0.get(&player).copied()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn remove(&mut self, player: PlayerId) -> Option<Entity> {
        self.0.remove(&player)
    }
}

fn welcome_for(world: &World, net_id: NetId) -> Welcome {
    let settings = &world.resource::<ZoneSettings>().0;
    let b = settings.zone.bounds;
    let dt = world.resource::<ZoneClock>().dt;
    Welcome {
        protocol_version: PROTOCOL_VERSION,
        zone_id: settings.zone.id.clone(),
        player: net_id,
        tick_rate_hz: settings.netcode.tick_rate_hz,
        bounds_cm: [
            metres_to_cm(b.min.x),
            metres_to_cm(b.min.y),
            metres_to_cm(b.max.x),
            metres_to_cm(b.max.y),
        ],
        speed_cm_per_tick: metres_to_cm(settings.zone.player_speed * dt).max(0) as u32,
        content_version: settings.version.0,
        skills: settings
            .player_class()
            .map(|c| c.skills.clone())
            .unwrap_or_default(),
        creatures: settings.creatures.catalog(),
    }
}

/// Where a saved player appears: at the respawn point when it was saved dead; else
/// where it was, when that is walkable in this zone (content can change under a saved
/// position); else the nearest walkable point the spawn stream finds; else a spawn
/// point.
fn saved_position(world: &mut World, saved: &SavedPlayer) -> Vec2 {
    let p = Vec2::new(saved.x, saved.y);
    world.resource_scope(|world, mut rng: Mut<ZoneRng>| {
        let zone = &world.resource::<ZoneSettings>().0.zone;
        if saved.hp == 0 {
            return zone.respawn_point(p);
        }
        if !p.is_finite() {
            return pick_spawn(zone, &mut rng.spawn);
        }
        if zone.is_walkable(p) {
            return p;
        }
        let near = walkable_point_near(zone, p, 10.0, &mut rng.spawn);
        if zone.is_walkable(near) {
            near
        } else {
            pick_spawn(zone, &mut rng.spawn)
        }
    })
}

fn send_welcome(world: &mut World, player: PlayerId, entity: Entity) {
    let net_id = world
        .get::<Replicated>(entity)
        .map_or(NetId(0), |r| r.net_id);
    let welcome = welcome_for(world, net_id);
    world
        .resource_mut::<ZoneOutbox>()
        .0
        .push(ZoneOutput::Welcome {
            player,
            welcome: Box::new(welcome),
        });
}

fn join(
    world: &mut World,
    player: PlayerId,
    tier: ClientTier,
    role: Role,
    saved: Option<Box<SavedPlayer>>,
) {
    if let Some(e) = world.resource::<PlayerIndex>().get(player) {
        // Reconnect: the same entity; each concern starts its streams over.
        if let Some(mut p) = world.get_mut::<Player>(e) {
            p.tier = tier;
            p.role = role;
        }
        world.trigger(PlayerReconnected { entity: e, tier });
        world.flush();
        send_welcome(world, player, e);
        return;
    }
    let zone = &world.resource::<ZoneSettings>().0.zone;
    let max_players = zone.max_players;
    if world.resource::<PlayerIndex>().len() >= max_players as usize {
        let detail = format!("zone {} is full ({max_players} players)", zone.id);
        world.resource_mut::<ZoneOutbox>().0.push(ZoneOutput::Kick {
            player,
            reason: KickReason::ZoneFull,
            detail,
        });
        return;
    }
    let net_id = world.resource_mut::<NetIdAllocator>().allocate();
    let pos = match &saved {
        Some(saved) => saved_position(world, saved),
        None => world.resource_scope(|world, mut rng: Mut<ZoneRng>| {
            pick_spawn(&world.resource::<ZoneSettings>().0.zone, &mut rng.spawn)
        }),
    };
    let e = world
        .spawn((
            Player {
                id: player,
                tier,
                role,
            },
            Replicated {
                net_id,
                kind: EntityKind::Player,
                variant: 0,
            },
            Position(pos),
            Violations::default(),
        ))
        .id();
    world.resource_mut::<PlayerIndex>().0.insert(player, e);
    // Every concern adds its components now, before the next command of this tick.
    world.trigger(PlayerJoined {
        entity: e,
        player,
        tier,
        saved: saved.map(|s| *s),
    });
    world.flush();
    send_welcome(world, player, e);
}

/// Counts a rejected command toward the player's violations and tells them (a few
/// times a tick at most).
fn reject(world: &mut World, player: PlayerId, entity: Entity, rejection: Rejection) {
    let tick = world.resource::<ZoneClock>().tick;
    let excused = world
        .resource::<StallAmnesty>()
        .excuses(tick, rejection.reason);
    let tell = world
        .get_mut::<Violations>(entity)
        .is_some_and(|mut v| v.record(rejection.reason, excused));
    if tell {
        let tick = world.resource::<ZoneClock>().tick as u32;
        world
            .resource_mut::<ZoneOutbox>()
            .event(player, tick, rejection.event);
    }
}

/// The player a command is for, if any.
fn player_of(command: &ZoneCommand) -> Option<PlayerId> {
    match command {
        ZoneCommand::Join { player, .. }
        | ZoneCommand::Leave { player }
        | ZoneCommand::TransferFailed { player, .. }
        | ZoneCommand::Input { player, .. }
        | ZoneCommand::Ack { player, .. }
        | ZoneCommand::Cast { player, .. }
        | ZoneCommand::Respawn { player }
        | ZoneCommand::Admin { player, .. }
        | ZoneCommand::Capture { player, .. }
        | ZoneCommand::Breed { player, .. }
        | ZoneCommand::RosterRequest { player }
        | ZoneCommand::Chat { player, .. } => Some(*player),
        ZoneCommand::Evacuate { .. }
        | ZoneCommand::Resumed { .. }
        | ZoneCommand::Dilated { .. } => None,
    }
}

/// Applies every queued command in arrival order: joins and leaves here, the rest
/// through the handler its concern registered. A command for a player this zone does
/// not have is ignored, as is what a frozen player does.
pub fn ingest_commands(world: &mut World) {
    let mut commands = std::mem::take(&mut world.resource_mut::<CommandInbox>().0);
    let handlers = *world.resource::<CommandHandlers>();
    let frozen = world.register_component::<Transferring>();
    for cmd in commands.drain(..) {
        let kind = match cmd {
            ZoneCommand::Join {
                player,
                tier,
                role,
                saved,
            } => {
                join(world, player, tier, role, saved);
                continue;
            }
            ZoneCommand::Leave { player } => {
                remove_player(world, player);
                continue;
            }
            ZoneCommand::Resumed { missed_ticks } => {
                let tick = world.resource::<ZoneClock>().tick;
                world.resource_mut::<StallAmnesty>().until_tick = tick + STALL_AMNESTY_TICKS;
                tracing::warn!(tick, missed_ticks, "zone resumed after a stall");
                continue;
            }
            ZoneCommand::Dilated { .. } => {
                let tick = world.resource::<ZoneClock>().tick;
                world.resource_mut::<StallAmnesty>().until_tick = tick + STALL_AMNESTY_TICKS;
                continue;
            }
            ref other => match CommandKind::of(other) {
                Some(kind) => kind,
                None => continue,
            },
        };
        let Some(player) = player_of(&cmd) else {
            if let Some(handle) = handlers.zone(kind) {
                handle(world, &cmd);
            }
            continue;
        };
        let Some(e) = world.resource::<PlayerIndex>().get(player) else {
            continue;
        };
        let Some(handle) = handlers.player(kind) else {
            continue;
        };
        // One look-up of the entity for the frozen check and the handler (this runs
        // for every input and ack).
        let Ok(mut entity) = world.get_entity_mut(e) else {
            continue;
        };
        if kind.ignored_while_frozen() && entity.contains_id(frozen) {
            continue;
        }
        if let Some(rejection) = handle(&mut entity, &cmd) {
            reject(world, player, e, rejection);
        }
    }
    // Hand the (now empty) buffer back so its capacity is reused next tick.
    world.resource_mut::<CommandInbox>().0 = commands;
}

/// Removes a player from the zone: every concern sees it leave (persistence saves it
/// unless it is being handed over), then the entity goes.
fn remove_player(world: &mut World, player: PlayerId) {
    let Some(e) = world.resource_mut::<PlayerIndex>().remove(player) else {
        return;
    };
    world.trigger(PlayerLeaving { entity: e, player });
    world.flush();
    world.despawn(e);
}

/// Decays violation scores and removes players over the threshold as a leave does,
/// saved first: rejected inputs were never applied, so what they hold is as
/// legitimate as a leaving player's state, and a kick must not lose what they did
/// since the last checkpoint. The `Kick` follows the `Logout`, so the zone server
/// still knows the player's ownership epoch when it routes the save.
pub fn kick_violators(
    mut commands: Commands,
    mut players: Query<(&Player, &mut Violations)>,
    mut counters: ResMut<ZoneCounters>,
    settings: Res<ZoneSettings>,
) {
    let limits = &settings.0.netcode.input;
    for (player, mut v) in &mut players {
        if v.score == 0.0 && v.events_this_tick == 0 {
            continue;
        }
        if v.end_tick(limits) {
            let worst = v.worst();
            let kick = ZoneOutput::Kick {
                player: player.id,
                reason: KickReason::TooManyViolations,
                detail: format!(
                    "too many rejected inputs (mostly {}): {:?}",
                    worst.as_str(),
                    v.counts
                ),
            };
            counters.kicks += 1;
            let id = player.id;
            commands.queue(move |world: &mut World| {
                remove_player(world, id);
                world.resource_mut::<ZoneOutbox>().0.push(kick);
            });
        }
    }
}
