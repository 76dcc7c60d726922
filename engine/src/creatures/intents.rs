//! Capture and breed intents (ingest's handlers): every check the server makes, the
//! roll, and the roster change, all within the command, so nothing is half done.

use arcane_protocol::messages::RejectReason;
use arcane_protocol::{
    BreedOutcome, BreedRefusal, CaptureOutcome, CaptureRefusal, CreatureId, EventKind, NetId,
};
use bevy_ecs::prelude::*;

use super::breeding::lineage_allows;
use super::cells::BreedingCells;
use super::genome::Genome;
use super::roster::{CreatureIds, CreatureIntents, OwnedCreature, Roster, tell};
use super::stream;
use super::wild::WildCreature;
use crate::combat::{Health, Slain};
use crate::common::commands::Rejection;
use crate::common::components::{Dead, Position};
use crate::common::io::{PlayerId, ZoneCommand, ZoneOutbox};
use crate::common::spatial::SpatialIndex;
use crate::common::state::{ZoneClock, ZoneCounters, ZoneSettings};
use crate::content::ZoneContent;
use crate::rng::{ZoneRng, ZoneStream};

/// The key of one intent's stream: the player and the intent's sequence number.
fn subject(player: PlayerId, seq: u32) -> u64 {
    player.0.rotate_left(32) ^ u64::from(seq)
}

/// `ZoneCommand::Capture`.
pub(super) fn capture(entity: &mut EntityWorldMut<'_>, command: &ZoneCommand) -> Option<Rejection> {
    let &ZoneCommand::Capture {
        player,
        seq,
        target,
    } = command
    else {
        return None;
    };
    let me = entity.id();
    let stale = !entity.get_mut::<CreatureIntents>()?.accept(seq);
    let outcome = if stale {
        CaptureOutcome::Refused(CaptureRefusal::StaleSequence)
    } else {
        entity.world_scope(|world| try_capture(world, me, player, seq, target))
    };
    let mut counters = entity.resource_mut::<ZoneCounters>();
    match outcome {
        CaptureOutcome::Captured { .. } => counters.captures += 1,
        CaptureOutcome::Escaped => counters.capture_escapes += 1,
        CaptureOutcome::Refused(r) => counters.capture_refused[r as usize] += 1,
    }
    let event = EventKind::CaptureResult {
        seq,
        target,
        outcome,
    };
    answer(entity, player, stale, event)
}

/// Tells the player what came of an intent: a replay as a [`Rejection`] (it counts
/// toward a kick, and ingest sends the event), anything else as a plain event.
fn answer(
    entity: &mut EntityWorldMut<'_>,
    player: PlayerId,
    stale: bool,
    event: EventKind,
) -> Option<Rejection> {
    if stale {
        return Some(Rejection {
            reason: RejectReason::StaleSequence,
            event,
        });
    }
    let tick = entity.resource::<ZoneClock>().tick as u32;
    entity
        .resource_mut::<ZoneOutbox>()
        .event(player, tick, event);
    None
}

fn try_capture(
    world: &mut World,
    me: Entity,
    player: PlayerId,
    seq: u32,
    target: NetId,
) -> CaptureOutcome {
    world.resource_scope(|world, settings: Mut<ZoneSettings>| {
        capture_with(world, &settings.0, me, player, seq, target)
    })
}

