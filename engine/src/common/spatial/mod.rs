//! The spatial index: this tick's frame of replicated entities (where each is and its
//! quantized state) and an `rstar` R-tree over their positions. Gameplay queries it
//! for what is near a point (targets, threats, blasts); interest queries it for what
//! each client sees. The interest plugin refreshes it once a tick.

mod grid;
mod net_table;

pub use grid::CellGrid;

use arcane_protocol::{EntityState, NetId};
use bevy_ecs::prelude::*;
use glam::Vec2;
use rstar::primitives::GeomWithData;
use rstar::{AABB, RStarInsertionStrategy, RTree, RTreeParams};

use net_table::NetTable;

/// How far anything may have moved since the spatial index's frame (one tick of the
/// fastest walker plus a knockback): the `slack` gameplay systems running during
/// `Simulate` pass to [`SpatialIndex::candidates`].
pub const FRAME_SLACK_M: f32 = 4.0;

/// The R-tree's node sizes. The tree is only ever bulk-loaded (never inserted into)
/// and queried for boxes holding dozens of points, so nodes are wider than rstar's
/// default of 6: fewer levels and fewer nodes pushed per query.
pub struct IndexParams;

impl RTreeParams for IndexParams {
    const MIN_SIZE: usize = NODE / 2;
    const MAX_SIZE: usize = NODE;
    const REINSERTION_COUNT: usize = 2;
    type DefaultInsertionStrategy = RStarInsertionStrategy;
}

/// Entries per node. Against rstar's 6, 16 cut the profile ticks' instructions by
/// 1.5 % (the scaling scenario) and 3.7 % (1,000 players among 3,000 NPCs); 10 and 32
/// did less (`docs/notes/2026-12-05-tick-per-client.md`).
const NODE: usize = 16;

/// The tree over this tick's frame.
pub type IndexTree = RTree<IndexPoint, IndexParams>;

/// One replicated entity as seen this tick: where it is and its quantized state.
#[derive(Debug, Clone, Copy)]
pub struct FrameEntity {
    pub entity: Entity,
    pub net_id: NetId,
    pub pos: Vec2,
    pub state: EntityState,
}

/// An R-tree point. In the main tree the payload is the entity's slot in
/// `SpatialIndex::built` (its place in the frame the tree was built from), so a tree
/// built on an earlier tick still names the right entities; in the tree of recent
/// entities it is the frame index.
pub type IndexPoint = GeomWithData<[f32; 2], u32>;

/// An entity as the main tree holds it: who, and where it was at the rebuild.
#[derive(Debug, Clone, Copy)]
struct Built {
    net_id: NetId,
    at: Vec2,
}

/// This tick's replicated entities, and an R-tree over their positions that is rebuilt
/// every `index_rebuild_interval_ticks` ticks.
#[derive(Resource, Default)]
pub struct SpatialIndex {
    pub tree: IndexTree,
    pub frame: Vec<FrameEntity>,
    /// Net id → index into `frame`.
    by_net: NetTable,
    /// How far a walking entity may have moved since the tree was built (metres);
    /// queries are widened by this so a stale tree never misses an entity that is now
    /// in range. Whatever moved farther is listed in `recent` instead.
    drift: f32,
    /// The entities in the tree, by tree slot.
    built: Vec<Built>,
    /// Tree slot → this tick's frame index; `u32::MAX` when the entity is gone or has
    /// moved farther than `drift` from its tree entry (then it is in `recent`).
    slot_frame: Vec<u32>,
    /// Frame entities the tree does not place within `drift` of where they are: those
    /// spawned since the rebuild and those that moved farther than anything walks (a
    /// projectile, a respawn, a teleport). Every query finds them at their current
    /// position, so they are visible to gameplay and interest on the next tick.
    recent: Vec<u32>,
    /// `recent` in a tree of its own (payload: frame index), bulk-loaded every tick
    /// when it is too long to scan per query: in a fight, a second's worth of
    /// projectiles is in it.
    recent_tree: Option<IndexTree>,
    /// Scratch: which frame entities the tree places (by frame index).
    placed: Vec<bool>,
}

