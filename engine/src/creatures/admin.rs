//! The creature admin commands (test area, game masters): spawn a creature with a
//! given genome, set a cell's population, show a creature's genome and lineage, show
//! the cells' occupancy. Called by the admin plugin, which checks the role.

use std::fmt::Write as _;

use arcane_protocol::quant::cm_to_metres;
use arcane_protocol::{AdminCommand, CreatureId, NetId};
use bevy_ecs::prelude::*;
use glam::Vec2;

use super::cells::BreedingCells;
use super::genome::Genome;
use super::roster::Roster;
use super::stream;
use super::wild::{Newborn, WildCreature, with_spawner};
use crate::common::spatial::SpatialIndex;
use crate::common::state::{ZoneClock, ZoneSettings};
use crate::rng::{ZoneRng, ZoneStream};

/// Runs a creature admin command for the admin `me`.
pub fn run(world: &mut World, me: Entity, command: &AdminCommand) -> Result<String, String> {
    match command {
        AdminCommand::SpawnCreature {
            species,
            x_cm,
            y_cm,
            genes,
        } => spawn(world, species, point(*x_cm, *y_cm), genes),
        AdminCommand::SetCellPopulation {
            species,
            x_cm,
            y_cm,
            count,
        } => set_population(world, species, point(*x_cm, *y_cm), *count),
        AdminCommand::ShowCreature { target, creature } => show(world, me, *target, *creature),
        AdminCommand::ShowCells {
            x_cm,
            y_cm,
            radius_m,
        } => Ok(show_cells(world, point(*x_cm, *y_cm), *radius_m as f32)),
        other => Err(format!("not a creature command: {other:?}")),
    }
}

fn point(x_cm: i32, y_cm: i32) -> Vec2 {
    Vec2::new(cm_to_metres(x_cm), cm_to_metres(y_cm))
}

fn species_index(world: &World, id: &str) -> Result<usize, String> {
    world
        .resource::<ZoneSettings>()
        .0
        .creatures
        .species_index(id)
        .ok_or_else(|| format!("unknown species {id:?}"))
}

/// A fresh stream for one admin action (keyed by tick and a counter of this tick).
fn admin_rng(world: &World, salt: u64) -> ZoneStream {
    let tick = world.resource::<ZoneClock>().tick;
    ZoneStream::keyed(world.resource::<ZoneRng>().seed, salt, tick, stream::ADMIN)
}

fn spawn(
    world: &mut World,
    species: &str,
    at: Vec2,
    genes: &[(String, String)],
) -> Result<String, String> {
    let s = species_index(world, species)?;
    let content = world.resource::<ZoneSettings>().0.clone();
    if !content.zone.is_walkable(at) {
        return Err(format!(
            "({}, {}) is outside the zone or inside an obstacle",
            at.x, at.y
        ));
    }
    let cells = world.resource::<BreedingCells>();
    let cell = cells
        .cell_of(at)
        .ok_or("this zone has no wild creatures (no `wild` in its content)")?;
    if !cells.has_room(cell, s) {
        return Err(format!(
            "cell {cell} is full for {species} ({} of {})",
            cells.count(cell, s),
            cells.cap(cell, s)
        ));
    }
    let mut rng = admin_rng(world, u64::from(cell));
    let mut genome = Genome::random(&content.creatures, &mut rng);
    for (gene, value) in genes {
        genome.set(&content.creatures, gene, value)?;
    }
    let tick = world.resource::<ZoneClock>().tick;
    let born = Newborn {
        species: s as u16,
        genome,
        parents: None,
        generation: 0,
        at,
        hp: None,
    };
    let e = with_spawner(world, |sp| sp.spawn(&content, tick, born)).ok_or("the cell is full")?;
    let net = world
        .get::<crate::common::components::Replicated>(e)
        .map_or(0, |r| r.net_id.0);
    Ok(format!(
        "spawned {species} (id {net}) in cell {cell} at ({}, {})",
        at.x, at.y
    ))
}

