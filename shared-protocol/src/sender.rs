//! The server side of delta snapshots: per client, the ring of recently sent snapshots
//! (their views live in the zone's shared [`SentViews`]) and the newest acknowledged
//! one, and the encoding of the next snapshot against it. Pure logic: time and input
//! come in as arguments.

use crate::codec::{self, CodecError};
use crate::messages::ServerMessage;
use crate::sent_views::{SentViews, ViewRef};
use crate::snapshot::SENT_RING;
use crate::snapshot::{InputReceipt, OwnState, Snapshot, ViewEntity, diff_views};

/// Sizes of one encoded snapshot, for metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeStats {
    pub bytes: usize,
    pub enters: usize,
    pub updates: usize,
    pub leaves: usize,
    pub full: bool,
}

struct SentSnapshot {
    id: u32,
    tick: u32,
    /// The view as the client holds it once it applied this snapshot (velocities
    /// included), in the zone's [`SentViews`].
    view: ViewRef,
    own: Option<OwnState>,
}

/// Server-side per-client snapshot state: the ring of recently sent snapshots (where
/// their views are in [`SentViews`]) and the newest acknowledged id. Pure logic: time
/// and input come in as arguments.
pub struct SnapshotSender {
    ring: Vec<SentSnapshot>,
    next_id: u32,
    /// The newest snapshot the client acknowledged, whether or not it is still in the
    /// ring (0: none yet): the baseline while it is in the ring. A client that stays
    /// far behind still proves it reads.
    heard: u32,
    scratch: Snapshot,
}

impl Default for SnapshotSender {
    fn default() -> Self {
        Self::new()
    }
}

impl SnapshotSender {
    pub fn new() -> Self {
        SnapshotSender {
            ring: (0..SENT_RING)
                .map(|_| SentSnapshot {
                    id: 0,
                    tick: 0,
                    view: ViewRef::NONE,
                    own: None,
                })
                .collect(),
            next_id: 1,
            heard: 0,
            scratch: Snapshot::default(),
        }
    }

    /// Records a client ack. Acks of future or older ids are ignored, so a reordered
    /// or forged ack can never select a baseline the client does not have. Whether
    /// the acked snapshot is still in the ring is asked when it is used
    /// ([`Self::baseline_id`]), not here: an ack then costs no read of the ring (a
    /// cache miss per client per tick), and an id newer than the baseline in use is in
    /// the ring whenever that one is.
    pub fn ack(&mut self, snapshot_id: u32) {
        if snapshot_id < self.next_id {
            self.heard = self.heard.max(snapshot_id);
        }
    }

    /// How many snapshots were sent after the newest one the client acknowledged (all
    /// of them while it has acknowledged none). One a tick: a client that keeps
    /// reading stays near its round trip in ticks.
    pub fn unacknowledged(&self) -> u32 {
        // Ids wrap after 2³² snapshots (seven years at 20 Hz); no panic then.
        self.next_id.wrapping_sub(1).wrapping_sub(self.heard)
    }

    /// The newest acknowledged snapshot id still usable as a baseline.
    pub fn baseline_id(&self) -> Option<u32> {
        Some(self.heard).filter(|&id| self.sent(id).is_some())
    }

    fn sent(&self, id: u32) -> Option<&SentSnapshot> {
        let slot = &self.ring[id as usize % SENT_RING];
        (slot.id == id && id != 0).then_some(slot)
    }

