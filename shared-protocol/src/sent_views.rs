//! The views a zone sent its clients, kept for the last [`SENT_RING`] ticks (and the
//! current one) as the baselines of their next snapshots: one list per tick, every
//! client's view back to back in the order they were encoded.
//!
//! A zone encodes its clients in the same order every tick, so the baselines it reads
//! (mostly last tick's) and the views it writes are each one forward stream through
//! memory, which the CPU's prefetcher follows. A list per client per snapshot was a
//! cold miss per client per tick instead: the tick runs every 50 ms, and by then the
//! clients' ~4 KB each are out of the cache.

use crate::snapshot::{SENT_RING, ViewEntity};

/// Lists kept: the current tick's, and one for each of the `SENT_RING` before it (a
/// client's ring reaches back that far while it is encoded every tick).
const LISTS: usize = SENT_RING + 1;

/// Where one sent view is: the list of its tick (told apart from the lists that reuse
/// the slot later by `epoch`) and its range in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ViewRef {
    epoch: u32,
    slot: u32,
    start: u32,
    end: u32,
}

impl ViewRef {
    /// No view (the ring slot of a snapshot never sent).
    pub(crate) const NONE: ViewRef = ViewRef {
        epoch: 0,
        slot: 0,
        start: 0,
        end: 0,
    };
}

#[derive(Default)]
struct TickViews {
    tick: u32,
    /// Which use of the slot this is (0: never used): a `ViewRef` into an earlier use
    /// finds nothing, whatever the ticks did.
    epoch: u32,
    entities: Vec<ViewEntity>,
}

/// Every client's sent views for the last [`SENT_RING`] ticks and the current one: a
/// zone keeps one and passes it to each of its clients'
/// [`crate::sender::SnapshotSender`]s.
pub struct SentViews {
    ticks: Vec<TickViews>,
    /// The list of the newest tick opened; the lists rotate as the ticks do.
    newest: usize,
    /// Handed out one per tick opened (never 0).
    next_epoch: u32,
    /// A view being built while its tick's own list is read (encodes within one tick
    /// against a baseline of the same tick: not a zone's, which encodes each client
    /// once a tick).
    scratch: Vec<ViewEntity>,
}

impl Default for SentViews {
    fn default() -> Self {
        SentViews {
            ticks: (0..LISTS).map(|_| TickViews::default()).collect(),
            newest: 0,
            next_epoch: 1,
            scratch: Vec::new(),
        }
    }
}

impl SentViews {
    pub fn new() -> Self {
        Self::default()
    }

    /// The view `at` refers to, if its tick's list still holds it.
    pub(crate) fn get(&self, at: ViewRef) -> Option<&[ViewEntity]> {
        let t = self.ticks.get(at.slot as usize)?;
        if t.epoch != at.epoch || at.epoch == 0 {
            return None;
        }
        t.entities.get(at.start as usize..at.end as usize)
    }

    /// The list `tick`'s views go in: the one opened for it, or the next slot's,
    /// cleared (its views, `LISTS` ticks old, are baselines no more). A sender opens
    /// its tick before it looks for a baseline, so it never picks one this clears.
    pub(crate) fn open(&mut self, tick: u32) -> usize {
        let t = &self.ticks[self.newest];
        if t.epoch != 0 && t.tick == tick {
            return self.newest;
        }
        let epoch = self.next_epoch;
        // Epoch 0 means "never": skip it when the counter wraps (after 2³² ticks).
        self.next_epoch = epoch.wrapping_add(1).max(1);
        self.newest = (self.newest + 1) % LISTS;
        let t = &mut self.ticks[self.newest];
        t.tick = tick;
        t.epoch = epoch;
        t.entities.clear();
        self.newest
    }

