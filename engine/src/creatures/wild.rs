//! Wild creatures: the starting populations, behaviour by temperament (docile ones
//! wander, skittish ones flee players, aggressive ones bite weakened players), the
//! cells' breeding timers, deaths, and adapting to new content.

use arcane_protocol::{EntityKind, NetId};
use bevy_ecs::prelude::*;
use glam::Vec2;

use super::cells::BreedingCells;
use super::genome::{Genome, Phenotype, Temperament};
use super::stream;
use crate::combat::{Health, Hit, HitQueue, Slain, Team};
use crate::common::components::{Dead, MoveSpeed, NetIdAllocator, Player, Position, Replicated};
use crate::common::events::ContentReloaded;
use crate::common::geometry::next_position;
use crate::common::spatial::CellGrid;
use crate::common::state::{ZoneClock, ZoneCounters, ZoneSettings};
use crate::content::{FLEE_SPEED_FACTOR, ZoneContent};
use crate::rng::{ZoneRng, ZoneStream};

/// Skittish creatures run from players closer than this (metres).
pub const FLEE_RADIUS: f32 = 8.0;
/// Aggressive creatures go for weakened players closer than this (metres).
pub const AGGRO_RADIUS: f32 = 6.0;
/// A bite lands within this distance (metres).
pub const BITE_RANGE: f32 = 1.5;
/// A player at or below this fraction of their HP counts as weak.
pub const WEAK_FRACTION: f32 = 0.5;
/// Ticks between two bites of one creature.
pub const BITE_EVERY_TICKS: u64 = 30;
/// Creatures look around once every this many ticks (staggered by id).
const SENSE_EVERY_TICKS: u64 = 4;

/// A wild creature: its species, genome and lineage, and the cell it lives in.
#[derive(Component, Debug, Clone)]
pub struct WildCreature {
    /// Zone-local id (lineage between wild creatures; it gets a real id if caught).
    pub wild_id: u32,
    /// Index into the content's species.
    pub species: u16,
    pub genome: Genome,
    pub parents: Option<(u32, u32)>,
    pub generation: u16,
    pub born_tick: u64,
    /// From this tick it may breed (adult, and its cooldown over).
    pub breed_ready_tick: u64,
    pub cell: u32,
    pub traits: Phenotype,
}

/// What a wild creature is doing: its walk leg and when it may bite again.
#[derive(Component, Debug, Clone, Default)]
pub struct CreatureMind {
    pub dir: Vec2,
    pub ticks_left: u32,
    /// Run faster while fleeing.
    pub fleeing: bool,
    pub bite_ready_tick: u64,
}

/// Hands out zone-local wild ids.
#[derive(Resource, Default, Debug)]
pub struct WildIds(pub u32);

/// The packed wire variant of a creature (`arcane_protocol::creatures::variant`).
fn wire_variant(content: &ZoneContent, species: u16, genome: &Genome) -> u16 {
    let c = &content.creatures;
    let mut shown = [0u8; 2];
    for (slot, gene) in c.visible_genes().into_iter().enumerate() {
        shown[slot] = genome.expressed_allele(c, gene).unwrap_or(0);
    }
    arcane_protocol::creatures::variant::pack(species.min(255) as u8, shown)
}

/// Everything a new wild creature is made of.
pub struct Newborn {
    pub species: u16,
    pub genome: Genome,
    pub parents: Option<(u32, u32)>,
    pub generation: u16,
    pub at: Vec2,
    /// Full HP unless given.
    pub hp: Option<u32>,
}