impl SpatialIndex {
    /// Refreshes this tick's frame and, when `rebuild_tree`, bulk-loads a new tree
    /// (measured 3.6× faster than moving every entity in a persistent tree; see
    /// BENCHMARKS.md). Otherwise the old tree is kept and its drift grows by
    /// `max_step`, the farthest anything walks in one tick; entities that spawned or
    /// moved farther than the drift are listed in `recent`.
    pub fn refresh(
        &mut self,
        entities: impl Iterator<Item = FrameEntity>,
        rebuild_tree: bool,
        max_step: f32,
    ) {
        // Unmark only last tick's ids: ids come from a counter that keeps growing, so
        // clearing the whole table would cost more every tick of a zone's life.
        for f in &self.frame {
            self.by_net.unset(f.net_id.0);
        }
        self.frame.clear();
        self.frame.extend(entities);
        for (i, f) in self.frame.iter().enumerate() {
            self.by_net.set(f.net_id.0, i as u32);
        }
        self.by_net.free_empty_pages();
        self.recent.clear();
        if rebuild_tree || self.tree.size() == 0 {
            self.built.clear();
            self.built.extend(self.frame.iter().map(|f| Built {
                net_id: f.net_id,
                at: f.pos,
            }));
            let points = (self.built.iter().enumerate())
                .map(|(slot, b)| IndexPoint::new([b.at.x, b.at.y], slot as u32))
                .collect();
            self.tree = IndexTree::bulk_load_with_params(points);
            self.drift = 0.0;
            self.slot_frame.clear();
            self.slot_frame.extend(0..self.frame.len() as u32);
        } else {
            // A walker's step is `max_step` give or take f32 rounding (a normalized
            // direction times the speed, added to a position of a few hundred metres):
            // without the tolerance a quarter of the players at full speed counted as
            // jumpers, and every query searched them again in the recent tree.
            self.drift += max_step + Self::STEP_TOLERANCE_M;
            let reach2 = self.drift * self.drift;
            self.placed.clear();
            self.placed.resize(self.frame.len(), false);
            for (slot, b) in self.built.iter().enumerate() {
                let now = self.by_net.get(b.net_id.0).unwrap_or(u32::MAX);
                self.slot_frame[slot] = now;
                if now != u32::MAX {
                    if self.frame[now as usize].pos.distance_squared(b.at) <= reach2 {
                        self.placed[now as usize] = true;
                    } else {
                        // Farther than anything walks: found through `recent`, never
                        // through its stale tree entry.
                        self.slot_frame[slot] = u32::MAX;
                    }
                }
            }
            let unplaced = (self.placed.iter().enumerate()).filter(|(_, placed)| !**placed);
            self.recent.extend(unplaced.map(|(i, _)| i as u32));
        }
        self.recent_tree = (self.recent.len() > Self::RECENT_SCAN_MAX).then(|| {
            let points = self
                .recent
                .iter()
                .map(|&i| {
                    let p = self.frame[i as usize].pos;
                    IndexPoint::new([p.x, p.y], i)
                })
                .collect();
            IndexTree::bulk_load_with_params(points)
        });
    }

    /// How far past `max_step` a tick's walk may land through rounding alone (1 cm;
    /// f32 rounding of a step at 10 km from the origin is under 1 mm).
    const STEP_TOLERANCE_M: f32 = 0.01;

    /// Up to this many recent entities are scanned by every query; more get a tree.
    const RECENT_SCAN_MAX: usize = 32;

    /// Calls `found(frame_idx)` for each recent entity in the box `reach` around `pos`.
    fn recent_within(&self, pos: Vec2, reach: f32, mut found: impl FnMut(u32)) {
        match &self.recent_tree {
            Some(tree) => {
                let envelope = AABB::from_corners(
                    [pos.x - reach, pos.y - reach],
                    [pos.x + reach, pos.y + reach],
                );
                tree.locate_in_envelope(envelope)
                    .for_each(|p| found(p.data));
            }
            None => {
                for &i in &self.recent {
                    if (self.frame[i as usize].pos - pos).abs().max_element() <= reach {
                        found(i);
                    }
                }
            }
        }
    }

