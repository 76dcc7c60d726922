//! Wild breeding ticks: each cell whose timer is due pairs its ready adults (in wild-id
//! order) by the content's crosses and lineage rules, and each pair has one offspring
//! near them while the cell has room for the offspring's species. Also the lineage
//! rule shared with player breeding.

use bevy_ecs::prelude::*;
use glam::Vec2;

use super::cells::BreedingCells;
use super::genome::Genome;
use super::stream;
use super::wild::{Newborn, WildCreature, WildIds, spawn_creature};
use crate::combat::Slain;
use crate::common::components::{NetIdAllocator, Position};
use crate::common::state::{ZoneClock, ZoneCounters, ZoneSettings};
use crate::content::BreedingRules;
use crate::rng::{ZoneRng, ZoneStream};

/// Whether two creatures may breed by lineage: the offspring's generation within the
/// limit and, unless close kin may, neither is the other's parent and they share no
/// parent.
pub fn lineage_allows<T: PartialEq + Copy>(
    rules: &BreedingRules,
    a: (T, Option<(T, T)>, u16),
    b: (T, Option<(T, T)>, u16),
) -> bool {
    let generation = a.2.max(b.2).saturating_add(1);
    if generation > rules.max_generation {
        return false;
    }
    if rules.allow_close_kin {
        return true;
    }
    let has_parent = |p: Option<(T, T)>, who: T| p.is_some_and(|(x, y)| x == who || y == who);
    let siblings = match (a.1, b.1) {
        (Some((a1, a2)), Some((b1, b2))) => a1 == b1 || a1 == b2 || a2 == b1 || a2 == b2,
        _ => false,
    };
    !(has_parent(a.1, b.0) || has_parent(b.1, a.0) || siblings)
}

/// One candidate parent in a firing cell.
struct Adult {
    entity: Entity,
    wild_id: u32,
    species: u16,
    parents: Option<(u32, u32)>,
    generation: u16,
    at: Vec2,
}

/// Buffers kept between ticks, so a firing cell allocates nothing.
#[derive(Default)]
pub struct Scratch {
    due: Vec<u32>,
    adults: Vec<Adult>,
    paired: Vec<bool>,
}

/// Fires the cells that are due: pairs, births, and the next timer of each.
#[allow(clippy::too_many_arguments)]
pub fn breed_wild_cells(
    mut commands: Commands,
    mut creatures: Query<(&mut WildCreature, &Position), Without<Slain>>,
    mut cells: ResMut<BreedingCells>,
    mut ids: ResMut<NetIdAllocator>,
    mut wild_ids: ResMut<WildIds>,
    mut counters: ResMut<ZoneCounters>,
    mut scratch: Local<Scratch>,
    rng: Res<ZoneRng>,
    settings: Res<ZoneSettings>,
    clock: Res<ZoneClock>,
) {
    if !cells.enabled() {
        return;
    }
    let content = &settings.0;
    let (tick, seed) = (clock.tick, rng.seed);
    let species = &content.creatures.species;
    let cooldown = content.ticks(content.creatures.breeding.cooldown_s, 0);
    let Scratch {
        due,
        adults,
        paired,
    } = &mut *scratch;
    due.clear();
    cells.due(tick, due);
    for &cell in due.iter() {
        let next = tick + cells.interval_ticks(content, seed, cell, tick);
        cells.schedule(cell, next);
        adults.clear();
        adults.extend(cells.members(cell).iter().filter_map(|&e| {
            let (c, p) = creatures.get(e).ok()?;
            (tick >= c.breed_ready_tick).then_some(Adult {
                entity: e,
                wild_id: c.wild_id,
                species: c.species,
                parents: c.parents,
                generation: c.generation,
                at: p.0,
            })
        }));
        if adults.len() < 2 {
            continue;
        }
        adults.sort_by_key(|a| a.wild_id);
        let mut rng = ZoneStream::keyed(seed, u64::from(cell), tick, stream::WILD_BIRTH);
        paired.clear();
        paired.resize(adults.len(), false);
        for i in 0..adults.len() {
            for j in i + 1..adults.len() {
                if paired[i] || paired[j] {
                    continue;
                }
                let (a, b) = (&adults[i], &adults[j]);
                let (Some(sa), Some(sb)) = (
                    species.get(usize::from(a.species)),
                    species.get(usize::from(b.species)),
                ) else {
                    continue;
                };
                let Some(child) = content.creatures.offspring_of(&sa.id, &sb.id) else {
                    continue;
                };
                let kin = |x: &Adult| (x.wild_id, x.parents, x.generation);
                if !cells.has_room(cell, child)
                    || !lineage_allows(&content.creatures.breeding, kin(a), kin(b))
                {
                    continue;
                }
                let (Ok((ca, _)), Ok((cb, _))) = (creatures.get(a.entity), creatures.get(b.entity))
                else {
                    continue;
                };
                let genome = Genome::inherit(&content.creatures, &ca.genome, &cb.genome, &mut rng);
                let bounds = cells.cell_bounds(cell);
                let mid = (a.at + b.at) * 0.5;
                let mut at = mid + Vec2::from_angle(rng.range(0.0, std::f32::consts::TAU)) * 1.5;
                if let Some(bb) = bounds {
                    at = at.clamp(bb.min, bb.max);
                }
                if !content.zone.is_walkable(at) || cells.cell_of(at) != Some(cell) {
                    at = mid;
                }
                let born = Newborn {
                    species: child as u16,
                    genome,
                    parents: Some((a.wild_id, b.wild_id)),
                    generation: a.generation.max(b.generation).saturating_add(1),
                    at,
                    hp: None,
                };
                let spawned = spawn_creature(
                    &mut commands,
                    &mut cells,
                    &mut ids,
                    &mut wild_ids,
                    content,
                    tick,
                    born,
                );
                if spawned.is_none() {
                    continue;
                }
                counters.creature_births += 1;
                paired[i] = true;
                paired[j] = true;
                for e in [a.entity, b.entity] {
                    if let Ok((mut c, _)) = creatures.get_mut(e) {
                        c.breed_ready_tick = tick + cooldown;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(max_generation: u16, allow_close_kin: bool) -> BreedingRules {
        BreedingRules {
            crosses: Vec::new(),
            cooldown_s: 1.0,
            incubation_s: 1.0,
            max_generation,
            allow_close_kin,
        }
    }

    #[test]
    fn parents_children_and_siblings_are_refused_unless_close_kin_may() {
        let strict = rules(10, false);
        let parent = (1u64, None, 0);
        let child = (3u64, Some((1, 2)), 1);
        let sibling = (4u64, Some((2, 9)), 1);
        let stranger = (5u64, Some((7, 8)), 1);
        assert!(!lineage_allows(&strict, parent, child));
        assert!(!lineage_allows(&strict, child, parent));
        assert!(!lineage_allows(&strict, child, sibling));
        assert!(lineage_allows(&strict, child, stranger));
        assert!(lineage_allows(&rules(10, true), child, sibling));
    }

    #[test]
    fn the_generation_limit_holds() {
        let r = rules(3, true);
        assert!(lineage_allows(&r, (1u64, None, 2), (2, None, 0)));
        assert!(!lineage_allows(&r, (1u64, None, 3), (2, None, 0)));
    }
}
