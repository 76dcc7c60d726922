//! What one client sees: the entities it tracks under one-byte local ids, with
//! hysteresis at the edge, a cap per tier filled nearest first, and refreshes by
//! accumulated priority when more are tracked than one snapshot carries.

use arcane_protocol::snapshot::ViewEntity;
use arcane_protocol::{ClientTier, LocalId, NetId};
use bevy_ecs::prelude::*;
use glam::Vec2;
use rustc_hash::FxHashMap;

use super::rules::{in_view, keep_smallest, priority_gain};
use crate::common::components::{Position, Replicated};
use crate::common::events::{PlayerJoined, PlayerReconnected};
use crate::common::spatial::SpatialIndex;
use crate::common::state::{Headless, ZoneClock, ZoneSettings};
use crate::content::InterestTier;

/// One tracked entity: 16 bytes, as every client's slots are walked every tick (the
/// state last offered is in `InterestState::view`, read back only over the cap).
#[derive(Debug, Clone, Copy)]
struct Slot {
    net_id: NetId,
    /// Where it is in this tick's frame (once seen this generation).
    frame_idx: u32,
    /// Accumulated refresh priority.
    priority: f32,
    /// Generation in which the entity was last found in view. Every update marks or
    /// drops every slot, so a wrapping byte tells this generation from the last.
    seen: u8,
    entered: bool,
    /// Over the snapshot cap: its state is this tick's (refreshed, or just entered).
    fresh: bool,
}

// Walked for every client every tick: keep it at 16 bytes (`None` in a spare niche).
const _: () = assert!(std::mem::size_of::<Option<Slot>>() == 16);

#[derive(Debug, Clone, Copy)]
struct Candidate {
    frame_idx: u32,
    d2: f32,
    /// The entity's local id if it is already tracked (looked up once).
    local: Option<LocalId>,
}

/// What one client tracks, under which local ids, and this tick's view.
#[derive(Component, Debug)]
pub struct InterestState {
    pub tier: ClientTier,
    /// Indexed by local id; only `..used` may hold entries.
    slots: Vec<Option<Slot>>,
    /// One past the highest local id in use. Free ids are handed out lowest first,
    /// so this stays close to the tracked count and loops never walk the whole cap.
    used: usize,
    by_net: FxHashMap<NetId, LocalId>,
    /// Free local ids below `used`, highest first (so `pop` yields the lowest).
    free: Vec<LocalId>,
    generation: u8,
    /// This tick's view, sorted by local id; read by replication. Until the next
    /// update it also holds the state last offered for each entity.
    pub view: Vec<ViewEntity>,
    /// Over the snapshot cap, the last view while the new one is built.
    last_view: Vec<ViewEntity>,
    candidates: Vec<Candidate>,
    refresh: Vec<(f32, LocalId)>,
}

impl InterestState {
    /// Whether this client tracks `net_id` (it is in, or just leaving, its view).
    pub fn tracks(&self, net_id: NetId) -> bool {
        self.by_net.contains_key(&net_id)
    }

    pub fn new(tier: ClientTier) -> Self {
        InterestState {
            tier,
            slots: Vec::new(),
            used: 0,
            by_net: FxHashMap::default(),
            free: Vec::new(),
            generation: 0,
            view: Vec::new(),
            last_view: Vec::new(),
            candidates: Vec::new(),
            refresh: Vec::new(),
        }
    }

    /// The lowest free local id, growing the used range when none is free below it.
    fn allocate_local(&mut self, cap: usize) -> Option<LocalId> {
        if let Some(l) = self.free.pop() {
            return Some(l);
        }
        if self.used >= cap {
            return None;
        }
        if self.slots.len() <= self.used {
            self.slots.push(None);
        }
        self.used += 1;
        Some((self.used - 1) as LocalId)
    }

    /// Recomputes the tracked set and this tick's view for a client at `pos` (`own` is
    /// the client's own entity, which is always refreshed).
    ///
    /// The spatial query runs every `tier.query_interval_ticks` ticks (staggered by
    /// `own` so clients spread over ticks); in between, tracked entities are refreshed
    /// from the frame and dropped once beyond `radius + margin`, and newcomers wait
    /// for the next query.
    pub fn update(
        &mut self,
        index: &SpatialIndex,
        pos: Vec2,
        own: NetId,
        tier: &InterestTier,
        tick: u64,
    ) {
        let interval = u64::from(tier.query_interval_ticks.max(1));
        if self.used == 0 || (tick + u64::from(own.0)).is_multiple_of(interval) {
            self.update_with_query(index, pos, own, tier);
        } else {
            self.update_tracked(index, pos, own, tier);
        }
    }