fn capture_with(
    world: &mut World,
    content: &ZoneContent,
    me: Entity,
    player: PlayerId,
    seq: u32,
    target: NetId,
) -> CaptureOutcome {
    use CaptureRefusal as R;
    let tick = world.resource::<ZoneClock>().tick;
    let rules = &content.creatures.capture;
    let refused = CaptureOutcome::Refused;
    if world.get::<Dead>(me).is_some() {
        return refused(R::Dead);
    }
    let ready = world
        .get::<CreatureIntents>(me)
        .map_or(0, |i| i.capture_ready_tick);
    if tick < ready {
        return refused(R::Cooldown);
    }
    let owned = world.get::<Roster>(me).map_or(0, |r| r.creatures.len());
    if owned >= usize::from(content.creatures.roster_capacity) {
        return refused(R::RosterFull);
    }
    let Some(e) = world.resource::<SpatialIndex>().entity(target) else {
        return refused(R::NotACreature);
    };
    let (Some(wild), Some(health), Some(pos), None) = (
        world.get::<WildCreature>(e).cloned(),
        world.get::<Health>(e).copied(),
        world.get::<Position>(e).copied(),
        world.get::<Slain>(e),
    ) else {
        return refused(R::NotACreature);
    };
    if health.hp == 0 {
        return refused(R::NotACreature);
    }
    let from = world.get::<Position>(me).map_or(pos.0, |p| p.0);
    if from.distance(pos.0) > rules.range {
        return refused(R::OutOfRange);
    }
    if !content.zone.line_of_sight(from, pos.0) {
        return refused(R::NoLineOfSight);
    }
    let fraction = health.hp as f32 / health.max.max(1) as f32;
    if fraction > rules.max_hp_fraction {
        return refused(R::TooHealthy);
    }
    let difficulty = content
        .creatures
        .species
        .get(usize::from(wild.species))
        .map_or(1.0, |s| s.capture_difficulty);
    let chance = (rules.base_chance * (1.0 - difficulty) + rules.weakness_bonus * (1.0 - fraction))
        .clamp(0.0, 1.0);
    let cooldown = content.ticks(rules.cooldown_s, 0);
    let seed = world.resource::<ZoneRng>().seed;
    let mut rng = ZoneStream::keyed(seed, subject(player, seq), tick, stream::CAPTURE);
    let roll = rng.unit();
    if let Some(mut i) = world.get_mut::<CreatureIntents>(me) {
        i.capture_ready_tick = tick + cooldown;
    }
    if roll >= chance {
        return CaptureOutcome::Escaped;
    }
    let Some(id) = world.resource_mut::<CreatureIds>().take() else {
        tracing::error!("this zone process has used its whole block of creature ids");
        return CaptureOutcome::Escaped;
    };
    let owned = OwnedCreature {
        id,
        species: content
            .creatures
            .species
            .get(usize::from(wild.species))
            .map_or_else(String::new, |s| s.id.clone()),
        gene_version: wild.genome.version,
        genome: wild.genome.to_saved(&content.creatures),
        parents: None,
        generation: wild.generation,
        born_zone: content.zone.id.clone(),
        born_tick: wild.born_tick,
        hatch_tick: None,
        breed_ready_tick: wild.breed_ready_tick,
    };
    let view = owned.view(content);
    let (cell, species) = (wild.cell, usize::from(wild.species));
    // One command: the creature leaves the world and joins the roster.
    world
        .resource_mut::<BreedingCells>()
        .remove(cell, species, e);
    world.despawn(e);
    if let Some(mut roster) = world.get_mut::<Roster>(me) {
        roster.creatures.push(owned);
    }
    tell(&mut world.resource_mut::<ZoneOutbox>(), player, tick, view);
    CaptureOutcome::Captured { creature: id }
}

/// `ZoneCommand::Breed`.
pub(super) fn breed(entity: &mut EntityWorldMut<'_>, command: &ZoneCommand) -> Option<Rejection> {
    let &ZoneCommand::Breed {
        player,
        seq,
        first,
        second,
    } = command
    else {
        return None;
    };
    let me = entity.id();
    let stale = !entity.get_mut::<CreatureIntents>()?.accept(seq);
    let outcome = if stale {
        BreedOutcome::Refused(BreedRefusal::StaleSequence)
    } else {
        entity.world_scope(|world| try_breed(world, me, player, seq, (first, second)))
    };
    let mut counters = entity.resource_mut::<ZoneCounters>();
    match outcome {
        BreedOutcome::EggLaid { .. } => counters.breeds += 1,
        BreedOutcome::Refused(r) => counters.breed_refused[r as usize] += 1,
    }
    answer(
        entity,
        player,
        stale,
        EventKind::BreedResult { seq, outcome },
    )
}