/// Spawns a wild creature where its cell has room for its species; `None` (nothing
/// spawned) when it does not, or the zone has no grid.
pub fn spawn_creature(
    commands: &mut Commands,
    cells: &mut BreedingCells,
    ids: &mut NetIdAllocator,
    wild_ids: &mut WildIds,
    content: &ZoneContent,
    tick: u64,
    born: Newborn,
) -> Option<Entity> {
    let species = content.creatures.species.get(usize::from(born.species))?;
    let cell = cells.cell_of(born.at)?;
    if !cells.has_room(cell, usize::from(born.species)) {
        return None;
    }
    wild_ids.0 = wild_ids.0.wrapping_add(1);
    let traits = born.genome.phenotype(&content.creatures, species);
    let mut health = Health::full(traits.max_hp);
    if let Some(hp) = born.hp {
        health.hp = hp.clamp(1, traits.max_hp);
    }
    let adult = content.ticks(species.adult_after_s, 0);
    let e = commands
        .spawn((
            Replicated {
                net_id: ids.allocate(),
                kind: EntityKind::Creature,
                variant: wire_variant(content, born.species, &born.genome),
            },
            Position(born.at),
            MoveSpeed(traits.speed),
            health,
            Team::Enemies,
            CreatureMind::default(),
            WildCreature {
                wild_id: wild_ids.0,
                species: born.species,
                genome: born.genome,
                parents: born.parents,
                generation: born.generation,
                born_tick: tick,
                breed_ready_tick: tick + adult,
                cell,
                traits,
            },
        ))
        .id();
    cells.add(cell, usize::from(born.species), e);
    Some(e)
}

/// Places every population's starting creatures at random walkable points of its
/// area, in cells with room (run once, at the zone's start).
pub fn spawn_initial(world: &mut World) {
    let content = world.resource::<ZoneSettings>().0.clone();
    let seed = world.resource::<ZoneRng>().seed;
    world.insert_resource(BreedingCells::build(&content, seed, 0));
    let populations = content
        .zone
        .wild
        .as_ref()
        .map_or(&[][..], |w| &w.populations);
    with_spawner(world, |sp| {
        for (pi, pop) in populations.iter().enumerate() {
            let Some(species) = content.creatures.species_index(&pop.species) else {
                continue;
            };
            let mut rng = ZoneStream::keyed(seed, pi as u64, 0, stream::PLACE);
            for _ in 0..pop.initial {
                for _ in 0..64 {
                    let at = Vec2::new(
                        rng.range(pop.area.min.x, pop.area.max.x),
                        rng.range(pop.area.min.y, pop.area.max.y),
                    );
                    if !content.zone.is_walkable(at) {
                        continue;
                    }
                    let born = Newborn {
                        species: species as u16,
                        genome: Genome::random(&content.creatures, &mut rng),
                        parents: None,
                        generation: 0,
                        at,
                        hp: None,
                    };
                    if sp.spawn(&content, 0, born).is_some() {
                        break;
                    }
                }
            }
        }
    });
}

/// What spawning creatures from outside a system needs.
pub struct Spawner<'a, 'w, 's> {
    pub commands: Commands<'w, 's>,
    pub cells: &'a mut BreedingCells,
    pub ids: &'a mut NetIdAllocator,
    pub wild_ids: &'a mut WildIds,
}

impl Spawner<'_, '_, '_> {
    pub fn spawn(&mut self, content: &ZoneContent, tick: u64, born: Newborn) -> Option<Entity> {
        spawn_creature(
            &mut self.commands,
            self.cells,
            self.ids,
            self.wild_ids,
            content,
            tick,
            born,
        )
    }
}