    /// Builds the next snapshot of `current` (sorted by `local`, unique) and the
    /// player's `own` state against the newest usable baseline, and appends its encoded
    /// `ServerMessage` to `out`. `time_rate` is the zone's time rate in percent of real
    /// time (see [`Snapshot::time_rate`]). The views sent are kept in `views`, which
    /// the zone shares among its clients: a baseline whose tick `views` no longer
    /// holds is not used (the snapshot is then full).
    #[allow(clippy::too_many_arguments)]
    pub fn encode_next(
        &mut self,
        views: &mut SentViews,
        tick: u32,
        time_rate: u8,
        input: InputReceipt,
        current: &[ViewEntity],
        own: Option<&OwnState>,
        out: &mut Vec<u8>,
    ) -> Result<EncodeStats, CodecError> {
        debug_assert!(current.windows(2).all(|w| w[0].local < w[1].local));
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        // Opening the tick may drop the oldest views: before a baseline is chosen.
        views.open(tick);
        let base_snap = self
            .baseline_id()
            .and_then(|b| self.sent(b))
            .filter(|s| views.get(s.view).is_some());
        let baseline = base_snap.map(|s| s.id);
        let dt = base_snap.map_or(0, |s| tick.wrapping_sub(s.tick));
        let base = base_snap.map_or(ViewRef::NONE, |s| s.view);
        // The view sent one tick ago, from which velocities are measured, and the one
        // two ticks ago, from which the step before that is measured.
        let sent_at = |back: u32| {
            self.sent(id.wrapping_sub(back))
                .filter(|p| p.tick == tick.wrapping_sub(back))
                .map_or(ViewRef::NONE, |p| p.view)
        };
        let (prev, before) = (sent_at(1), sent_at(2));
        let own_changed = own.is_some_and(|o| base_snap.and_then(|s| s.own.as_ref()) != Some(o));
        let mut snap = std::mem::take(&mut self.scratch);
        snap.id = id;
        snap.tick = tick;
        snap.time_rate = time_rate;
        snap.last_input_seq = input.seq;
        snap.input_wait = input.wait;
        snap.baseline = baseline.unwrap_or(0);
        // With acks a tick behind, the baseline is the view sent one tick ago: both
        // references then read the same slice, which `diff_views` walks once.
        let (view, ()) = views.append(tick, [base, prev, before], |[base, prev, before], sent| {
            diff_views(base, dt, (prev, before), current, &mut snap, sent);
        });
        snap.own = match own {
            Some(o) if own_changed => Some(o.clone()),
            _ => None,
        };

        let stats = EncodeStats {
            bytes: 0,
            enters: snap.enters.len(),
            updates: snap.updates.len(),
            leaves: snap.leaves.len(),
            full: baseline.is_none(),
        };
        let start = out.len();
        let message = ServerMessage::Snapshot(snap);
        let result = codec::encode_server_message(&message, out);
        if let ServerMessage::Snapshot(s) = message {
            self.scratch = s;
        }
        result?;

        let slot = &mut self.ring[id as usize % SENT_RING];
        slot.id = id;
        slot.tick = tick;
        slot.view = view;
        match (own, &mut slot.own) {
            (Some(o), Some(kept)) => kept.clone_from(o),
            (o, kept) => *kept = o.cloned(),
        }
        Ok(EncodeStats {
            bytes: out.len() - start,
            ..stats
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_server_message;
    use crate::snapshot::*;

    fn ent(local: u16, net: u32, x: i32, y: i32) -> ViewEntity {
        ViewEntity {
            local,
            net_id: NetId(net),
            state: EntityState {
                kind: EntityKind::Npc,
                variant: 0,
                x_cm: x,
                y_cm: y,
                hp_pct: 100,
                flags: 0,
            },
            vel: (0, 0),
        }
    }

    #[test]
    fn the_kept_own_state_is_overwritten_in_place() {
        // The sender overwrites each client's kept own state every tick: its slot list
        // must be reused, not reallocated, and the copy must be whole.
        let own = OwnState {
            hp: 5,
            max_hp: 9,
            mana: 3,
            max_mana: 7,
            ready_tick: vec![1, 2, 3],
            gcd_ready_tick: 4,
            casting: Some((1, 9)),
            respawn_tick: Some(11),
            invulnerable_until: 12,
        };
        let mut kept = OwnState {
            ready_tick: Vec::with_capacity(8),
            ..OwnState::default()
        };
        let list = kept.ready_tick.as_ptr();
        kept.clone_from(&own);
        assert_eq!(kept, own);
        assert_eq!(kept.ready_tick.as_ptr(), list, "reallocated");
        assert_eq!(own.clone(), own);
    }

    /// The next snapshot of `view` at `tick`, with no inputs and no own state.
    fn encode(
        tx: &mut SnapshotSender,
        views: &mut SentViews,
        tick: u32,
        view: &[ViewEntity],
        out: &mut Vec<u8>,
    ) -> EncodeStats {
        (tx.encode_next(views, tick, 100, InputReceipt::default(), view, None, out)).unwrap()
    }

    fn decode(bytes: &[u8]) -> Snapshot {
        match decode_server_message(bytes).unwrap() {
            ServerMessage::Snapshot(s) => s,
            other => panic!("not a snapshot: {other:?}"),
        }
    }

    #[test]
    fn many_updates_of_every_size_round_trip() {
        // More updates than one 512-byte chunk of `encode_updates` holds, with deltas
        // of 1, 3 and 5 bytes and every field combination, so chunk edges fall inside
        // the list.
        let deltas = [
            0,
            1,
            -1,
            3,
            -4,
            4,
            -5,
            125,
            -126,
            30_000,
            -40_000,
            i32::MAX,
            i32::MIN,
        ];
        let updates: Vec<EntityUpdate> = (0..400u16)
            .map(|i| {
                let d = deltas[usize::from(i) % deltas.len()];
                EntityUpdate {
                    local: (i * 163) % 250,
                    pos_delta: (i % 4 != 1).then_some((d, d.wrapping_neg())),
                    hp_pct: (i % 3 == 1).then_some(i as u8),
                    flags: (i % 5 == 1 || i % 4 == 1).then_some(0xF0),
                    vel: (i % 7 == 2 || i % 4 == 1).then_some((d, -7)),
                }
            })
            .collect();
        let snap = Snapshot {
            id: 7,
            tick: 9,
            updates,
            ..Snapshot::default()
        };
        let mut bytes = Vec::new();
        codec::encode_server_message(&ServerMessage::Snapshot(snap.clone()), &mut bytes).unwrap();
        assert!(bytes.len() > 2 * 512, "{} bytes", bytes.len());
        assert_eq!(decode(&bytes), snap);
    }

    #[test]
    fn a_creature_update_costs_what_a_player_update_costs() {
        // Species and traits travel in the variant, which only an enter carries:
        // a moving creature's update has the bytes of a moving player's.
        let bytes_of = |kind: EntityKind, variant: u16| {
            let (mut tx, mut views) = (SnapshotSender::new(), SentViews::new());
            let mut out = Vec::new();
            let mut sizes = Vec::new();
            for t in 1..=3u32 {
                let mut e = ent(0, 9, 1_000 + t as i32 * 25, 2_000 - t as i32 * 10);
                e.state.kind = kind;
                e.state.variant = variant;
                out.clear();
                encode(&mut tx, &mut views, t, &[e], &mut out);
                tx.ack(t);
                sizes.push(out.len());
            }
            sizes
        };
        let player = bytes_of(EntityKind::Player, 0);
        let creature = bytes_of(
            EntityKind::Creature,
            crate::creatures::variant::pack(200, [15, 15]),
        );
        assert_eq!(player[1..], creature[1..], "updates");
        assert!(
            creature[0] <= player[0] + 2,
            "the enter carries the variant"
        );
    }

    #[test]
    fn first_snapshot_is_full_then_deltas_follow_acks() {
        let (mut tx, mut views) = (SnapshotSender::new(), SentViews::new());
        let mut out = Vec::new();
        let s1 = tx
            .encode_next(
                &mut views,
                1,
                100,
                InputReceipt::default(),
                &[ent(0, 10, 0, 0), ent(1, 11, 500, 500)],
                None,
                &mut out,
            )
            .unwrap();
        assert!(s1.full);
        assert_eq!(decode(&out).enters.len(), 2);
        tx.ack(1);
        out.clear();
        let s2 = tx
            .encode_next(
                &mut views,
                2,
                100,
                InputReceipt::default(),
                &[ent(0, 10, 20, -20), ent(1, 11, 500, 500)],
                None,
                &mut out,
            )
            .unwrap();
        assert!(!s2.full);
        let snap = decode(&out);
        assert_eq!(snap.baseline, 1);
        // The unchanged entity costs nothing; the moved one states its move and, as
        // it moved since the last tick, that step as its velocity.
        assert_eq!(
            snap.updates,
            vec![EntityUpdate {
                local: 0,
                pos_delta: Some((20, -20)),
                vel: Some((20, -20)),
                ..EntityUpdate::default()
            }]
        );
        assert!(snap.enters.is_empty() && snap.leaves.is_empty());
    }

    #[test]
    fn update_sizes_follow_the_form() {
        let size = |u: EntityUpdate| {
            let mut bytes = Vec::new();
            codec::encode_into(&u, &mut bytes).unwrap();
            bytes.len()
        };
        let moved = |d| EntityUpdate {
            local: 249,
            pos_delta: Some(d),
            ..EntityUpdate::default()
        };
        assert_eq!(size(moved((-4, 3))), 2, "a nudge");
        assert_eq!(size(moved((4, 0))), 4, "a small residual");
        assert_eq!(size(moved((-100, 125))), 4);
        let turned = EntityUpdate {
            vel: Some((200, -1)),
            ..moved((3, 3))
        };
        assert_eq!(
            size(turned),
            8,
            "mask, residual, velocity (200 zigzags to 3 bytes)"
        );
    }

    /// A walker at a steady velocity with a centimetre of rounding jitter costs one
    /// update stating the velocity, then nudges or nothing, each snapshot acked.
    #[test]
    fn steady_walker_is_dead_reckoned() {
        let (mut tx, mut views) = (SnapshotSender::new(), SentViews::new());
        let mut client = crate::view::ClientView::new();
        let mut out = Vec::new();
        let mut sizes = Vec::new();
        for tick in 0..40i32 {
            let jitter = [0, 1, 0, -1][tick as usize % 4];
            let walker = ent(7, 70, 1_000 + 200 * tick + jitter, -150 * tick);
            let still = ent(8, 80, 5, 5);
            out.clear();
            tx.encode_next(
                &mut views,
                tick as u32,
                100,
                InputReceipt::default(),
                &[walker, still],
                None,
                &mut out,
            )
            .unwrap();
            let snap = decode(&out);
            client.apply(&snap).unwrap();
            assert_eq!(client.entities()[0].state, walker.state, "tick {tick}");
            tx.ack(snap.id);
            sizes.push(snap.updates.len());
            if tick >= 3 {
                for u in &snap.updates {
                    assert_eq!(u.vel, None, "tick {tick}: {u:?}");
                    let (dx, dy) = u.pos_delta.unwrap();
                    assert!(NUDGE.contains(&dx) && dy == 0, "tick {tick}: {u:?}");
                }
            }
        }
        assert!(
            sizes[3..].iter().filter(|&&n| n == 0).count() >= 15,
            "{sizes:?}"
        );
    }

    /// Encoded bytes per entity per snapshot for 24 walking players over 400 ticks, each
    /// snapshot applied by a client whose acks arrive `lag` ticks late. `late` is the
    /// share of ticks a walker's input misses, so it stands still that tick and makes
    /// up the step in the next (its server applies two inputs then), as on a zone whose
    /// inputs arrive late. Walkers turn every 40–80 ticks.
    fn bytes_per_update(late: f64, lag: usize) -> f64 {
        let (mut tx, mut views) = (SnapshotSender::new(), SentViews::new());
        let mut client = crate::view::ClientView::new();
        let mut out = Vec::new();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut roll = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let n = 24u16;
        let mut pos: Vec<(i32, i32)> = (0..n).map(|i| (i32::from(i) * 5_000, 0)).collect();
        let mut dir: Vec<(i32, i32)> = vec![(200, 0); usize::from(n)];
        let mut owed = vec![0i32; usize::from(n)];
        let mut ids = std::collections::VecDeque::new();
        let (mut bytes, mut counted) = (0usize, 0usize);
        for tick in 0..400u32 {
            for w in 0..usize::from(n) {
                if roll() % 60 == 0 {
                    let a = (roll() % 360) as f64 * std::f64::consts::PI / 180.0;
                    dir[w] = ((a.cos() * 200.0) as i32, (a.sin() * 200.0) as i32);
                }
                let steps = if (roll() % 1_000) as f64 / 1_000.0 < late {
                    owed[w] += 1;
                    0
                } else {
                    1 + std::mem::take(&mut owed[w])
                };
                let jitter = (roll() % 3) as i32 - 1;
                pos[w].0 += dir[w].0 * steps + jitter;
                pos[w].1 += dir[w].1 * steps;
            }
            let view: Vec<ViewEntity> = (0..n)
                .map(|i| {
                    let mut e = ent(
                        i,
                        100 + u32::from(i),
                        pos[usize::from(i)].0,
                        pos[usize::from(i)].1,
                    );
                    e.state.kind = EntityKind::Player;
                    e
                })
                .collect();
            out.clear();
            encode(&mut tx, &mut views, tick, &view, &mut out);
            let snap = decode(&out);
            client.apply(&snap).unwrap();
            let states = |v: &[ViewEntity]| v.iter().map(|e| e.state).collect::<Vec<_>>();
            assert_eq!(states(client.entities()), states(&view), "tick {tick}");
            ids.push_back(snap.id);
            if ids.len() > lag {
                tx.ack(ids.pop_front().unwrap());
            }
            if tick >= 50 {
                bytes += out.len();
                counted += usize::from(n);
            }
        }
        bytes as f64 / counted as f64
    }

    /// Inputs that come unevenly (none in a tick, two in the next) make odd steps
    /// along the same velocity; stating each as a new velocity cost a mask, a
    /// residual and a velocity per entity per tick. Bytes per entity per snapshot in
    /// this simulation before hiccups were told from turns: 2.58 regular, 5.18 with
    /// 10 % of inputs late, 9.91 with half late and acks 3 ticks behind (a saturated
    /// zone); after: 2.58, 3.50, 8.30.
    #[test]
    fn uneven_inputs_do_not_restate_the_velocity_each_tick() {
        let regular = bytes_per_update(0.0, 1);
        assert!(
            regular < 2.7,
            "regular walkers: {regular:.2} bytes per update"
        );
        let uneven = bytes_per_update(0.1, 1);
        assert!(uneven < 4.0, "10 % late: {uneven:.2} bytes per update");
        let saturated = bytes_per_update(0.5, 3);
        assert!(
            saturated < 9.0,
            "half late: {saturated:.2} bytes per update"
        );
    }

    #[test]
    fn a_step_along_the_velocity_is_a_hiccup_and_a_turn_is_not() {
        use crate::snapshot::hiccup;
        for step in [(0, 0), (401, 198), (601, 299), (1_600, 800)] {
            assert!(hiccup(step, (200, 100)), "{step:?}");
        }
        for step in [(200, 100), (-200, -100), (100, 200), (300, 150), (0, 5)] {
            assert!(!hiccup(step, (200, 100)), "{step:?}");
        }
        assert!(!hiccup((200, 0), (0, 0)), "from rest, any step is a start");
        assert!(!hiccup((i32::MAX, i32::MIN), (i32::MIN, i32::MAX)));
    }

    #[test]
    fn reused_local_id_becomes_leave_and_enter() {
        let mut snap = Snapshot::default();
        let mut sent = Vec::new();
        diff_views(
            &[ent(3, 1, 0, 0)],
            1,
            (&[], &[]),
            &[ent(3, 2, 0, 0)],
            &mut snap,
            &mut sent,
        );
        assert_eq!(sent, [ent(3, 2, 0, 0)]);
        assert_eq!(snap.leaves, vec![3]);
        assert_eq!(snap.enters.len(), 1);
        assert!(snap.updates.is_empty());
    }

    #[test]
    fn acks_for_unsent_or_older_snapshots_are_ignored() {
        let (mut tx, mut views) = (SnapshotSender::new(), SentViews::new());
        let mut out = Vec::new();
        encode(&mut tx, &mut views, 1, &[], &mut out);
        encode(&mut tx, &mut views, 2, &[], &mut out);
        tx.ack(7);
        assert_eq!(tx.baseline_id(), None);
        tx.ack(2);
        tx.ack(1);
        assert_eq!(tx.baseline_id(), Some(2));
    }

    #[test]
    fn unacknowledged_counts_snapshots_since_the_newest_ack_even_beyond_the_ring() {
        let (mut tx, mut views) = (SnapshotSender::new(), SentViews::new());
        let mut out = Vec::new();
        let mut send = |tx: &mut SnapshotSender, n: u32| {
            for t in 0..n {
                encode(tx, &mut views, t, &[], &mut out);
            }
        };
        assert_eq!(tx.unacknowledged(), 0);
        send(&mut tx, 3);
        assert_eq!(tx.unacknowledged(), 3, "nothing acknowledged yet");
        tx.ack(99); // never sent: ignored
        assert_eq!(tx.unacknowledged(), 3);
        tx.ack(2);
        assert_eq!(tx.unacknowledged(), 1);
        // A client far behind: its ack is too old to be a baseline, but it still shows
        // the client reads its snapshots.
        send(&mut tx, SENT_RING as u32 + 10);
        tx.ack(5);
        assert_eq!(tx.baseline_id(), None);
        assert_eq!(tx.unacknowledged(), 3 + SENT_RING as u32 + 10 - 5);
        tx.ack(4); // older than one already heard: changes nothing
        assert_eq!(tx.unacknowledged(), 3 + SENT_RING as u32 + 10 - 5);
    }

    #[test]
    fn clients_share_one_list_per_tick_and_their_views_stay_exact() {
        // Three clients acking two ticks behind, their views in one list per tick:
        // baselines stay usable, each client's view stays exact, and only the ring's
        // lists are held.
        let mut views = SentViews::new();
        let mut txs: Vec<_> = (0..3).map(|_| SnapshotSender::new()).collect();
        let mut clients: Vec<_> = (0..3).map(|_| crate::view::ClientView::new()).collect();
        let mut out = Vec::new();
        for t in 1..40u32 {
            for (c, (tx, client)) in txs.iter_mut().zip(&mut clients).enumerate() {
                if t > 2 {
                    tx.ack(t - 2);
                }
                let view: Vec<_> = (0..30u16)
                    .map(|i| {
                        let x = i32::from(i) * 100 + t as i32 * 50 * (c as i32 + 1);
                        ent(i, u32::from(i) + 1, x, c as i32)
                    })
                    .collect();
                out.clear();
                let stats = encode(tx, &mut views, t, &view, &mut out);
                assert_eq!(stats.full, t <= 2, "tick {t}");
                client.apply(&decode(&out)).unwrap();
                let held: Vec<_> = client.entities().iter().map(|e| e.state).collect();
                let sent: Vec<_> = view.iter().map(|e| e.state).collect();
                assert_eq!(held, sent, "tick {t}, client {c}");
            }
        }
        assert_eq!(views.len(), 3 * 30 * (SENT_RING + 1));
    }

    #[test]
    fn a_baseline_whose_tick_the_views_dropped_is_not_used() {
        // The client's snapshots are far apart in ticks: its baseline is still in its
        // ring, but the zone's views dropped that tick long ago.
        let (mut tx, mut views) = (SnapshotSender::new(), SentViews::new());
        let mut out = Vec::new();
        let e = [ent(0, 1, 0, 0)];
        encode(&mut tx, &mut views, 1, &e, &mut out);
        tx.ack(1);
        let mut other = SnapshotSender::new();
        for t in 2..2 + SENT_RING as u32 {
            encode(&mut other, &mut views, t, &e, &mut out);
        }
        assert_eq!(tx.baseline_id(), Some(1));
        out.clear();
        let stats = encode(&mut tx, &mut views, 99, &e, &mut out);
        assert!(stats.full);
        assert_eq!(decode(&out).baseline, 0);
    }

    #[test]
    fn baseline_older_than_the_ring_falls_back_to_full() {
        let (mut tx, mut views) = (SnapshotSender::new(), SentViews::new());
        let mut out = Vec::new();
        tx.encode_next(
            &mut views,
            1,
            100,
            InputReceipt::default(),
            &[ent(0, 1, 0, 0)],
            None,
            &mut out,
        )
        .unwrap();
        tx.ack(1);
        for t in 0..SENT_RING as u32 {
            tx.encode_next(
                &mut views,
                t + 2,
                100,
                InputReceipt::default(),
                &[ent(0, 1, 0, 0)],
                None,
                &mut out,
            )
            .unwrap();
        }
        out.clear();
        let stats = tx
            .encode_next(
                &mut views,
                99,
                100,
                InputReceipt::default(),
                &[ent(0, 1, 0, 0)],
                None,
                &mut out,
            )
            .unwrap();
        assert!(stats.full);
    }

    #[test]
    fn unknown_mask_bits_are_a_decode_error() {
        // local 1, then a field mask with an unknown bit
        let bytes = [1u8, 0b0001_0000];
        let r: Result<EntityUpdate, _> = codec::decode_limited::<_, 64>(&bytes);
        assert!(r.is_err());
    }
}