    /// The in-between tick: no query, only refresh what is tracked.
    fn update_tracked(&mut self, index: &SpatialIndex, pos: Vec2, own: NetId, tier: &InterestTier) {
        let outer = tier.radius + tier.margin;
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        // `free` holds exactly the empty ids below `used`.
        if self.used - self.free.len() <= usize::from(tier.snapshot_cap) {
            self.refresh_all(index, pos, outer);
            return;
        }
        let mut tracked = 0;
        for slot in self.slots[..self.used].iter_mut().flatten() {
            let Some(idx) = index.frame_index_near(slot.net_id, slot.frame_idx) else {
                continue;
            };
            let d2 = index.frame[idx as usize].pos.distance_squared(pos);
            if d2 <= outer * outer {
                slot.seen = generation;
                slot.frame_idx = idx;
                slot.entered = false;
                tracked += 1;
            }
        }
        self.finish(index, pos, own, tier, tracked, 0);
    }

    /// An in-between tick when everything tracked fits one snapshot (the common
    /// case): what is still within `outer` is refreshed and makes the view, in one
    /// pass over the slots; the rest is dropped.
    fn refresh_all(&mut self, index: &SpatialIndex, pos: Vec2, outer: f32) {
        let generation = self.generation;
        self.view.clear();
        let mut dropped = false;
        for local in 0..self.used {
            let Some(s) = self.slots[local].as_mut() else {
                continue;
            };
            let found = index
                .frame_index_near(s.net_id, s.frame_idx)
                .map(|idx| (idx, &index.frame[idx as usize]))
                .filter(|(_, f)| f.pos.distance_squared(pos) <= outer * outer);
            let Some((idx, f)) = found else {
                let net_id = s.net_id;
                dropped = true;
                self.release(local, net_id);
                continue;
            };
            s.seen = generation;
            s.frame_idx = idx;
            s.entered = false;
            self.view.push(ViewEntity {
                local: local as LocalId,
                net_id: s.net_id,
                state: f.state,
                vel: (0, 0),
            });
        }
        self.release_trailing(dropped);
    }

    fn update_with_query(
        &mut self,
        index: &SpatialIndex,
        pos: Vec2,
        own: NetId,
        tier: &InterestTier,
    ) {
        let cap = usize::from(tier.tracked_cap);
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;

        // 1. Candidates from one radius query, filtered by hysteresis.
        self.candidates.clear();
        let outer = tier.radius + tier.margin;
        let (by_net, candidates) = (&self.by_net, &mut self.candidates);
        index.for_each_within(pos, outer, |frame_idx, d2| {
            let local = by_net.get(&index.frame[frame_idx as usize].net_id).copied();
            if in_view(d2, local.is_some(), tier.radius, tier.margin) {
                candidates.push(Candidate {
                    frame_idx,
                    d2,
                    local,
                });
            }
        });
        // 2. Over the cap: keep the nearest (the client's own entity is at distance 0).
        let kept = keep_smallest(&mut self.candidates, cap, |c| c.d2);

        // 3. Mark kept entities, giving newcomers a free local id.
        let mut entered = 0usize;
        for i in 0..kept {
            let c = self.candidates[i];
            let f = &index.frame[c.frame_idx as usize];
            if let Some(local) = c.local {
                if let Some(s) = self.slots[usize::from(local)].as_mut() {
                    s.seen = generation;
                    s.frame_idx = c.frame_idx;
                    s.entered = false;
                }
                continue;
            }
            let Some(local) = self.allocate_local(cap) else {
                continue;
            };
            self.by_net.insert(f.net_id, local);
            self.slots[usize::from(local)] = Some(Slot {
                net_id: f.net_id,
                frame_idx: c.frame_idx,
                priority: 0.0,
                seen: generation,
                entered: true,
                fresh: true,
            });
            entered += 1;
        }

        self.finish(index, pos, own, tier, kept, entered);
    }