/// Runs `f` with a [`Spawner`] over `world` (startup, admin commands), then applies
/// what it spawned.
pub fn with_spawner<R>(world: &mut World, f: impl FnOnce(&mut Spawner<'_, '_, '_>) -> R) -> R {
    let mut cells = std::mem::take(&mut *world.resource_mut::<BreedingCells>());
    let mut ids = std::mem::take(&mut *world.resource_mut::<NetIdAllocator>());
    let mut wild_ids = std::mem::take(&mut *world.resource_mut::<WildIds>());
    let mut queue = bevy_ecs::world::CommandQueue::default();
    let out = {
        let mut sp = Spawner {
            commands: Commands::new(&mut queue, world),
            cells: &mut cells,
            ids: &mut ids,
            wild_ids: &mut wild_ids,
        };
        f(&mut sp)
    };
    *world.resource_mut::<NetIdAllocator>() = ids;
    *world.resource_mut::<WildIds>() = wild_ids;
    *world.resource_mut::<BreedingCells>() = cells;
    queue.apply(world);
    out
}

/// Players a creature may react to: where they are and how hurt.
type PlayerTargets<'w, 's> = Query<
    'w,
    's,
    (Entity, &'static Position, &'static Health),
    (With<Player>, Without<Dead>, Without<WildCreature>),
>;

/// Side of the grid creatures look players up in: the widest sensing radius.
const SENSE_CELL_M: f32 = FLEE_RADIUS.max(AGGRO_RADIUS);

/// A player as creatures sense it.
#[derive(Debug, Clone, Copy)]
pub struct Sensed {
    entity: Entity,
    hp: u32,
    max: u32,
}

/// Decides each creature's leg by temperament, bites, and walks it, keeping to cells
/// with room for its species.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn creature_behaviour(
    mut creatures: Query<
        (
            Entity,
            &Replicated,
            &mut Position,
            &MoveSpeed,
            &mut WildCreature,
            &mut CreatureMind,
        ),
        Without<Slain>,
    >,
    players: PlayerTargets,
    // Living players by cell, built once a tick: one pass over the players instead of
    // an R-tree query per sensing creature (a zone has far fewer players).
    mut near: Local<CellGrid<Sensed>>,
    mut cells: ResMut<BreedingCells>,
    mut hits: ResMut<HitQueue>,
    mut rng: ResMut<ZoneRng>,
    settings: Res<ZoneSettings>,
    clock: Res<ZoneClock>,
) {
    let zone = &settings.0.zone;
    let tick = clock.tick;
    if creatures.is_empty() {
        return;
    }
    let rng = &mut rng.creatures;
    near.rebuild(
        SENSE_CELL_M,
        players.iter().map(|(entity, p, h)| {
            (
                p.0,
                Sensed {
                    entity,
                    hp: h.hp,
                    max: h.max,
                },
            )
        }),
    );
    for (e, rep, mut pos, speed, mut me, mut mind) in &mut creatures {
        let sense = me.traits.temperament != Temperament::Docile
            && (u64::from(me.wild_id) + tick).is_multiple_of(SENSE_EVERY_TICKS);
        if sense {
            sense_players(e, rep.net_id, pos.0, &me, &mut mind, &near, &mut hits, tick);
        }
        if mind.ticks_left == 0 {
            mind.fleeing = false;
            mind.ticks_left = 20 + rng.below(80);
            mind.dir = if rng.chance(0.4) {
                Vec2::ZERO
            } else {
                Vec2::from_angle(rng.range(0.0, std::f32::consts::TAU))
            };
        }
        mind.ticks_left -= 1;
        if mind.dir == Vec2::ZERO {
            continue;
        }
        let factor = if mind.fleeing { FLEE_SPEED_FACTOR } else { 1.0 };
        let next = next_position(zone, pos.0, mind.dir, speed.0 * factor * clock.dt);
        let Some(cell) = cells.cell_of(next) else {
            continue;
        };
        let species = usize::from(me.species);
        if next == pos.0 || (cell != me.cell && !cells.has_room(cell, species)) {
            // Blocked by a wall or a full cell: a new leg next tick.
            mind.ticks_left = 0;
            continue;
        }
        if cell != me.cell {
            cells.remove(me.cell, species, e);
            cells.add(cell, species, e);
            me.cell = cell;
        }
        pos.0 = next;
    }
}

