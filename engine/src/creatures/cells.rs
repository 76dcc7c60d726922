//! The breeding grid: the zone cut into square cells, each with a cap per species
//! (from the populations whose area covers it), who lives there, and its own breeding
//! timer. Timers sit in one heap, so a tick touches only the cells that fire.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use bevy_ecs::prelude::*;
use glam::Vec2;

use super::stream;
use crate::content::{Bounds, WildDef, ZoneContent};
use crate::rng::ZoneStream;

/// A read of the grid: `counts[cell * species + s]` live in each cell, under `caps`.
#[derive(Debug)]
pub struct Occupancy<'a> {
    pub cols: u32,
    pub rows: u32,
    pub cell_size: f32,
    pub counts: &'a [u32],
    pub caps: &'a [u32],
}

/// The grid, its caps and occupancy, and the cells' timers.
#[derive(Resource, Default, Debug)]
pub struct BreedingCells {
    def: Option<WildDef>,
    bounds: Option<Bounds>,
    species: usize,
    /// Cap per (cell, species): `caps[cell * species + s]`.
    caps: Vec<u32>,
    counts: Vec<u32>,
    members: Vec<Vec<Entity>>,
    timers: BinaryHeap<Reverse<(u64, u32)>>,
}

impl BreedingCells {
    /// Caps, counts and pending timers `(tick, cell)` in order, for the state hash.
    pub fn state_row(&self) -> (&[u32], &[u32], Vec<(u64, u32)>) {
        let mut timers: Vec<(u64, u32)> = self.timers.iter().map(|t| t.0).collect();
        timers.sort_unstable();
        (&self.caps, &self.counts, timers)
    }

    /// The grid of `content`'s zone with its caps, empty, every cell that may hold a
    /// creature timed to fire somewhere in its first interval.
    pub fn build(content: &ZoneContent, seed: u64, tick: u64) -> BreedingCells {
        let species = content.creatures.species.len();
        let Some(def) = content.zone.wild.clone() else {
            return BreedingCells::default();
        };
        let bounds = content.zone.bounds;
        let (cols, rows) = def.grid(bounds);
        let cells = (cols * rows) as usize;
        let mut caps = vec![0u32; cells * species];
        for p in &def.populations {
            let Some(s) = content.creatures.species_index(&p.species) else {
                continue;
            };
            let (a, b) = (
                def.cell_of(bounds, p.area.min),
                def.cell_of(bounds, p.area.max),
            );
            for cy in a / cols..=b / cols {
                for cx in a % cols..=b % cols {
                    let c = (cy * cols + cx) as usize;
                    caps[c * species + s] = caps[c * species + s].max(p.cap_per_cell);
                }
            }
        }
        let mut out = BreedingCells {
            def: Some(def),
            bounds: Some(bounds),
            species,
            counts: vec![0; caps.len()],
            caps,
            members: vec![Vec::new(); cells],
            timers: BinaryHeap::new(),
        };
        for cell in 0..cells as u32 {
            if out.any_room(cell) {
                let first = out.interval_ticks(content, seed, cell, tick);
                let mut rng = ZoneStream::keyed(seed, u64::from(cell), tick, stream::PLACE);
                let at = tick + u64::from(rng.below(first.max(1) as u32));
                out.timers.push(Reverse((at, cell)));
            }
        }
        out
    }

    fn any_room(&self, cell: u32) -> bool {
        let base = cell as usize * self.species;
        self.caps[base..base + self.species].iter().any(|&c| c > 0)
    }

    /// Ticks until a cell fires again: a draw in the content's interval.
    pub fn interval_ticks(&self, content: &ZoneContent, seed: u64, cell: u32, tick: u64) -> u64 {
        let Some(def) = &self.def else {
            return u64::MAX;
        };
        let (lo, hi) = def.breed_interval_s;
        let mut rng = ZoneStream::keyed(seed, u64::from(cell), tick, stream::TIMER);
        content.ticks(rng.range(lo, hi.max(lo)), 1)
    }

