//! Applying new content to a running zone at a tick boundary (hot reload). New casts
//! and spawns use the new numbers at once; live entities pick up changed maximums and
//! speeds (current HP is kept, clamped to the new maximum); enemies whose type was
//! removed are despawned; spawner bookkeeping is rebuilt from the enemies alive.

use bevy_ecs::prelude::*;

use crate::combat::Health;
use crate::components::MoveSpeed;
use crate::content::ZoneContent;
use crate::enemy_ai::{Enemy, Spawners};
use crate::players::{Player, class_components};
use crate::skills::{Caster, Mana};
use crate::zone::{ZoneCounters, ZoneSettings};

/// Replaces the zone's content. The tick rate is fixed for a zone's life: a changed
/// `tick_rate_hz` is ignored (and reported) until the zone restarts.
pub fn apply(world: &mut World, mut content: ZoneContent) -> Result<(), String> {
    let old = world.resource::<ZoneSettings>().0.clone();
    if content.zone.id != old.zone.id {
        return Err(format!(
            "content is for zone {:?}, this zone is {:?}",
            content.zone.id, old.zone.id
        ));
    }
    if content.netcode.tick_rate_hz != old.netcode.tick_rate_hz {
        tracing::warn!(
            old = old.netcode.tick_rate_hz,
            new = content.netcode.tick_rate_hz,
            "tick_rate_hz changes need a zone restart; keeping the old rate"
        );
        content.netcode.tick_rate_hz = old.netcode.tick_rate_hz;
    }

    // Players: class maximums, regeneration, skill slots, speed.
    let (health, mana, caster) = class_components(&content);
    let mut players = world
        .query_filtered::<(&mut Health, &mut Mana, &mut Caster, &mut MoveSpeed), With<Player>>();
    for (mut h, mut m, mut c, mut speed) in players.iter_mut(world) {
        h.max = health.max;
        h.hp = h.hp.min(h.max);
        m.max = mana.max;
        m.regen_per_tick = mana.regen_per_tick;
        m.current = m.current.min(m.max);
        if c.slots != caster.slots {
            let n = caster.slots.len();
            c.slots.clone_from(&caster.slots);
            c.ready_tick.resize(n, 0);
            c.casting = None;
        }
        speed.0 = content.zone.player_speed;
    }

    // Enemies: re-resolve the type by id (the list may have been reordered).
    let mut gone = Vec::new();
    let mut enemies = world.query::<(Entity, &mut Enemy, &mut Health, &mut MoveSpeed)>();
    for (e, mut enemy, mut h, mut speed) in enemies.iter_mut(world) {
        let id = old
            .enemies
            .get(usize::from(enemy.def))
            .map(|d| d.id.as_str());
        match id.and_then(|id| content.enemy_index(id)) {
            Some(i) => {
                let d = &content.enemies[i];
                enemy.def = i as u16;
                h.max = d.max_hp;
                h.hp = h.hp.min(h.max);
                speed.0 = d.speed;
                // A spawner that no longer exists (or now spawns something else)
                // lets its enemies live on unowned.
                if let Some(s) = enemy.spawner {
                    let same = content
                        .zone
                        .spawners
                        .get(usize::from(s))
                        .is_some_and(|sp| sp.enemy == d.id);
                    if !same {
                        enemy.spawner = None;
                    }
                }
            }
            None => gone.push(e),
        }
    }
    for e in gone {
        world.despawn(e);
    }
    let mut alive = vec![0u32; content.zone.spawners.len()];
    let mut q = world.query::<&Enemy>();
    for enemy in q.iter(world) {
        if let Some(s) = enemy.spawner {
            alive[usize::from(s)] += 1;
        }
    }
    {
        let mut spawners = world.resource_mut::<Spawners>();
        spawners.slots.resize_with(alive.len(), Default::default);
        for (slot, n) in spawners.slots.iter_mut().zip(alive) {
            slot.alive = n;
        }
    }
    world.resource_mut::<ZoneSettings>().0 = content;
    world.resource_mut::<ZoneCounters>().content_reloads += 1;
    Ok(())
}