/// A skittish creature turns away from the nearest player; an aggressive one goes
/// for the weakest nearby player at or below [`WEAK_FRACTION`] and bites in reach.
#[allow(clippy::too_many_arguments)]
fn sense_players(
    me_entity: Entity,
    me_net: NetId,
    at: Vec2,
    me: &WildCreature,
    mind: &mut CreatureMind,
    near: &CellGrid<Sensed>,
    hits: &mut HitQueue,
    tick: u64,
) {
    let radius = match me.traits.temperament {
        Temperament::Skittish => FLEE_RADIUS,
        _ => AGGRO_RADIUS,
    };
    let mut best: Option<(Entity, Vec2, f32)> = None;
    near.within(at, radius, |p, p_at, d2| {
        if p.hp == 0 {
            return;
        }
        let score = match me.traits.temperament {
            Temperament::Aggressive => {
                if (p.hp as f32) > WEAK_FRACTION * p.max as f32 {
                    return;
                }
                p.hp as f32
            }
            _ => d2,
        };
        // Ties go to the lower entity, so the choice is the same in a replay.
        if best.is_none_or(|(be, _, bs)| score < bs || (score == bs && p.entity < be)) {
            best = Some((p.entity, p_at, score));
        }
    });
    let Some((target, p, _)) = best else {
        return;
    };
    match me.traits.temperament {
        Temperament::Skittish => {
            mind.dir = (at - p).normalize_or(Vec2::X);
            mind.fleeing = true;
            mind.ticks_left = 10;
        }
        Temperament::Aggressive => {
            mind.fleeing = false;
            if at.distance(p) <= BITE_RANGE {
                mind.dir = Vec2::ZERO;
                mind.ticks_left = SENSE_EVERY_TICKS as u32;
                if tick >= mind.bite_ready_tick {
                    mind.bite_ready_tick = tick + BITE_EVERY_TICKS;
                    hits.0.push(Hit {
                        source: me_entity,
                        source_net: me_net,
                        target,
                        amount: me.traits.bite,
                        heal: false,
                        slot: None,
                        knockback: Vec2::ZERO,
                    });
                }
            } else {
                mind.dir = (p - at).normalize_or_zero();
                mind.ticks_left = SENSE_EVERY_TICKS as u32;
            }
        }
        Temperament::Docile => {}
    }
}

/// Slain creatures leave their cell and the world.
pub fn remove_slain_creatures(
    mut commands: Commands,
    slain: Query<(Entity, &WildCreature), With<Slain>>,
    mut cells: ResMut<BreedingCells>,
    mut counters: ResMut<ZoneCounters>,
) {
    for (e, c) in &slain {
        cells.remove(c.cell, usize::from(c.species), e);
        counters.creature_deaths += 1;
        commands.entity(e).despawn();
    }
}

/// New content: species are matched by id (creatures of a species that is gone are
/// removed from the world, with a log line), phenotypes and the wire variant are
/// recomputed from the genomes, and the grid is rebuilt with the new caps around the
/// creatures where they stand (a lowered cap stops births until deaths and captures
/// bring the cell under it; nobody is culled).
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn adapt_wild_to_content(
    reloaded: On<ContentReloaded>,
    mut commands: Commands,
    mut creatures: Query<(
        Entity,
        &Replicated,
        &Position,
        &mut WildCreature,
        &mut Health,
        &mut MoveSpeed,
    )>,
    mut cells: ResMut<BreedingCells>,
    mut counters: ResMut<ZoneCounters>,
    settings: Res<ZoneSettings>,
    rng: Res<ZoneRng>,
    clock: Res<ZoneClock>,
) {
    let content = &settings.0;
    let old = &reloaded.old.creatures;
    *cells = BreedingCells::build(content, rng.seed, clock.tick);
    let mut removed = 0u64;
    let mut rows: Vec<_> = creatures.iter_mut().collect();
    rows.sort_by_key(|(_, _, _, c, _, _)| c.wild_id);
    for (e, rep, pos, mut c, mut health, mut speed) in rows {
        let id = old
            .species
            .get(usize::from(c.species))
            .map(|s| s.id.as_str());
        let Some(s) = id.and_then(|id| content.creatures.species_index(id)) else {
            removed += 1;
            commands.entity(e).despawn();
            continue;
        };
        let saved = c.genome.to_saved(old);
        c.genome = Genome::from_saved(&content.creatures, &saved);
        c.species = s as u16;
        c.traits = c
            .genome
            .phenotype(&content.creatures, &content.creatures.species[s]);
        health.max = c.traits.max_hp;
        health.hp = health.hp.min(health.max);
        speed.0 = c.traits.speed;
        let variant = wire_variant(content, c.species, &c.genome);
        if variant != rep.variant {
            commands.entity(e).insert(Replicated { variant, ..*rep });
        }
        if let Some(cell) = cells.cell_of(pos.0) {
            c.cell = cell;
            cells.add(cell, s, e);
        }
    }
    if removed > 0 {
        counters.creature_deaths += removed;
        tracing::warn!(
            removed,
            "content reload removed species that wild creatures belonged to; they left the world"
        );
    }
}
