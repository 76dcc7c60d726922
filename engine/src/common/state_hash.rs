//! The zone's authoritative state as named parts of rows, so it can be hashed every
//! tick (for the journal and `arcane replay`) and dumped for a person to read.
//!
//! Each plugin registers the parts it owns ([`StateParts::add`]) with a function that
//! visits one row per entity (keyed by net id) or per resource slot. A row is any
//! value that is `Hash + Serialize`: the hasher digests it, the dump writes it as RON.
//! Floats go in as [`Bits`], hashed by their exact bits.

use std::hash::{Hash, Hasher};

use bevy_ecs::prelude::*;
use rustc_hash::FxHasher;
use serde::Serialize;

/// An `f32` hashed by its exact bits and dumped as a number.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Bits(pub f32);

impl Hash for Bits {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.to_bits().hash(h);
    }
}

/// A `Vec2` hashed by its exact bits and dumped as `(x, y)`.
pub fn v2(v: glam::Vec2) -> (Bits, Bits) {
    (Bits(v.x), Bits(v.y))
}

/// One row of a part: hashed every tick, written out on demand.
pub trait StateRow {
    fn hash_row(&self, h: &mut FxHasher);
    fn to_ron(&self) -> String;
}

impl<T: Hash + Serialize> StateRow for T {
    fn hash_row(&self, h: &mut FxHasher) {
        self.hash(h);
    }
    fn to_ron(&self) -> String {
        ron::to_string(self).unwrap_or_else(|e| format!("<unprintable: {e}>"))
    }
}

/// Where a part's rows go.
pub trait RowSink {
    /// One row; `id` is the entity's net id, or the slot's index for resources.
    fn row(&mut self, id: u64, row: &dyn StateRow);
}

/// A function that visits a part's rows.
pub type RowsFn = fn(&mut World, &mut dyn RowSink);

/// A named piece of the state and the function that visits its rows.
pub struct StatePart {
    pub name: &'static str,
    pub rows: RowsFn,
}

/// Every registered part, in registration order (fixed by the plugin list).
#[derive(Resource, Default)]
pub struct StateParts(Vec<StatePart>);

impl StateParts {
    /// Registers a part; called from a plugin's `build`.
    pub fn add(world: &mut World, name: &'static str, rows: RowsFn) {
        world
            .get_resource_or_init::<StateParts>()
            .0
            .push(StatePart { name, rows });
    }

    fn list(world: &World) -> Vec<(&'static str, RowsFn)> {
        world
            .get_resource::<StateParts>()
            .map(|p| p.0.iter().map(|p| (p.name, p.rows)).collect())
            .unwrap_or_default()
    }
}

/// One part's digest, and per row when asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PartDigest {
    pub name: String,
    pub hash: u64,
    /// `(id, row hash)` sorted by id; empty unless rows were asked for.
    pub rows: Vec<(u64, u64)>,
}

/// The state's digest at a tick: one hash over everything and one per part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StateDigest {
    pub tick: u64,
    pub total: u64,
    pub parts: Vec<PartDigest>,
}

impl StateDigest {
    /// The parts whose hashes differ from `other`'s, and within each the ids whose
    /// row hashes differ or exist on one side only (when both carry rows).
    pub fn diff(&self, other: &StateDigest) -> Vec<(String, Vec<u64>)> {
        let mut out = Vec::new();
        for p in &self.parts {
            let Some(q) = other.parts.iter().find(|q| q.name == p.name) else {
                out.push((p.name.clone(), Vec::new()));
                continue;
            };
            if p.hash == q.hash {
                continue;
            }
            out.push((p.name.clone(), differing_ids(&p.rows, &q.rows)));
        }
        for q in &other.parts {
            if !self.parts.iter().any(|p| p.name == q.name) {
                out.push((q.name.clone(), Vec::new()));
            }
        }
        out
    }
}

