//! Interest systems and the per-client interest state.

use arcane_protocol::quant::metres_to_cm;
use arcane_protocol::snapshot::ViewEntity;
use arcane_protocol::{ClientTier, EntityState, LocalId, NetId};
use bevy_ecs::prelude::*;
use glam::Vec2;
use rstar::RTree;
use rstar::primitives::GeomWithData;
use rustc_hash::FxHashMap;

use super::rules::{in_view, keep_smallest, priority_gain};
use crate::components::{Position, Replicated};
use crate::content::InterestTier;
use crate::zone::ZoneSettings;

/// One replicated entity as seen this tick: where it is and its quantized state.
#[derive(Debug, Clone, Copy)]
pub struct FrameEntity {
    pub net_id: NetId,
    pub pos: Vec2,
    pub state: EntityState,
}

pub type IndexPoint = GeomWithData<[f32; 2], u32>;

/// This tick's replicated entities and an R-tree over their positions; the tree's
/// payload is the index into `frame`.
#[derive(Resource, Default)]
pub struct SpatialIndex {
    pub tree: RTree<IndexPoint>,
    pub frame: Vec<FrameEntity>,
}

impl SpatialIndex {
    /// Rebuilds from scratch with a bulk load (measured faster than incremental
    /// updates when most entities move every tick; see BENCHMARKS.md).
    pub fn rebuild(&mut self, entities: impl Iterator<Item = FrameEntity>) {
        self.frame.clear();
        self.frame.extend(entities);
        let points = self
            .frame
            .iter()
            .enumerate()
            .map(|(i, f)| IndexPoint::new([f.pos.x, f.pos.y], i as u32))
            .collect();
        self.tree = RTree::bulk_load(points);
    }
}

/// Quantizes an entity for the wire.
pub fn frame_state(replicated: &Replicated, pos: Vec2) -> EntityState {
    EntityState { kind: replicated.kind, x_cm: metres_to_cm(pos.x), y_cm: metres_to_cm(pos.y) }
}

pub fn rebuild_spatial_index(mut index: ResMut<SpatialIndex>, entities: Query<(&Replicated, &Position)>) {
    index.rebuild(entities.iter().map(|(r, p)| FrameEntity {
        net_id: r.net_id,
        pos: p.0,
        state: frame_state(r, p.0),
    }));
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    net_id: NetId,
    /// State this client was last sent (stale while the entity waits for a refresh).
    last_sent: EntityState,
    /// Accumulated refresh priority.
    priority: f32,
    /// Generation in which the entity was last found in view.
    seen: u32,
    frame_idx: u32,
    distance: f32,
    entered: bool,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    frame_idx: u32,
    d2: f32,
}

/// What one client tracks, under which local ids, and this tick's view.
#[derive(Component, Debug)]
pub struct InterestState {
    pub tier: ClientTier,
    slots: Vec<Option<Slot>>,
    by_net: FxHashMap<NetId, LocalId>,
    free: Vec<LocalId>,
    generation: u32,
    /// This tick's view, sorted by local id; read by replication.
    pub view: Vec<ViewEntity>,
    candidates: Vec<Candidate>,
    refresh: Vec<(f32, LocalId)>,
}

impl InterestState {
    pub fn new(tier: ClientTier) -> Self {
        InterestState {
            tier,
            slots: Vec::new(),
            by_net: FxHashMap::default(),
            free: Vec::new(),
            generation: 0,
            view: Vec::new(),
            candidates: Vec::new(),
            refresh: Vec::new(),
        }
    }

    /// Number of entities currently tracked.
    pub fn tracked(&self) -> usize {
        self.by_net.len()
    }

    fn ensure_capacity(&mut self, cap: usize) {
        if self.slots.len() < cap {
            let old = self.slots.len();
            self.slots.resize(cap, None);
            // Pop yields the lowest free id first.
            self.free.extend((old..cap).rev().map(|l| l as LocalId));
            self.free.sort_unstable_by(|a, b| b.cmp(a));
        }
    }

