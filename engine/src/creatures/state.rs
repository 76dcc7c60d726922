//! The creatures' part of the zone state for hashes and dumps: wild creatures with
//! their genomes and minds, rosters, the breeding grid and the id counters.

use bevy_ecs::prelude::*;
use serde::Serialize;

use super::cells::BreedingCells;
use super::genome::{Gene, Genome};
use super::roster::{CreatureIds, Roster};
use super::wild::{CreatureMind, WildCreature, WildIds};
use crate::common::components::Replicated;
use crate::common::state_hash::{Bits, RowSink, StateParts, v2};

/// Registers the parts; called from the plugin's `build`.
pub fn register(world: &mut World) {
    StateParts::add(world, "wild", wild_rows);
    StateParts::add(world, "rosters", roster_rows);
    StateParts::add(world, "breeding", |world, sink| {
        sink.row(0, &world.resource::<BreedingCells>().state_row());
        sink.row(1, &world.resource::<CreatureIds>().state_row());
        sink.row(2, &world.resource::<WildIds>().0);
    });
}

/// A genome as plain values: its version, then per gene the numeric value's bits or
/// the two allele indices.
type GenesRow = (u16, Vec<(Option<Bits>, Option<(u8, u8)>)>);

fn genes(g: &Genome) -> GenesRow {
    let genes = g
        .genes
        .iter()
        .map(|g| match *g {
            Gene::Numeric(v) => (Some(Bits(v)), None),
            Gene::Alleles(a, b) => (None, Some((a, b))),
        })
        .collect();
    (g.version, genes)
}

fn wild_rows(world: &mut World, sink: &mut dyn RowSink) {
    type Vec2Bits = (Bits, Bits);
    #[derive(Hash, Serialize)]
    struct Row {
        wild_id: u32,
        species: u16,
        genome: GenesRow,
        parents: Option<(u32, u32)>,
        generation: u16,
        born_tick: u64,
        breed_ready_tick: u64,
        cell: u32,
        traits: (u8, u32, Bits, u32),
        mind: Option<(Vec2Bits, u32, bool, u64)>,
    }
    let mut q = world.query::<(&Replicated, &WildCreature, Option<&CreatureMind>)>();
    for (r, c, m) in q.iter(world) {
        let row = Row {
            wild_id: c.wild_id,
            species: c.species,
            genome: genes(&c.genome),
            parents: c.parents,
            generation: c.generation,
            born_tick: c.born_tick,
            breed_ready_tick: c.breed_ready_tick,
            cell: c.cell,
            traits: (
                c.traits.temperament as u8,
                c.traits.max_hp,
                Bits(c.traits.speed),
                c.traits.bite,
            ),
            mind: m.map(|m| (v2(m.dir), m.ticks_left, m.fleeing, m.bite_ready_tick)),
        };
        sink.row(u64::from(r.net_id.0), &row);
    }
}

fn roster_rows(world: &mut World, sink: &mut dyn RowSink) {
    type Gene<'a> = (&'a str, Option<Bits>, Option<(&'a str, &'a str)>);
    #[derive(Hash, Serialize)]
    struct Entry<'a> {
        id: u64,
        species: &'a str,
        gene_version: u16,
        genome: Vec<Gene<'a>>,
        parents: Option<(u64, u64)>,
        generation: u16,
        born_zone: &'a str,
        born_tick: u64,
        hatch_tick: Option<u64>,
        breed_ready_tick: u64,
    }
    let mut q = world.query::<(&Replicated, &Roster)>();
    for (r, roster) in q.iter(world) {
        let entries: Vec<Entry> = roster
            .creatures
            .iter()
            .map(|c| Entry {
                id: c.id,
                species: &c.species,
                gene_version: c.gene_version,
                genome: c
                    .genome
                    .iter()
                    .map(|(k, g)| match g {
                        arcane_protocol::saved::SavedGene::Numeric(v) => {
                            (k.as_str(), Some(Bits(*v)), None)
                        }
                        arcane_protocol::saved::SavedGene::Alleles(a, b) => {
                            (k.as_str(), None, Some((a.as_str(), b.as_str())))
                        }
                    })
                    .collect(),
                parents: c.parents,
                generation: c.generation,
                born_zone: &c.born_zone,
                born_tick: c.born_tick,
                hatch_tick: c.hatch_tick,
                breed_ready_tick: c.breed_ready_tick,
            })
            .collect();
        sink.row(u64::from(r.net_id.0), &entries);
    }
}
