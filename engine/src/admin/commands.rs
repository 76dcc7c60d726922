//! What each admin command does, and the answer its sender gets.

use arcane_protocol::quant::cm_to_metres;
use arcane_protocol::ticket::Role;
use arcane_protocol::{AdminCommand, EventKind, NetId};
use bevy_ecs::prelude::*;
use glam::Vec2;

use crate::combat::{EventBus, Health, Invulnerable, RespawnRequested, Slain};
use crate::common::commands::Rejection;
use crate::common::components::{Dead, NetIdAllocator, Player, Position, Replicated};
use crate::common::io::{ZoneCommand, ZoneOutbox};
use crate::common::state::{ZoneClock, ZoneCounters, ZoneSettings};
use crate::enemy_ai::{AdminSpawned, Enemy, Spawners, enemy_bundle};
use crate::skills::{Caster, Mana, Projectile};

/// Runs one `ZoneCommand::Admin` from the player `me` (ingest's handler).
pub(super) fn handle(entity: &mut EntityWorldMut<'_>, command: &ZoneCommand) -> Option<Rejection> {
    let me = entity.id();
    entity.world_scope(|world| run_command(world, me, command))
}

fn run_command(world: &mut World, me: Entity, command: &ZoneCommand) -> Option<Rejection> {
    let ZoneCommand::Admin {
        player,
        seq,
        command,
    } = command
    else {
        return None;
    };
    let (player, seq, command) = (*player, *seq, AdminCommand::clone(command));
    let is_admin = world
        .get::<Player>(me)
        .is_some_and(|p| p.role == Role::Admin);
    let result = if is_admin {
        world.resource_mut::<ZoneCounters>().admin_commands += 1;
        run(world, me, command)
    } else {
        world.resource_mut::<ZoneCounters>().admin_refused += 1;
        Err("admin commands need a ticket with the admin role".to_string())
    };
    let (ok, detail) = match result {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    let tick = world.resource::<ZoneClock>().tick as u32;
    world.resource_mut::<ZoneOutbox>().event(
        player,
        tick,
        EventKind::AdminResult { seq, ok, detail },
    );
    None
}

fn point(x_cm: i32, y_cm: i32) -> Vec2 {
    Vec2::new(cm_to_metres(x_cm), cm_to_metres(y_cm))
}

/// The entity a command names: `NetId(0)` is the sender.
fn target(world: &mut World, me: Entity, net: NetId) -> Result<Entity, String> {
    if net.0 == 0 {
        return Ok(me);
    }
    let mut q = world.query::<(Entity, &Replicated)>();
    q.iter(world)
        .find(|(_, r)| r.net_id == net)
        .map(|(e, _)| e)
        .ok_or_else(|| format!("no entity with id {}", net.0))
}

fn walkable(world: &World, p: Vec2) -> Result<(), String> {
    if world.resource::<ZoneSettings>().0.zone.is_walkable(p) {
        Ok(())
    } else {
        Err(format!(
            "({}, {}) is outside the zone or inside an obstacle",
            p.x, p.y
        ))
    }
}

fn run(world: &mut World, me: Entity, command: AdminCommand) -> Result<String, String> {
    match command {
        c @ (AdminCommand::SpawnCreature { .. }
        | AdminCommand::SetCellPopulation { .. }
        | AdminCommand::ShowCreature { .. }
        | AdminCommand::ShowCells { .. }) => crate::creatures::run_admin(world, me, &c),
        AdminCommand::SpawnEnemy { enemy, x_cm, y_cm } => {
            let at = point(x_cm, y_cm);
            walkable(world, at)?;
            let content = world.resource::<ZoneSettings>().0.clone();
            let def = content
                .enemy_index(&enemy)
                .ok_or_else(|| format!("unknown enemy type {enemy:?}"))?;
            let net_id = world.resource_mut::<NetIdAllocator>().allocate();
            world.spawn((
                enemy_bundle(&content, def as u16, at, None, net_id),
                AdminSpawned,
            ));
            Ok(format!(
                "spawned {enemy} (id {}) at ({}, {})",
                net_id.0, at.x, at.y
            ))
        }
        AdminCommand::ResetArea => Ok(reset_area(world)),
        AdminCommand::SetHp { target: net, hp } => {
            let e = target(world, me, net)?;
            let tick = world.resource::<ZoneClock>().tick;
            if hp == 0 && (world.get::<Dead>(e).is_some() || world.get::<Slain>(e).is_some()) {
                return Ok("already dead".into());
            }
            let Some(mut health) = world.get_mut::<Health>(e) else {
                return Err("that entity has no HP".into());
            };
            health.hp = hp.min(health.max);
            let (now, max) = (health.hp, health.max);
            let is_player = world.get::<Player>(e).is_some();
            let (pos, net_id) = match (world.get::<Position>(e), world.get::<Replicated>(e)) {
                (Some(p), Some(r)) => (p.0, r.net_id),
                _ => return Err("that entity has no position".into()),
            };
            if now == 0 {
                if is_player {
                    let delay = {
                        let c = &world.resource::<ZoneSettings>().0;
                        c.player_class()
                            .map_or(0, |k| c.ticks(k.respawn_delay_s, 0))
                    };
                    world.entity_mut(e).insert(Dead {
                        respawn_tick: tick + delay,
                    });
                    world.resource_mut::<ZoneCounters>().player_deaths += 1;
                } else {
                    world.entity_mut(e).insert(Slain);
                    world.resource_mut::<ZoneCounters>().kills += 1;
                }
                world.resource_mut::<EventBus>().area.push((
                    pos,
                    EventKind::Died {
                        entity: net_id,
                        killer: None,
                    },
                ));
            } else if is_player {
                // HP above 0 brings a dead player back where they lie.
                world.entity_mut(e).remove::<(Dead, RespawnRequested)>();
            }
            Ok(format!("id {} now has {now}/{max} HP", net_id.0))
        }
        AdminCommand::Teleport {
            target: net,
            x_cm,
            y_cm,
        } => {
            let e = target(world, me, net)?;
            let at = point(x_cm, y_cm);
            walkable(world, at)?;
            let Some(mut pos) = world.get_mut::<Position>(e) else {
                return Err("that entity has no position".into());
            };
            pos.0 = at;
            Ok(format!("moved to ({}, {})", at.x, at.y))
        }
        AdminCommand::SetInvulnerable { target: net, on } => {
            let e = target(world, me, net)?;
            if world.get::<Health>(e).is_none() {
                return Err("that entity has no HP".into());
            }
            if on {
                world.entity_mut(e).insert(Invulnerable {
                    until_tick: u64::MAX,
                });
            } else {
                world.entity_mut(e).remove::<Invulnerable>();
            }
            Ok(format!("invulnerability {}", if on { "on" } else { "off" }))
        }
    }
}

/// Removes every enemy and projectile, lets the spawners refill from scratch on this
/// tick's `Lifecycle`, and restores every player (alive, full HP and mana, no cooldowns).
fn reset_area(world: &mut World) -> String {
    let mut doomed = world.query_filtered::<Entity, Or<(With<Enemy>, With<Projectile>)>>();
    let doomed: Vec<Entity> = doomed.iter(world).collect();
    for e in &doomed {
        world.despawn(*e);
    }
    world.resource_mut::<Spawners>().slots.clear();
    let mut players = world.query_filtered::<Entity, With<Player>>();
    let players: Vec<Entity> = players.iter(world).collect();
    for e in &players {
        let mut ent = world.entity_mut(*e);
        ent.remove::<(Dead, RespawnRequested)>();
        if let Some(mut h) = ent.get_mut::<Health>() {
            h.hp = h.max;
        }
        if let Some(mut m) = ent.get_mut::<Mana>() {
            m.current = m.max;
        }
        if let Some(mut c) = ent.get_mut::<Caster>() {
            c.ready_tick.iter_mut().for_each(|t| *t = 0);
            c.gcd_ready_tick = 0;
            c.casting = None;
        }
    }
    format!(
        "reset: removed {} enemies and projectiles, restored {} players",
        doomed.len(),
        players.len()
    )
}