    /// Drops what was not seen this generation, refreshes states and builds the view.
    fn finish(
        &mut self,
        index: &SpatialIndex,
        pos: Vec2,
        own: NetId,
        tier: &InterestTier,
        kept: usize,
        entered: usize,
    ) {
        let generation = self.generation;
        // 4. Drop what left the view; if everything fits the snapshot cap, refresh and
        //    build the view in the same pass (the common case). Over the cap, the last
        //    view is kept aside: it holds the states last offered.
        let fits = kept <= usize::from(tier.snapshot_cap);
        if !fits {
            std::mem::swap(&mut self.view, &mut self.last_view);
        }
        self.view.clear();
        self.refresh.clear();
        let mut dropped = false;
        for local in 0..self.used {
            let Some(s) = self.slots[local].as_mut() else {
                continue;
            };
            if s.seen != generation {
                let net_id = s.net_id;
                dropped = true;
                self.release(local, net_id);
                continue;
            }
            if fits {
                self.view.push(ViewEntity {
                    local: local as LocalId,
                    net_id: s.net_id,
                    state: index.frame[s.frame_idx as usize].state,
                    vel: (0, 0),
                });
            } else if !s.entered {
                let at = index.frame[s.frame_idx as usize].pos;
                s.priority += if s.net_id == own {
                    f32::INFINITY
                } else {
                    priority_gain(at.distance(pos), tier.priority_falloff)
                };
                s.fresh = false;
                self.refresh.push((s.priority, local as LocalId));
            }
        }
        self.release_trailing(dropped);
        if fits {
            return;
        }

        // 5. Over the snapshot cap: refresh by accumulated priority, so far entities
        //    still refresh, just less often. Newcomers were stamped with their current
        //    state on entry and count against the cap.
        let budget = usize::from(tier.snapshot_cap).saturating_sub(entered);
        let n = keep_smallest(&mut self.refresh, budget, |(p, _)| -p);
        for &(_, local) in &self.refresh[..n] {
            if let Some(s) = self.slots[usize::from(local)].as_mut() {
                s.priority = 0.0;
                s.fresh = true;
            }
        }
        // The rest keep the state last offered (the last view is sorted by local id,
        // as the slots are walked).
        let mut last = self.last_view.iter().peekable();
        for local in 0..self.used {
            let Some(s) = &self.slots[local] else {
                continue;
            };
            let local = local as LocalId;
            while last.next_if(|v| v.local < local).is_some() {}
            let offered = last
                .peek()
                .filter(|v| v.local == local && v.net_id == s.net_id);
            let state = match offered {
                Some(v) if !s.fresh => v.state,
                // Refreshed, just entered, or (never) missing from the last view.
                _ => index.frame[s.frame_idx as usize].state,
            };
            self.view.push(ViewEntity {
                local,
                net_id: s.net_id,
                state,
                vel: (0, 0),
            });
        }
    }
}

impl InterestState {
    /// Stops tracking the entity under `local` (its id is free again).
    fn release(&mut self, local: usize, net_id: NetId) {
        self.by_net.remove(&net_id);
        self.free.push(local as LocalId);
        self.slots[local] = None;
    }

    /// Trims trailing free ids so `used` tracks the highest live id; after a drop, the
    /// free list is put back in order (highest first).
    fn release_trailing(&mut self, dropped: bool) {
        while self.used > 0 && self.slots[self.used - 1].is_none() {
            self.used -= 1;
        }
        if dropped {
            let used = self.used as LocalId;
            self.free.retain(|&l| l < used);
            self.free.sort_unstable_by(|a, b| b.cmp(a));
        }
    }
}

pub fn update_interest(
    index: Res<SpatialIndex>,
    settings: Res<ZoneSettings>,
    clock: Res<ZoneClock>,
    mut clients: Query<(&Position, &Replicated, &mut InterestState)>,
    headless: Res<Headless>,
) {
    if headless.0 {
        return;
    }
    let tiers = &settings.0.netcode.tiers;
    for (pos, replicated, mut state) in &mut clients {
        let tier = match state.tier {
            ClientTier::Mobile => &tiers.mobile,
            ClientTier::Desktop => &tiers.desktop,
        };
        state.update(&index, pos.0, replicated.net_id, tier, clock.tick);
    }
}

/// A joining client starts with an empty view of its tier.
pub(super) fn add_player_view(joined: On<PlayerJoined>, mut commands: Commands) {
    commands
        .entity(joined.entity)
        .insert(InterestState::new(joined.tier));
}

