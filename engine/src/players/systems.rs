//! Player systems: the exclusive command ingest (joins need to spawn and later commands
//! of the same tick must see the new entity) and the violation kick.

use arcane_protocol::messages::RejectReason;
use arcane_protocol::quant::metres_to_cm;
use arcane_protocol::saved::SavedPlayer;
use arcane_protocol::ticket::Role;
use arcane_protocol::{
    CastRejectReason, ClientTier, EntityKind, EventKind, KickReason, NetId, PROTOCOL_VERSION,
    Welcome,
};
use bevy_ecs::prelude::*;
use glam::Vec2;
use rustc_hash::FxHashMap;

use super::rules::Violations;
use crate::combat::{Dead, Health, RespawnRequested, Team};
use crate::components::{MoveSpeed, NetIdAllocator, Position, Replicated};
use crate::content::{ZoneContent, ZoneDef};
use crate::interest::InterestState;
use crate::movement::PlayerInput;
use crate::movement::rules::{Accepted, walkable_point_near};
use crate::persist::{Inventory, Transferring};
use crate::replication::SnapshotLink;
use crate::rng::{ZoneRng, ZoneStream};
use crate::skills::{Caster, Mana};
use crate::zone::{
    CommandInbox, PlayerId, ZoneClock, ZoneCommand, ZoneCounters, ZoneOutbox, ZoneOutput,
    ZoneSettings,
};

/// A connected player.
#[derive(Component, Debug, Clone, Copy)]
pub struct Player {
    pub id: PlayerId,
    pub tier: ClientTier,
    pub role: Role,
}

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
    pub fn remove(&mut self, player: PlayerId) -> Option<Entity> {
        self.0.remove(&player)
    }
}

/// A walkable point within `spawn_radius` of a random spawn point.
pub fn pick_spawn(zone: &ZoneDef, rng: &mut ZoneStream) -> Vec2 {
    let n = zone.spawn_points.len() as u32;
    let base = zone.spawn_points[rng.below(n) as usize];
    walkable_point_near(zone, base, zone.spawn_radius, rng)
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
    }
}

/// The class components a player of this zone gets (also re-applied on reload).
pub fn class_components(content: &ZoneContent) -> (Health, Mana, Caster) {
    let dt = 1.0 / f32::from(content.netcode.tick_rate_hz.max(1));
    let slots = content
        .class_skill_indices()
        .into_iter()
        .map(|i| i as u16)
        .collect();
    match content.player_class() {
        Some(c) => (
            Health::full(c.max_hp),
            Mana {
                current: c.max_mana,
                max: c.max_mana,
                regen_per_tick: c.mana_regen_per_s * dt,
            },
            Caster::new(slots),
        ),
        None => (
            Health::full(1),
            Mana {
                current: 0.0,
                max: 0.0,
                regen_per_tick: 0.0,
            },
            Caster::new(Vec::new()),
        ),
    }
}