    /// The grid's shape with its counts and caps per (cell, species), for the zone
    /// viewer; `None` without a grid.
    pub fn grid_occupancy(&self, bounds: Bounds) -> Option<Occupancy<'_>> {
        let def = self.def.as_ref()?;
        let (cols, rows) = def.grid(self.bounds.unwrap_or(bounds));
        Some(Occupancy {
            cols,
            rows,
            cell_size: def.cell_size,
            counts: &self.counts,
            caps: &self.caps,
        })
    }

    /// Whether this zone has a grid at all.
    pub fn enabled(&self) -> bool {
        self.def.is_some()
    }

    pub fn cell_count(&self) -> u32 {
        self.members.len() as u32
    }

    /// The cell a point is in (`None` in a zone without wild creatures).
    pub fn cell_of(&self, p: Vec2) -> Option<u32> {
        Some(self.def.as_ref()?.cell_of(self.bounds?, p))
    }

    /// The rectangle of a cell.
    pub fn cell_bounds(&self, cell: u32) -> Option<Bounds> {
        Some(self.def.as_ref()?.cell_bounds(self.bounds?, cell))
    }

    fn slot(&self, cell: u32, species: usize) -> Option<usize> {
        (species < self.species && (cell as usize) < self.members.len())
            .then(|| cell as usize * self.species + species)
    }

    pub fn cap(&self, cell: u32, species: usize) -> u32 {
        self.slot(cell, species).map_or(0, |i| self.caps[i])
    }

    pub fn count(&self, cell: u32, species: usize) -> u32 {
        self.slot(cell, species).map_or(0, |i| self.counts[i])
    }

    /// Whether one more creature of `species` fits in `cell`.
    pub fn has_room(&self, cell: u32, species: usize) -> bool {
        self.slot(cell, species)
            .is_some_and(|i| self.counts[i] < self.caps[i])
    }

    /// Records a creature in a cell (the caller checked `has_room`, or is restoring
    /// what exists).
    pub fn add(&mut self, cell: u32, species: usize, e: Entity) {
        if let Some(i) = self.slot(cell, species) {
            self.counts[i] += 1;
            self.members[cell as usize].push(e);
        }
    }

    pub fn remove(&mut self, cell: u32, species: usize, e: Entity) {
        if let Some(i) = self.slot(cell, species) {
            let list = &mut self.members[cell as usize];
            if let Some(k) = list.iter().position(|&m| m == e) {
                list.swap_remove(k);
                self.counts[i] = self.counts[i].saturating_sub(1);
            }
        }
    }

    /// Who lives in a cell.
    pub fn members(&self, cell: u32) -> &[Entity] {
        self.members.get(cell as usize).map_or(&[], Vec::as_slice)
    }

    /// Pops the cells whose timer is due by `tick`.
    pub fn due(&mut self, tick: u64, out: &mut Vec<u32>) {
        while let Some(&Reverse((at, cell))) = self.timers.peek() {
            if at > tick {
                break;
            }
            self.timers.pop();
            out.push(cell);
        }
    }

    pub fn schedule(&mut self, cell: u32, at: u64) {
        self.timers.push(Reverse((at, cell)));
    }

    /// Wild creatures per species over the whole grid.
    pub fn population(&self) -> Vec<u64> {
        let mut out = vec![0u64; self.species];
        for (i, c) in self.counts.iter().enumerate() {
            out[i % self.species.max(1)] += u64::from(*c);
        }
        out
    }

    /// Every (cell, species, count, cap) with a cap or a creature, for checks and
    /// admin views.
    pub fn occupancy(&self) -> impl Iterator<Item = (u32, usize, u32, u32)> + '_ {
        self.caps
            .iter()
            .zip(&self.counts)
            .enumerate()
            .filter(|(_, (cap, n))| **cap > 0 || **n > 0)
            .map(|(i, (cap, n))| ((i / self.species) as u32, i % self.species, *n, *cap))
    }
}