/// Ids whose row hashes differ between two id-sorted lists.
fn differing_ids(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<u64> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                if x.1 != y.1 {
                    out.push(x.0);
                }
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                out.push(x.0);
                i += 1;
            }
            (Some(_), Some(y)) => {
                out.push(y.0);
                j += 1;
            }
            (Some(x), None) => {
                out.push(x.0);
                i += 1;
            }
            (None, Some(y)) => {
                out.push(y.0);
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// Hashes rows as they come. The part's hash is a sum of each row's hash mixed with
/// its id, so it does not depend on the order rows are visited in and needs no sort;
/// the rows themselves are kept (and sorted) only when asked for.
struct HashSink {
    keep: bool,
    sum: u64,
    count: u64,
    rows: Vec<(u64, u64)>,
}

/// A 64-bit finalizer (splitmix64): spreads a row's id and hash over the word before
/// they are summed.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl RowSink for HashSink {
    fn row(&mut self, id: u64, row: &dyn StateRow) {
        let mut h = FxHasher::default();
        row.hash_row(&mut h);
        let hash = h.finish();
        self.sum = self.sum.wrapping_add(mix(mix(id) ^ hash.rotate_left(17)));
        self.count += 1;
        if self.keep {
            self.rows.push((id, hash));
        }
    }
}

/// Hashes every part at `tick`; `with_rows` keeps each row's hash too.
pub fn digest(world: &mut World, tick: u64, with_rows: bool) -> StateDigest {
    let mut total = FxHasher::default();
    tick.hash(&mut total);
    let mut parts = Vec::new();
    for (name, rows) in StateParts::list(world) {
        let mut sink = HashSink {
            keep: with_rows,
            sum: 0,
            count: 0,
            rows: Vec::new(),
        };
        rows(world, &mut sink);
        sink.rows.sort_unstable();
        let mut h = FxHasher::default();
        (name, sink.sum, sink.count).hash(&mut h);
        let hash = h.finish();
        hash.hash(&mut total);
        parts.push(PartDigest {
            name: name.to_string(),
            hash,
            rows: sink.rows,
        });
    }
    StateDigest {
        tick,
        total: total.finish(),
        parts,
    }
}

struct DumpSink {
    rows: Vec<(u64, String)>,
}

impl RowSink for DumpSink {
    fn row(&mut self, id: u64, row: &dyn StateRow) {
        self.rows.push((id, row.to_ron()));
    }
}

/// Every part's rows as RON text, sorted by id.
pub fn dump(world: &mut World) -> Vec<(&'static str, Vec<(u64, String)>)> {
    StateParts::list(world)
        .into_iter()
        .map(|(name, rows)| {
            let mut sink = DumpSink { rows: Vec::new() };
            rows(world, &mut sink);
            sink.rows.sort();
            (name, sink.rows)
        })
        .collect()
}

/// The parts `common/` owns: every replicated entity with its position and flags,
/// the random streams' positions, and the id counter.
pub fn register_common(world: &mut World) {
    use super::components::{Dead, MoveSpeed, NetIdAllocator, Player, Position, Replicated};
    StateParts::add(world, "entities", |world, sink| {
        #[derive(Hash, Serialize)]
        struct Row {
            kind: u8,
            variant: u16,
            at: (Bits, Bits),
            speed: Option<Bits>,
            player: Option<u64>,
            dead_until: Option<u64>,
        }
        let mut q = world.query::<(
            &Replicated,
            &Position,
            Option<&MoveSpeed>,
            Option<&Player>,
            Option<&Dead>,
        )>();
        for (r, p, speed, player, dead) in q.iter(world) {
            let row = Row {
                kind: r.kind as u8,
                variant: r.variant,
                at: v2(p.0),
                speed: speed.map(|s| Bits(s.0)),
                player: player.map(|p| p.id.0),
                dead_until: dead.map(|d| d.respawn_tick),
            };
            sink.row(u64::from(r.net_id.0), &row);
        }
    });
    StateParts::add(world, "rng", |world, sink| {
        let rng = world.resource::<crate::rng::ZoneRng>();
        let rows = [
            rng.npc.position(),
            rng.spawn.position(),
            rng.ai.position(),
            rng.creatures.position(),
        ];
        for (i, pos) in rows.iter().enumerate() {
            sink.row(i as u64, pos);
        }
        sink.row(
            rows.len() as u64,
            &world.resource::<NetIdAllocator>().next(),
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differing_ids_names_changed_and_one_sided_rows() {
        let a = [(1, 10), (2, 20), (4, 40)];
        let b = [(1, 10), (2, 21), (3, 30)];
        assert_eq!(differing_ids(&a, &b), vec![2, 3, 4]);
        assert!(differing_ids(&a, &a).is_empty());
    }

    #[test]
    fn bits_hash_tells_negative_zero_apart() {
        let h = |v: f32| {
            let mut h = FxHasher::default();
            Bits(v).hash_row(&mut h);
            h.finish()
        };
        assert_ne!(h(0.0), h(-0.0));
        assert_eq!(Bits(1.5).to_ron(), "1.5");
    }
}