    /// The frame index of the entity in tree slot `slot`, unless it is gone or found
    /// through `recent` this tick.
    fn slot_frame(&self, slot: u32) -> Option<u32> {
        self.slot_frame
            .get(slot as usize)
            .copied()
            .filter(|&i| i != u32::MAX)
    }

    /// Refreshes the frame and rebuilds the tree.
    pub fn rebuild(&mut self, entities: impl Iterator<Item = FrameEntity>) {
        self.refresh(entities, true, 0.0);
    }

    /// Where `net_id` is in this tick's frame, if it still exists.
    pub fn frame_index(&self, net_id: NetId) -> Option<u32> {
        self.by_net.get(net_id.0)
    }

    /// [`Self::frame_index`], trying `hint` (where the entity was on an earlier tick)
    /// first: the frame keeps its order from tick to tick while nothing spawns, dies
    /// or changes archetype, so the hint is nearly always right and saves the lookup.
    #[inline]
    pub fn frame_index_near(&self, net_id: NetId, hint: u32) -> Option<u32> {
        match self.frame.get(hint as usize) {
            Some(f) if f.net_id == net_id => Some(hint),
            _ => self.frame_index(net_id),
        }
    }

    /// Calls `found` for every frame entity that may be within `radius` of `pos` now:
    /// the frame is the previous tick's, so gameplay systems running before this tick's
    /// refresh pass a `slack` of how far things may have moved since, and check the
    /// current positions themselves.
    #[inline]
    pub fn candidates(
        &self,
        pos: Vec2,
        radius: f32,
        slack: f32,
        mut found: impl FnMut(&FrameEntity),
    ) {
        let reach = radius + slack + self.drift;
        let envelope = AABB::from_corners(
            [pos.x - reach, pos.y - reach],
            [pos.x + reach, pos.y + reach],
        );
        for p in self.tree.locate_in_envelope(envelope) {
            if let Some(idx) = self.slot_frame(p.data) {
                found(&self.frame[idx as usize]);
            }
        }
        self.recent_within(pos, reach, |i| found(&self.frame[i as usize]));
    }

    /// The entity behind a net id in this frame.
    pub fn entity(&self, net_id: NetId) -> Option<Entity> {
        self.frame_index(net_id)
            .map(|i| self.frame[i as usize].entity)
    }

