//! Enemies under new content: each keeps its type by id (the list may have been
//! reordered) and takes its new maximum HP (current HP kept, clamped) and speed; an
//! enemy whose type was removed is despawned; spawner bookkeeping is rebuilt from the
//! enemies alive.

use bevy_ecs::prelude::*;

use super::Enemy;
use super::systems::Spawners;
use crate::combat::Health;
use crate::common::components::MoveSpeed;
use crate::common::events::ContentReloaded;
use crate::common::state::ZoneSettings;

pub(super) fn retune_enemies(
    reloaded: On<ContentReloaded>,
    settings: Res<ZoneSettings>,
    mut enemies: Query<(Entity, &mut Enemy, &mut Health, &mut MoveSpeed)>,
    mut spawners: ResMut<Spawners>,
    mut commands: Commands,
) {
    let (old, content) = (&reloaded.old, &settings.0);
    let mut alive = vec![0u32; content.zone.spawners.len()];
    for (e, mut enemy, mut h, mut speed) in &mut enemies {
        let id = old
            .enemies
            .get(usize::from(enemy.def))
            .map(|d| d.id.as_str());
        let Some(i) = id.and_then(|id| content.enemy_index(id)) else {
            commands.entity(e).despawn();
            continue;
        };
        let d = &content.enemies[i];
        enemy.def = i as u16;
        h.max = d.max_hp;
        h.hp = h.hp.min(h.max);
        speed.0 = d.speed;
        // A spawner that no longer exists (or now spawns something else) lets its
        // enemies live on unowned.
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
        if let Some(s) = enemy.spawner {
            alive[usize::from(s)] += 1;
        }
    }
    spawners.slots.resize_with(alive.len(), Default::default);
    for (slot, n) in spawners.slots.iter_mut().zip(alive) {
        slot.alive = n;
    }
}