    /// Appends the view `build` makes to `tick`'s list, and says where it is.
    /// `build(inputs, view)` reads the earlier views it needs through `inputs` and
    /// appends the new one to `view`.
    pub(crate) fn append<R>(
        &mut self,
        tick: u32,
        inputs: [ViewRef; 3],
        build: impl FnOnce([&[ViewEntity]; 3], &mut Vec<ViewEntity>) -> R,
    ) -> (ViewRef, R) {
        let slot = self.open(tick);
        let epoch = self.ticks[slot].epoch;
        let mut list = std::mem::take(&mut self.ticks[slot].entities);
        let start = list.len();
        let result = if inputs.iter().any(|r| r.epoch == epoch) {
            // A baseline in this very list: read it in place, build aside.
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.clear();
            let read = |r: ViewRef| -> &[ViewEntity] {
                if r.epoch == epoch {
                    list.get(r.start as usize..r.end as usize).unwrap_or(&[])
                } else {
                    self.get(r).unwrap_or(&[])
                }
            };
            let result = build(inputs.map(read), &mut scratch);
            list.extend_from_slice(&scratch);
            self.scratch = scratch;
            result
        } else {
            build(inputs.map(|r| self.get(r).unwrap_or(&[])), &mut list)
        };
        let end = list.len();
        self.ticks[slot].entities = list;
        // A list longer than 2³² entities is beyond any zone; refuse to index it.
        let at = match (u32::try_from(start), u32::try_from(end)) {
            (Ok(start), Ok(end)) => ViewRef {
                epoch,
                slot: slot as u32,
                start,
                end,
            },
            _ => ViewRef::NONE,
        };
        (at, result)
    }

    /// Entities held across all ticks' lists.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ticks.iter().map(|t| t.entities.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{EntityKind, EntityState, NetId};

    fn ent(local: u16) -> ViewEntity {
        ViewEntity::new(
            local,
            NetId(u32::from(local)),
            EntityState {
                kind: EntityKind::Npc,
                variant: 0,
                x_cm: 0,
                y_cm: 0,
                hp_pct: 100,
                flags: 0,
            },
        )
    }

    fn put(views: &mut SentViews, tick: u32, locals: &[u16]) -> ViewRef {
        let (at, ()) = views.append(tick, [ViewRef::NONE; 3], |_, out| {
            out.extend(locals.iter().map(|&l| ent(l)))
        });
        at
    }

    #[test]
    fn views_of_one_tick_go_back_to_back_and_expire_with_the_ring() {
        let mut views = SentViews::new();
        let a = put(&mut views, 7, &[1, 2]);
        let b = put(&mut views, 7, &[3]);
        assert_eq!(views.get(a).unwrap(), [ent(1), ent(2)]);
        assert_eq!(views.get(b).unwrap(), [ent(3)]);
        assert_eq!(views.ticks[a.slot as usize].entities.len(), 3, "one list");
        // SENT_RING ticks later they are still there; the tick after, the list is
        // reused: the old views are gone, not replaced by the new ones.
        for t in 8..8 + SENT_RING as u32 {
            put(&mut views, t, &[9, 9, 9]);
        }
        assert_eq!(views.get(b).unwrap(), [ent(3)]);
        put(&mut views, 99, &[9, 9, 9]);
        assert_eq!(views.get(a), None);
        assert_eq!(views.get(b), None);
        assert_eq!(views.get(ViewRef::NONE), None);
        assert_eq!(views.len(), 3 * LISTS, "only the ring's lists are held");
    }

    #[test]
    fn a_baseline_in_the_list_being_written_is_read_in_place() {
        let mut views = SentViews::new();
        let a = put(&mut views, 3, &[1, 2]);
        let (b, seen) = views.append(3, [a, ViewRef::NONE, a], |[base, none, again], out| {
            out.extend_from_slice(base);
            out.push(ent(5));
            (base.len(), none.len(), again.len())
        });
        assert_eq!(seen, (2, 0, 2));
        assert_eq!(views.get(b).unwrap(), [ent(1), ent(2), ent(5)]);
        assert_eq!(views.get(a).unwrap(), [ent(1), ent(2)]);
    }

    #[test]
    fn epochs_skip_zero_when_they_wrap() {
        let mut views = SentViews::new();
        views.next_epoch = u32::MAX;
        let a = put(&mut views, 1, &[1]);
        let b = put(&mut views, 2, &[2]);
        assert_eq!(a.epoch, u32::MAX);
        assert_ne!(b.epoch, 0);
        assert_eq!(views.get(a).unwrap(), [ent(1)]);
        assert_eq!(views.get(b).unwrap(), [ent(2)]);
    }
}