    /// Calls `found(frame_idx, distance²)` for every entity within `radius` of `pos`
    /// at its current position: one box query (widened by the drift), then an exact
    /// distance check against this tick's frame.
    #[inline]
    pub fn for_each_within(&self, pos: Vec2, radius: f32, mut found: impl FnMut(u32, f32)) {
        // A circle, not its bounding box: the corners hold a fifth of the box's points
        // and prune whole nodes (the profile tick's median fell 4-7 %).
        let reach = radius + self.drift;
        for p in self
            .tree
            .locate_within_distance([pos.x, pos.y], reach * reach)
        {
            let Some(idx) = self.slot_frame(p.data) else {
                continue;
            };
            let d2 = self.frame[idx as usize].pos.distance_squared(pos);
            if d2 <= radius * radius {
                found(idx, d2);
            }
        }
        self.recent_within(pos, radius, |idx| {
            let d2 = self.frame[idx as usize].pos.distance_squared(pos);
            if d2 <= radius * radius {
                found(idx, d2);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arcane_protocol::EntityKind;
    use arcane_protocol::quant::metres_to_cm;

    fn at(id: u32, x: f32) -> FrameEntity {
        let pos = Vec2::new(x, 0.0);
        FrameEntity {
            entity: Entity::PLACEHOLDER,
            net_id: NetId(id),
            pos,
            state: EntityState {
                kind: EntityKind::Npc,
                variant: 0,
                x_cm: metres_to_cm(pos.x),
                y_cm: 0,
                hp_pct: 100,
                flags: 0,
            },
        }
    }

    fn found(index: &SpatialIndex, radius: f32) -> Vec<u32> {
        let mut ids = vec![];
        index.for_each_within(Vec2::ZERO, radius, |i, _| {
            ids.push(index.frame[i as usize].net_id.0)
        });
        ids.sort_unstable();
        ids
    }

    #[test]
    fn a_stale_tree_still_finds_what_moved_into_range_and_skips_what_left() {
        let mut index = SpatialIndex::default();
        index.rebuild([at(1, 5.0), at(2, 12.0), at(3, 30.0)].into_iter());
        assert_eq!(found(&index, 10.0), vec![1]);
        // One tick later, without a rebuild: 2 walked in (2 m), 1 walked out, 3 despawned.
        index.refresh([at(1, 11.0), at(2, 9.0)].into_iter(), false, 6.0);
        assert_eq!(found(&index, 10.0), vec![2]);
        // A newcomer is found before the next rebuild (from the recent list)...
        index.refresh(
            [at(1, 11.0), at(2, 9.0), at(4, 1.0)].into_iter(),
            false,
            6.0,
        );
        assert_eq!(found(&index, 10.0), vec![2, 4]);
        // ...and a rebuild resets the drift and takes it into the tree.
        index.refresh([at(1, 11.0), at(2, 9.0), at(4, 1.0)].into_iter(), true, 6.0);
        assert_eq!(found(&index, 10.0), vec![2, 4]);
    }

    #[test]
    fn an_entity_that_jumped_is_found_where_it_is_and_only_once() {
        let mut index = SpatialIndex::default();
        index.rebuild([at(1, 5.0), at(2, 500.0), at(3, 8.0), at(4, 9.0)].into_iter());
        // Without a rebuild (drift 1 m): 2 respawns next to the origin, 1 is teleported
        // away, 3 walks within the drift, 4 jumps 7 m (its old entry still in the box).
        index.refresh(
            [at(1, 400.0), at(2, 3.0), at(3, 8.5), at(4, 2.0)].into_iter(),
            false,
            1.0,
        );
        assert_eq!(found(&index, 10.0), vec![2, 3, 4]);
        let mut near_old_spot = vec![];
        index.candidates(Vec2::new(500.0, 0.0), 5.0, 0.0, |f| {
            near_old_spot.push(f.net_id.0)
        });
        assert_eq!(near_old_spot, Vec::<u32>::new());
        let mut near_new_spot = vec![];
        index.candidates(Vec2::new(400.0, 0.0), 5.0, 0.0, |f| {
            near_new_spot.push(f.net_id.0)
        });
        assert_eq!(near_new_spot, vec![1]);
        // Still found the tick after, with more drift, and once only.
        index.refresh(
            [at(1, 400.0), at(2, 3.0), at(3, 9.0), at(4, 2.0)].into_iter(),
            false,
            1.0,
        );
        assert_eq!(found(&index, 10.0), vec![2, 3, 4]);
        // A rebuild takes the new spots into the tree.
        index.refresh(
            [at(1, 400.0), at(2, 3.0), at(3, 9.0), at(4, 2.0)].into_iter(),
            true,
            1.0,
        );
        assert_eq!(found(&index, 10.0), vec![2, 3, 4]);
        assert_eq!(index.recent, Vec::<u32>::new());
    }

    #[test]
    fn walkers_at_full_speed_stay_in_the_tree_whatever_the_rounding() {
        // 400 walkers at 2 m a tick in every direction, from points a few hundred
        // metres out, stepped as movement steps them (direction normalized, times the
        // step): none may need the recent list between rebuilds.
        let step = 2.0;
        let start = |id: u32| {
            Vec2::new(
                300.0 + (id % 20) as f32 * 7.3,
                800.0 + (id / 20) as f32 * 5.1,
            )
        };
        let dir = |id: u32| {
            let (x, y) = (
                (id * 37 % 255) as f32 - 127.0,
                (id * 91 % 255) as f32 - 127.0,
            );
            Vec2::new(x, y).normalize_or(Vec2::X)
        };
        let mut pos: Vec<Vec2> = (0..400).map(start).collect();
        let frame = |pos: &[Vec2]| {
            let frame: Vec<FrameEntity> = (0..400)
                .map(|id| FrameEntity {
                    pos: pos[id as usize],
                    ..at(id + 1, 0.0)
                })
                .collect();
            frame.into_iter()
        };
        let mut index = SpatialIndex::default();
        index.rebuild(frame(&pos));
        for tick in 1..4 {
            for (id, p) in pos.iter_mut().enumerate() {
                *p += dir(id as u32) * step;
            }
            index.refresh(frame(&pos), false, step);
            assert_eq!(
                index.recent.len(),
                0,
                "tick {tick}: {} jumpers",
                index.recent.len()
            );
        }
    }

    #[test]
    fn the_net_id_table_holds_pages_only_where_ids_are_live() {
        // A long fight: 100 long-lived entities (ids 1..=100) and 30 short-lived ones
        // a tick, each with a fresh id, for 800 ticks: 24,100 ids issued.
        let mut index = SpatialIndex::default();
        let mut next = 101;
        let mut short: Vec<u32> = vec![];
        for tick in 0..800u32 {
            short.retain(|&id| id + 300 > next); // each lives ~10 ticks
            short.extend(next..next + 30);
            next += 30;
            let ids: Vec<u32> = (1..=100).chain(short.iter().copied()).collect();
            index.refresh(
                ids.iter().map(|&id| at(id, id as f32 % 50.0)),
                tick % 4 == 0,
                0.5,
            );
            for (i, &id) in ids.iter().enumerate() {
                assert_eq!(index.frame_index(NetId(id)), Some(i as u32));
            }
            if next > 500 {
                assert_eq!(index.frame_index(NetId(next - 400)), None, "a dead id");
            }
        }
        // The page of the long-lived ids and the one or two the live short ids span.
        assert!(
            index.by_net.pages_held() <= 3,
            "{} pages",
            index.by_net.pages_held()
        );
    }

    #[test]
    fn queries_match_a_full_scan_with_many_jumpers_and_newcomers() {
        // More jumpers and newcomers than are scanned linearly, so they get their own
        // tree; every query must still find exactly what a scan of the frame finds.
        let spot = |id: u32, tick: u32| {
            let (x, y) = ((id * 37 % 200) as f32, (id * 91 % 200) as f32);
            let jump = if id.is_multiple_of(3) {
                9.0 * tick as f32
            } else {
                0.3 * tick as f32
            };
            Vec2::new(x + jump, y - jump)
        };
        let frame = |tick: u32, ids: u32| {
            (1..=ids).map(move |id| FrameEntity {
                pos: spot(id, tick),
                ..at(id, 0.0)
            })
        };
        let mut index = SpatialIndex::default();
        index.rebuild(frame(0, 300));
        for tick in 1..=3 {
            index.refresh(frame(tick, 300 + 20 * tick), false, 0.5);
            assert!(index.recent.len() > SpatialIndex::RECENT_SCAN_MAX);
            for q in [
                Vec2::new(50.0, 50.0),
                Vec2::new(120.0, 20.0),
                Vec2::new(190.0, 170.0),
            ] {
                let mut got = vec![];
                index.for_each_within(q, 30.0, |i, _| got.push(index.frame[i as usize].net_id.0));
                got.sort_unstable();
                let want: Vec<u32> = index
                    .frame
                    .iter()
                    .filter(|f| f.pos.distance_squared(q) <= 900.0)
                    .map(|f| f.net_id.0)
                    .collect();
                assert_eq!(got, want, "tick {tick}, query at {q}");
            }
        }
    }
}