fn set_population(
    world: &mut World,
    species: &str,
    at: Vec2,
    count: u32,
) -> Result<String, String> {
    let s = species_index(world, species)?;
    let content = world.resource::<ZoneSettings>().0.clone();
    let cells = world.resource::<BreedingCells>();
    let cell = cells
        .cell_of(at)
        .ok_or("this zone has no wild creatures (no `wild` in its content)")?;
    let cap = cells.cap(cell, s);
    if count > cap {
        return Err(format!("cell {cell} holds at most {cap} {species}"));
    }
    let now = cells.count(cell, s);
    if count < now {
        let mut of_species: Vec<(u32, Entity)> = cells
            .members(cell)
            .iter()
            .filter_map(|&e| {
                let w = world.get::<WildCreature>(e)?;
                (usize::from(w.species) == s).then_some((w.wild_id, e))
            })
            .collect();
        of_species.sort_unstable();
        for &(_, e) in of_species.iter().rev().take((now - count) as usize) {
            world.resource_mut::<BreedingCells>().remove(cell, s, e);
            world.despawn(e);
        }
        return Ok(format!("cell {cell}: {species} {now} → {count} (of {cap})"));
    }
    let bounds = world
        .resource::<BreedingCells>()
        .cell_bounds(cell)
        .ok_or("no cell")?;
    let mut rng = admin_rng(world, u64::from(cell) | 1 << 40);
    let tick = world.resource::<ZoneClock>().tick;
    let made = with_spawner(world, |sp| {
        let mut made = 0;
        for _ in 0..(count - now) * 16 {
            if made == count - now {
                break;
            }
            let p = Vec2::new(
                rng.range(bounds.min.x, bounds.max.x),
                rng.range(bounds.min.y, bounds.max.y),
            );
            if !content.zone.is_walkable(p) {
                continue;
            }
            let born = Newborn {
                species: s as u16,
                genome: Genome::random(&content.creatures, &mut rng),
                parents: None,
                generation: 0,
                at: p,
                hp: None,
            };
            made += u32::from(sp.spawn(&content, tick, born).is_some());
        }
        made
    });
    Ok(format!(
        "cell {cell}: {species} {now} → {} (of {cap})",
        now + made
    ))
}

fn show(world: &mut World, me: Entity, target: NetId, id: CreatureId) -> Result<String, String> {
    let content = &world.resource::<ZoneSettings>().0;
    let c = &content.creatures;
    let mut out = String::new();
    if target.0 != 0 {
        let e = world
            .resource::<SpatialIndex>()
            .entity(target)
            .ok_or_else(|| format!("no entity with id {}", target.0))?;
        let w = world
            .get::<WildCreature>(e)
            .ok_or_else(|| format!("entity {} is not a wild creature", target.0))?;
        let species = c
            .species
            .get(usize::from(w.species))
            .map_or("?", |s| s.id.as_str());
        let _ = write!(
            out,
            "wild {species} #{} gen {} parents {:?} cell {} born tick {} hp max {} speed {:.2} bite {} {:?}; genes (table v{}):",
            w.wild_id,
            w.generation,
            w.parents,
            w.cell,
            w.born_tick,
            w.traits.max_hp,
            w.traits.speed,
            w.traits.bite,
            w.traits.temperament,
            w.genome.version
        );
        for t in w.genome.traits(c) {
            let _ = write!(out, " {}={}", t.gene, t.value);
        }
        return Ok(out);
    }
    let roster = world.get::<Roster>(me).ok_or("you have no roster")?;
    let o = roster
        .get(id)
        .ok_or_else(|| format!("you own no creature {id}"))?;
    let v = o.view(content);
    let _ = write!(
        out,
        "{} {} gen {} born {}@{} gene table v{}{}; genes:",
        v.species,
        v.id,
        v.generation,
        o.born_zone,
        o.born_tick,
        v.gene_version,
        if o.hatch_tick.is_some() { " (egg)" } else { "" }
    );
    for t in &v.traits {
        let _ = write!(out, " {}={}", t.gene, t.value);
    }
    // Lineage as far as the roster still holds the ancestors.
    let mut line = o.parents;
    let mut depth = 0;
    while let Some((a, b)) = line {
        let _ = write!(out, "; parents at depth {}: {a} × {b}", depth + 1);
        line = roster.get(a).and_then(|p| p.parents);
        depth += 1;
        if depth >= 8 {
            break;
        }
    }
    Ok(out)
}

fn show_cells(world: &World, at: Vec2, radius: f32) -> String {
    let cells = world.resource::<BreedingCells>();
    let species = &world.resource::<ZoneSettings>().0.creatures.species;
    let mut out = String::new();
    let mut last = None;
    for (cell, s, n, cap) in cells.occupancy() {
        let Some(b) = cells.cell_bounds(cell) else {
            continue;
        };
        let centre = (b.min + b.max) * 0.5;
        if centre.distance(at) > radius.max(0.0) + (b.max - b.min).length() * 0.5 {
            continue;
        }
        if last != Some(cell) {
            let _ = write!(
                out,
                "{}cell {cell} ({:.0},{:.0}):",
                if last.is_some() { "; " } else { "" },
                b.min.x,
                b.min.y
            );
            last = Some(cell);
        }
        let name = species.get(s).map_or("?", |s| s.id.as_str());
        let _ = write!(out, " {name} {n}/{cap}");
    }
    if out.is_empty() {
        "no breeding cells there".into()
    } else {
        out
    }
}