/// Where a player with a saved position appears: there when it is walkable in this
/// zone (content can change under a saved position), else the nearest walkable point
/// the spawn stream finds, else a spawn point.
fn saved_position(world: &mut World, saved: &SavedPlayer) -> Vec2 {
    let p = Vec2::new(saved.x, saved.y);
    world.resource_scope(|world, mut rng: Mut<ZoneRng>| {
        let zone = &world.resource::<ZoneSettings>().0.zone;
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

fn join(
    world: &mut World,
    player: PlayerId,
    tier: ClientTier,
    role: Role,
    saved: Option<Box<SavedPlayer>>,
) {
    if let Some(e) = world.resource::<PlayerIndex>().get(player) {
        // Reconnect: same entity, fresh stream and view.
        let mut ent = world.entity_mut(e);
        if let Some(mut p) = ent.get_mut::<Player>() {
            p.tier = tier;
            p.role = role;
        }
        if let Some(mut i) = ent.get_mut::<PlayerInput>() {
            i.reset();
        }
        if let Some(mut c) = ent.get_mut::<Caster>() {
            c.reset_stream();
        }
        ent.insert((InterestState::new(tier), SnapshotLink::default()));
        let net_id = world
            .get::<Replicated>(e)
            .map(|r| r.net_id)
            .unwrap_or(NetId(0));
        let welcome = welcome_for(world, net_id);
        world
            .resource_mut::<ZoneOutbox>()
            .0
            .push(ZoneOutput::Welcome { player, welcome });
        return;
    }
    let zone = &world.resource::<ZoneSettings>().0.zone;
    let (max_players, speed) = (zone.max_players, zone.player_speed);
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
    let (mut health, mut mana, caster) = class_components(&world.resource::<ZoneSettings>().0);
    let mut inventory = Inventory::default();
    let pos = match saved {
        Some(saved) => {
            // A player saved dead comes back respawned: full HP, at the respawn point.
            let pos = if saved.hp == 0 {
                let zone = &world.resource::<ZoneSettings>().0.zone;
                zone.respawn_point(Vec2::new(saved.x, saved.y))
            } else {
                health.hp = saved.hp.min(health.max);
                saved_position(world, &saved)
            };
            mana.current = (saved.mana as f32).min(mana.max);
            inventory.0 = saved.inventory;
            pos
        }
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
            MoveSpeed(speed),
            PlayerInput::default(),
            Violations::default(),
            InterestState::new(tier),
            SnapshotLink::default(),
            (health, mana, caster, Team::Players, inventory),
        ))
        .id();
    world.resource_mut::<PlayerIndex>().0.insert(player, e);
    let welcome = welcome_for(world, net_id);
    world
        .resource_mut::<ZoneOutbox>()
        .0
        .push(ZoneOutput::Welcome { player, welcome });
}

/// The player's entity, unless the player is frozen for a transfer (then its
/// commands are ignored).
fn frozen_or(world: &World, player: PlayerId) -> Option<Entity> {
    let e = world.resource::<PlayerIndex>().get(player)?;
    world.get::<Transferring>(e).is_none().then_some(e)
}

/// Applies every queued session command in arrival order.
pub fn ingest_commands(world: &mut World) {
    let mut commands = std::mem::take(&mut world.resource_mut::<CommandInbox>().0);
    let tick = world.resource::<ZoneClock>().tick as u32;
    let limits = world.resource::<ZoneSettings>().0.netcode.input.clone();
    for cmd in commands.drain(..) {
        match cmd {
            ZoneCommand::Join {
                player,
                tier,
                role,
                saved,
            } => join(world, player, tier, role, saved),
            ZoneCommand::Evacuate { to } => crate::persist::evacuate(world, to),
            ZoneCommand::TransferFailed { player, detail } => {
                if let Some(e) = world.resource::<PlayerIndex>().get(player) {
                    crate::persist::transfer_failed(world, player, e, detail);
                }
            }
            ZoneCommand::Cast { player, intent } => {
                let Some(e) = frozen_or(world, player) else {
                    continue;
                };
                let Some(Err(reason)) = world.get_mut::<Caster>(e).map(|mut c| c.accept(intent))
                else {
                    continue;
                };
                world.resource_mut::<ZoneCounters>().cast_rejected[reason as usize] += 1;
                // Replays and floods count toward a kick, like those of move inputs.
                let as_input = match reason {
                    CastRejectReason::StaleSequence => RejectReason::StaleSequence,
                    _ => RejectReason::Flood,
                };
                let tell = world
                    .get_mut::<Violations>(e)
                    .is_some_and(|mut v| v.record(as_input));
                if tell {
                    let kind = EventKind::CastRejected {
                        seq: intent.seq,
                        slot: intent.slot,
                        reason,
                    };
                    world.resource_mut::<ZoneOutbox>().event(player, tick, kind);
                }
            }
            ZoneCommand::Respawn { player } => {
                if let Some(e) = frozen_or(world, player)
                    && world.get::<Dead>(e).is_some()
                {
                    world.entity_mut(e).insert(RespawnRequested);
                }
            }
            ZoneCommand::Admin {
                player,
                seq,
                command,
            } => {
                if frozen_or(world, player).is_some() {
                    crate::admin::handle(world, player, seq, command);
                }
            }
            ZoneCommand::Leave { player } => remove_player(world, player),
            ZoneCommand::Input {
                player,
                input,
                received_us,
            } => {
                // Input for a player this zone does not own, or one frozen for a
                // transfer, is ignored.
                let Some(e) = world.resource::<PlayerIndex>().get(player) else {
                    continue;
                };
                // One entity lookup for both checks (this runs for every input).
                let Ok(mut entity) = world.get_entity_mut(e) else {
                    continue;
                };
                if entity.contains::<Transferring>() {
                    continue;
                }
                let Some(mut stream) = entity.get_mut::<PlayerInput>() else {
                    continue;
                };
                let reason = match stream.accept(input, received_us, &limits) {
                    Ok(Accepted::Queued) => continue,
                    Ok(Accepted::Superseded) => {
                        world.resource_mut::<ZoneCounters>().inputs_superseded += 1;
                        continue;
                    }
                    Err(reason) => reason,
                };
                world.resource_mut::<ZoneCounters>().inputs_rejected[reason as usize] += 1;
                let tell = world
                    .get_mut::<Violations>(e)
                    .is_some_and(|mut v| v.record(reason));
                if tell {
                    let kind = EventKind::InputRejected {
                        seq: input.seq,
                        reason,
                    };
                    world.resource_mut::<ZoneOutbox>().event(player, tick, kind);
                }
            }
            ZoneCommand::Ack {
                player,
                snapshot_id,
            } => {
                let Some(e) = world.resource::<PlayerIndex>().get(player) else {
                    continue;
                };
                if let Some(mut link) = world.get_mut::<SnapshotLink>(e) {
                    link.sender.ack(snapshot_id);
                }
            }
        }
    }
    // Hand the (now empty) buffer back so its capacity is reused next tick.
    world.resource_mut::<CommandInbox>().0 = commands;
}

/// Removes a player from the zone with its final save (a `Logout`), unless it is being
/// handed over: then the handoff record is the only state that may be kept.
fn remove_player(world: &mut World, player: PlayerId) {
    let Some(e) = world.resource_mut::<PlayerIndex>().remove(player) else {
        return;
    };
    if world.get::<Transferring>(e).is_none()
        && let Some(state) = crate::persist::saved_state(world, e)
    {
        world
            .resource_mut::<ZoneOutbox>()
            .0
            .push(ZoneOutput::Logout { player, state });
    }
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