/// A reconnected client starts its view over (it has no baseline any more).
pub(super) fn restart_player_view(back: On<PlayerReconnected>, mut commands: Commands) {
    commands
        .entity(back.entity)
        .insert(InterestState::new(back.tier));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::spatial::FrameEntity;
    use arcane_protocol::quant::metres_to_cm;
    use arcane_protocol::{EntityKind, EntityState};

    fn at(id: u32, x: f32) -> FrameEntity {
        FrameEntity {
            entity: Entity::PLACEHOLDER,
            net_id: NetId(id),
            pos: Vec2::new(x, 0.0),
            state: EntityState {
                kind: EntityKind::Npc,
                variant: 0,
                x_cm: metres_to_cm(x),
                y_cm: 0,
                hp_pct: 100,
                flags: 0,
            },
        }
    }

    /// The view as (net id, x in cm), by net id.
    fn seen(state: &InterestState) -> Vec<(u32, i32)> {
        let mut seen: Vec<_> = (state.view.iter())
            .map(|v| (v.net_id.0, v.state.x_cm))
            .collect();
        seen.sort_unstable();
        seen
    }

    #[test]
    fn between_queries_the_tracked_refresh_and_the_far_drop_in_one_pass() {
        let tier = InterestTier {
            radius: 50.0,
            margin: 8.0,
            tracked_cap: 160,
            snapshot_cap: 96,
            priority_falloff: 15.0,
            query_interval_ticks: 4,
        };
        let own = NetId(100);
        let mut index = SpatialIndex::default();
        index.rebuild([at(100, 0.0), at(1, 10.0), at(2, 40.0)].into_iter());
        let mut state = InterestState::new(ClientTier::Desktop);
        state.update(&index, Vec2::ZERO, own, &tier, 0); // (0 + 100) % 4 == 0: a query
        assert_eq!(seen(&state), [(1, 1000), (2, 4000), (100, 0)]);
        // Tick 1, no query: 1 moved (and the frame's order changed), 2 left beyond the
        // margin, 3 arrived (it waits for the next query).
        index.refresh(
            [at(3, 5.0), at(2, 70.0), at(1, 12.0), at(100, 0.0)].into_iter(),
            true,
            0.0,
        );
        state.update(&index, Vec2::ZERO, own, &tier, 1);
        assert_eq!(seen(&state), [(1, 1200), (100, 0)]);
        assert!(!state.tracks(NetId(2)));
        // Within the margin an entity stays between queries.
        index.refresh([at(100, 0.0), at(1, 57.0)].into_iter(), true, 0.0);
        state.update(&index, Vec2::ZERO, own, &tier, 2);
        assert_eq!(seen(&state), [(1, 5700), (100, 0)]);
        // The next query takes the newcomer in.
        index.refresh(
            [at(100, 0.0), at(1, 57.0), at(3, 5.0)].into_iter(),
            true,
            0.0,
        );
        state.update(&index, Vec2::ZERO, own, &tier, 4);
        assert_eq!(seen(&state), [(1, 5700), (3, 500), (100, 0)]);
        assert!(state.view.windows(2).all(|w| w[0].local < w[1].local));
    }

    #[test]
    fn over_the_snapshot_cap_the_rest_keep_the_state_last_offered() {
        let tier = InterestTier {
            radius: 50.0,
            margin: 8.0,
            tracked_cap: 160,
            snapshot_cap: 2,
            priority_falloff: 15.0,
            query_interval_ticks: 1,
        };
        let own = NetId(100);
        // Everything walks 1 m a tick along x; the client stays at the origin.
        let frame = |t: u32| {
            let x = |start: f32| start + t as f32;
            [at(100, 0.0), at(1, x(10.0)), at(2, x(20.0)), at(3, x(30.0))].into_iter()
        };
        let mut index = SpatialIndex::default();
        index.rebuild(frame(0));
        let mut state = InterestState::new(ClientTier::Desktop);
        state.update(&index, Vec2::ZERO, own, &tier, 0);
        // Newcomers are stamped with their state on entry, over the cap or not.
        assert_eq!(seen(&state), [(1, 1000), (2, 2000), (3, 3000), (100, 0)]);
        index.rebuild(frame(1));
        state.update(&index, Vec2::ZERO, own, &tier, 1);
        // Two refreshed: the client's own entity and the nearest; the others keep
        // the state last offered.
        assert_eq!(seen(&state), [(1, 1100), (2, 2000), (3, 3000), (100, 0)]);
        // Priority builds up: every entity is refreshed within a few ticks, and an
        // entity's state is always one it had.
        let mut refreshed = std::collections::HashSet::new();
        for t in 2..8 {
            let before = seen(&state);
            index.rebuild(frame(t));
            state.update(&index, Vec2::ZERO, own, &tier, u64::from(t));
            for ((id, x), (_, was)) in seen(&state).into_iter().zip(before) {
                let now = index.frame[index.frame_index(NetId(id)).unwrap() as usize]
                    .state
                    .x_cm;
                assert!(
                    x == now || x == was,
                    "tick {t}: {id} at {x}, was {was}, is {now}"
                );
                if x == now && id != 100 {
                    refreshed.insert(id);
                }
            }
        }
        assert_eq!(refreshed.len(), 3, "refreshed: {refreshed:?}");
    }
}