    /// Recomputes the tracked set and this tick's view for a client at `pos` (`own` is
    /// the client's own entity, which is always refreshed).
    pub fn update(&mut self, index: &SpatialIndex, pos: Vec2, own: NetId, tier: &InterestTier) {
        let cap = usize::from(tier.tracked_cap);
        self.ensure_capacity(cap);
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;

        // 1. Candidates from one radius query, filtered by hysteresis.
        self.candidates.clear();
        let outer = tier.radius + tier.margin;
        for p in index.tree.locate_within_distance([pos.x, pos.y], outer * outer) {
            let f = &index.frame[p.data as usize];
            let d2 = f.pos.distance_squared(pos);
            if in_view(d2, self.by_net.contains_key(&f.net_id), tier.radius, tier.margin) {
                self.candidates.push(Candidate { frame_idx: p.data, d2 });
            }
        }
        // 2. Over the cap: keep the nearest (the client's own entity is at distance 0).
        let kept = keep_smallest(&mut self.candidates, cap, |c| c.d2);

        // 3. Mark kept entities, giving newcomers a free local id.
        let mut entered = 0usize;
        for c in &self.candidates[..kept] {
            let f = &index.frame[c.frame_idx as usize];
            let distance = c.d2.sqrt();
            match self.by_net.get(&f.net_id) {
                Some(&local) => {
                    if let Some(s) = self.slots[usize::from(local)].as_mut() {
                        s.seen = generation;
                        s.frame_idx = c.frame_idx;
                        s.distance = distance;
                        s.entered = false;
                    }
                }
                None => {
                    let Some(local) = self.free.pop() else { continue };
                    self.by_net.insert(f.net_id, local);
                    self.slots[usize::from(local)] = Some(Slot {
                        net_id: f.net_id,
                        last_sent: f.state,
                        priority: 0.0,
                        seen: generation,
                        frame_idx: c.frame_idx,
                        distance,
                        entered: true,
                    });
                    entered += 1;
                }
            }
        }
        // 4. Drop what left the view and free its ids.
        for (local, slot) in self.slots.iter_mut().enumerate() {
            if let Some(s) = slot
                && s.seen != generation
            {
                self.by_net.remove(&s.net_id);
                self.free.push(local as LocalId);
                *slot = None;
            }
        }

        // 5. Refresh: everything if it fits the snapshot cap, otherwise by accumulated
        //    priority, so far entities still refresh, just less often. Newcomers were
        //    stamped with their current state on entry and count against the cap.
        let tracked = self.by_net.len();
        let budget = usize::from(tier.snapshot_cap).saturating_sub(entered);
        self.refresh.clear();
        for (local, slot) in self.slots.iter_mut().enumerate() {
            let Some(s) = slot else { continue };
            if s.entered {
                continue;
            }
            s.priority += if s.net_id == own {
                f32::INFINITY
            } else {
                priority_gain(s.distance, tier.priority_falloff)
            };
            self.refresh.push((s.priority, local as LocalId));
        }
        let n = if tracked <= usize::from(tier.snapshot_cap) {
            self.refresh.len()
        } else {
            keep_smallest(&mut self.refresh, budget, |(p, _)| -p)
        };
        for &(_, local) in &self.refresh[..n] {
            if let Some(s) = self.slots[usize::from(local)].as_mut() {
                s.last_sent = index.frame[s.frame_idx as usize].state;
                s.priority = 0.0;
            }
        }

        // 6. The view, in local id order.
        self.view.clear();
        for (local, slot) in self.slots.iter().enumerate() {
            if let Some(s) = slot {
                self.view.push(ViewEntity { local: local as LocalId, net_id: s.net_id, state: s.last_sent });
            }
        }
    }
}

pub fn update_interest(
    index: Res<SpatialIndex>,
    settings: Res<ZoneSettings>,
    mut clients: Query<(&Position, &Replicated, &mut InterestState)>,
) {
    let tiers = &settings.0.netcode.tiers;
    for (pos, replicated, mut state) in &mut clients {
        let tier = match state.tier {
            ClientTier::Mobile => &tiers.mobile,
            ClientTier::Desktop => &tiers.desktop,
        };
        state.update(&index, pos.0, replicated.net_id, tier);
    }
}