fn try_breed(
    world: &mut World,
    me: Entity,
    player: PlayerId,
    seq: u32,
    pair: (CreatureId, CreatureId),
) -> BreedOutcome {
    world.resource_scope(|world, settings: Mut<ZoneSettings>| {
        breed_with(world, &settings.0, me, player, seq, pair)
    })
}

fn breed_with(
    world: &mut World,
    content: &ZoneContent,
    me: Entity,
    player: PlayerId,
    seq: u32,
    (first, second): (CreatureId, CreatureId),
) -> BreedOutcome {
    use BreedRefusal as R;
    let refused = BreedOutcome::Refused;
    let tick = world.resource::<ZoneClock>().tick;
    let c = &content.creatures;
    if world.get::<Dead>(me).is_some() {
        return refused(R::Dead);
    }
    if first == second {
        return refused(R::SameCreature);
    }
    let Some(roster) = world.get::<Roster>(me) else {
        return refused(R::NotOwned);
    };
    let hatched = |id| roster.get(id).filter(|o| o.hatch_tick.is_none());
    let (Some(a), Some(b)) = (hatched(first), hatched(second)) else {
        return refused(R::NotOwned);
    };
    if roster.creatures.len() >= usize::from(c.roster_capacity) {
        return refused(R::RosterFull);
    }
    if tick < a.breed_ready_tick || tick < b.breed_ready_tick {
        return refused(R::Cooldown);
    }
    let Some(child) = c.offspring_of(&a.species, &b.species) else {
        return refused(R::Incompatible);
    };
    if !lineage_allows(
        &c.breeding,
        (a.id, a.parents, a.generation),
        (b.id, b.parents, b.generation),
    ) {
        return refused(R::Lineage);
    }
    let seed = world.resource::<ZoneRng>().seed;
    let mut rng = ZoneStream::keyed(seed, subject(player, seq), tick, stream::BREED);
    let genome = Genome::inherit(
        c,
        &Genome::from_saved(c, &a.genome),
        &Genome::from_saved(c, &b.genome),
        &mut rng,
    );
    let Some(id) = world.resource_mut::<CreatureIds>().take() else {
        tracing::error!("this zone process has used its whole block of creature ids");
        return refused(R::RosterFull);
    };
    let Some(roster) = world.get::<Roster>(me) else {
        return refused(R::NotOwned);
    };
    let (Some(a), Some(b)) = (roster.get(first), roster.get(second)) else {
        return refused(R::NotOwned);
    };
    let hatch_tick = tick + content.ticks(c.breeding.incubation_s, 1);
    let egg = OwnedCreature {
        id,
        species: c.species[child].id.clone(),
        gene_version: genome.version,
        genome: genome.to_saved(c),
        parents: Some((first, second)),
        generation: a.generation.max(b.generation).saturating_add(1),
        born_zone: content.zone.id.clone(),
        born_tick: tick,
        hatch_tick: Some(hatch_tick),
        breed_ready_tick: hatch_tick
            + content.ticks(content.creatures.species[child].adult_after_s, 0),
    };
    let cooldown = tick + content.ticks(c.breeding.cooldown_s, 0);
    if let Some(mut roster) = world.get_mut::<Roster>(me) {
        for o in roster.creatures.iter_mut() {
            if o.id == first || o.id == second {
                o.breed_ready_tick = cooldown;
            }
        }
        roster.creatures.push(egg);
    }
    let views: Vec<_> = world.get::<Roster>(me).map_or_else(Vec::new, |r| {
        r.creatures
            .iter()
            .filter(|o| [first, second, id].contains(&o.id))
            .map(|o| o.view(content))
            .collect()
    });
    let mut outbox = world.resource_mut::<ZoneOutbox>();
    for v in views {
        tell(&mut outbox, player, tick, v);
    }
    BreedOutcome::EggLaid {
        egg: id,
        hatch_tick: hatch_tick.min(u64::from(u32::MAX)) as u32,
    }
}
