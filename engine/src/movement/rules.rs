//! Movement rules as pure functions: input acceptance (replay, flood and value checks),
//! the per-tick input allowance, and integration with collision against the zone.

use std::collections::VecDeque;

use arcane_protocol::MoveInput;
use arcane_protocol::messages::RejectReason;
use bevy_ecs::prelude::Component;
use glam::Vec2;

use crate::common::state_hash::{Bits, v2};
use crate::content::InputLimits;

/// A player's input stream: the queue waiting to be applied and its bookkeeping.
#[derive(Component, Debug, Clone, Default)]
pub struct PlayerInput {
    /// (sequence, direction, when the host received it in µs).
    queue: VecDeque<(u32, Vec2, u64)>,
    /// Newest sequence number received (accepted or dropped as a flood).
    pub last_seq_received: u32,
    /// Which of the [`REORDER_WINDOW`] sequence numbers up to `last_seq_received` have
    /// been received: bit `i` is `last_seq_received - i`. It tells a datagram the
    /// network reordered (first seen, no violation) from a replay (seen before).
    seen: u64,
    /// Newest sequence number applied; echoed in snapshots for reconciliation.
    pub last_applied_seq: u32,
    /// The oldest input applied in the last tick and how long it waited between its
    /// receipt and the tick's start (µs); `None` when that tick applied none. Echoed
    /// in snapshots so clients can time their sends.
    pub tick_oldest_wait: Option<(u32, u64)>,
    credits: u8,
}

/// How far behind the newest input an input may arrive and still count as reordered
/// by the network rather than replayed (64 inputs, 3.2 s at 20 Hz).
pub const REORDER_WINDOW: u32 = 64;

/// What became of an input that passed validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Queued; inputs are applied in sequence order.
    Queued,
    /// It arrived after a newer input had been applied (the network reordered it):
    /// its tick has passed, so it is dropped, without counting against the player.
    Superseded,
}

/// Checks a direction and clamps its length to 1. Non-finite values are rejected.
pub fn validate_direction(x: f32, y: f32) -> Result<Vec2, RejectReason> {
    if !x.is_finite() || !y.is_finite() {
        return Err(RejectReason::InvalidDirection);
    }
    let d = Vec2::new(x, y);
    // `clamp_length_max` keeps the direction and caps the length.
    Ok(d.clamp_length_max(1.0))
}

/// [`PlayerInput`] as plain values, for the state hash and dumps.
type InputRow = (
    Vec<(u32, (Bits, Bits), u64)>,
    (u32, u64, u32),
    Option<(u32, u64)>,
    u8,
);

impl PlayerInput {
    /// Everything the input stream holds, as plain values.
    pub fn state_row(&self) -> InputRow {
        (
            self.queue.iter().map(|&(s, d, t)| (s, v2(d), t)).collect(),
            (self.last_seq_received, self.seen, self.last_applied_seq),
            self.tick_oldest_wait,
            self.credits,
        )
    }

    /// Accepts an input into the queue or says why not. Each sequence number is taken
    /// once: a second copy (a replay), one older than the reorder window, one more than
    /// `MAX_SEQ_AHEAD` ahead of the newest, or 0 is `StaleSequence`. One the network merely reordered is queued in order, or
    /// dropped as `Superseded` when a newer input was already applied. A dropped flood
    /// input still consumes its sequence number so it cannot be replayed later.
    pub fn accept(
        &mut self,
        input: MoveInput,
        received_us: u64,
        limits: &InputLimits,
    ) -> Result<Accepted, RejectReason> {
        let (x, y) = input.direction().ok_or(RejectReason::InvalidDirection)?;
        let dir = validate_direction(x, y)?;
        let seq = input.seq;
        if seq - self.last_seq_received.min(seq) > arcane_protocol::MAX_SEQ_AHEAD {
            return Err(RejectReason::StaleSequence);
        }
        if seq > self.last_seq_received {
            let ahead = seq - self.last_seq_received;
            self.seen = self.seen.checked_shl(ahead).unwrap_or(0) | 1;
            self.last_seq_received = seq;
        } else {
            let behind = self.last_seq_received - seq;
            let bit = 1u64.checked_shl(behind).unwrap_or(0);
            if seq == 0 || bit == 0 || self.seen & bit != 0 {
                return Err(RejectReason::StaleSequence);
            }
            self.seen |= bit;
            if seq <= self.last_applied_seq {
                return Ok(Accepted::Superseded);
            }
        }
        if self.queue.len() >= usize::from(limits.max_queued) {
            return Err(RejectReason::Flood);
        }
        // Almost always the newest: then this is a push at the back.
        let at = self.queue.partition_point(|&(s, _, _)| s < seq);
        self.queue.insert(at, (seq, dir, received_us));
        Ok(Accepted::Queued)
    }

    /// Grants this tick's credit and yields the inputs to apply now: at most
    /// `max_per_tick`, and never more than the credits saved, so the long-run rate is
    /// one input per tick however fast a client sends. `now_us` is the tick's start
    /// on the clock that stamped the inputs.
    pub fn take_for_tick(
        &mut self,
        limits: &InputLimits,
        now_us: u64,
    ) -> impl Iterator<Item = Vec2> + '_ {
        self.credits = (self.credits + 1).min(limits.credit_cap);
        let n = self
            .queue
            .len()
            .min(usize::from(limits.max_per_tick))
            .min(usize::from(self.credits));
        self.credits -= n as u8;
        if let Some(&(seq, _, _)) = self.queue.get(n.wrapping_sub(1)) {
            self.last_applied_seq = seq;
        }
        self.tick_oldest_wait = self
            .queue
            .front()
            .filter(|_| n > 0)
            .map(|&(seq, _, received_us)| (seq, now_us.saturating_sub(received_us)));
        self.queue.drain(..n).map(|(_, d, _)| d)
    }

    /// Forgets the stream (a reconnect starts its sequence numbers again).
    pub fn reset(&mut self) {
        *self = PlayerInput::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> InputLimits {
        InputLimits {
            max_queued: 4,
            max_per_tick: 3,
            credit_cap: 3,
            kick_score: 40.0,
            score_decay_per_tick: 0.05,
        }
    }

    fn input(seq: u32, x: i8, y: i8) -> MoveInput {
        MoveInput {
            seq,
            dir_x: x,
            dir_y: y,
        }
    }

    #[test]
    fn a_huge_forward_jump_is_refused_and_does_not_lock_the_stream_out() {
        let mut p = PlayerInput::default();
        assert_eq!(p.accept(input(1, 1, 0), 0, &limits()), Ok(Accepted::Queued));
        assert_eq!(
            p.accept(input(u32::MAX, 1, 0), 0, &limits()),
            Err(RejectReason::StaleSequence)
        );
        assert_eq!(
            p.accept(
                input(2 + arcane_protocol::MAX_SEQ_AHEAD, 1, 0),
                0,
                &limits()
            ),
            Err(RejectReason::StaleSequence)
        );
        // The honest stream goes on; a jump within the bound (a burst of lost
        // datagrams) is fine.
        assert_eq!(p.accept(input(2, 1, 0), 0, &limits()), Ok(Accepted::Queued));
        let far = 2 + arcane_protocol::MAX_SEQ_AHEAD;
        assert_eq!(
            p.accept(input(far, 1, 0), 0, &limits()),
            Ok(Accepted::Queued)
        );
        assert_eq!(p.last_seq_received, far);
    }

    #[test]
    fn direction_validation_table() {
        let cases: &[(f32, f32, Result<Vec2, RejectReason>)] = &[
            (0.0, 0.0, Ok(Vec2::ZERO)),
            (1.0, 0.0, Ok(Vec2::X)),
            (0.6, 0.8, Ok(Vec2::new(0.6, 0.8))),
            (1.0, 1.0, Ok(Vec2::new(1.0, 1.0).normalize())),
            (30.0, -40.0, Ok(Vec2::new(0.6, -0.8))),
            (f32::NAN, 0.0, Err(RejectReason::InvalidDirection)),
            (0.0, f32::INFINITY, Err(RejectReason::InvalidDirection)),
            (
                f32::NEG_INFINITY,
                f32::NAN,
                Err(RejectReason::InvalidDirection),
            ),
        ];
        for (x, y, want) in cases {
            let got = validate_direction(*x, *y);
            match (got, want) {
                (Ok(g), Ok(w)) => assert!(g.distance(*w) < 1e-5, "({x},{y}) -> {g}, want {w}"),
                (g, w) => assert_eq!(&g, w, "({x},{y})"),
            }
        }
    }

    #[test]
    fn input_acceptance_table() {
        let l = limits();
        let mut s = PlayerInput::default();
        let q = Ok(Accepted::Queued);
        let steps: &[(MoveInput, Result<Accepted, RejectReason>)] = &[
            (input(1, 127, 0), q),
            (input(1, 127, 0), Err(RejectReason::StaleSequence)), // duplicate
            (input(0, 127, 0), Err(RejectReason::StaleSequence)), // never valid
            (input(2, -128, 0), Err(RejectReason::InvalidDirection)), // reserved value
            (input(5, 0, 127), q), // gaps are fine (lost frames on QUIC)
            (input(6, 0, 127), q),
            (input(3, 0, 127), q), // reordered by the network: queued in order
            (input(3, 0, 127), Err(RejectReason::StaleSequence)), // ...once
            (input(8, 0, 127), Err(RejectReason::Flood)), // queue of 4 is full
            (input(8, 0, 127), Err(RejectReason::StaleSequence)), // flood seq is consumed
            (input(7, 0, 127), Err(RejectReason::Flood)), // a late one floods too
            (input(7, 0, 127), Err(RejectReason::StaleSequence)),
        ];
        for (i, (inp, want)) in steps.iter().enumerate() {
            assert_eq!(&s.accept(*inp, 0, &l), want, "step {i}: {inp:?}");
        }
    }

    #[test]
    fn reordered_inputs_apply_in_order_and_late_ones_are_dropped_without_blame() {
        let l = limits();
        let mut s = PlayerInput::default();
        let left = input(2, -127, 0);
        assert_eq!(s.accept(input(3, 127, 0), 0, &l), Ok(Accepted::Queued));
        assert_eq!(s.accept(left, 0, &l), Ok(Accepted::Queued));
        // One credit: the earlier sequence number goes first.
        assert_eq!(s.take_for_tick(&l, 0).next().map(|d| d.x < 0.0), Some(true));
        assert_eq!(s.last_applied_seq, 2);
        assert_eq!(s.take_for_tick(&l, 0).count(), 1);
        // Input 1 comes after 2 and 3 were applied: its tick has passed.
        assert_eq!(s.accept(input(1, 127, 0), 0, &l), Ok(Accepted::Superseded));
        assert_eq!(s.take_for_tick(&l, 0).count(), 0);
        // A replay of it, or of anything already taken, is still a violation.
        for seq in [1, 2, 3] {
            assert_eq!(
                s.accept(input(seq, 127, 0), 0, &l),
                Err(RejectReason::StaleSequence)
            );
        }
    }

    #[test]
    fn inputs_older_than_the_reorder_window_are_stale() {
        let l = limits();
        let mut s = PlayerInput::default();
        let newest = 1000;
        assert_eq!(s.accept(input(newest, 1, 0), 0, &l), Ok(Accepted::Queued));
        s.take_for_tick(&l, 0).count();
        let edge = newest - (REORDER_WINDOW - 1);
        assert_eq!(s.accept(input(edge, 1, 0), 0, &l), Ok(Accepted::Superseded));
        assert_eq!(
            s.accept(input(edge - 1, 1, 0), 0, &l),
            Err(RejectReason::StaleSequence)
        );
        // A jump past the whole window forgets it: what came before the jump and was
        // not applied yet is still welcome, once.
        assert_eq!(
            s.accept(input(newest + 500, 1, 0), 0, &l),
            Ok(Accepted::Queued)
        );
        assert_eq!(
            s.accept(input(newest + 499, 1, 0), 0, &l),
            Ok(Accepted::Queued)
        );
        assert_eq!(
            s.accept(input(newest + 499, 1, 0), 0, &l),
            Err(RejectReason::StaleSequence)
        );
    }

    #[test]
    fn the_oldest_input_of_each_tick_and_its_wait_are_kept() {
        let l = limits();
        let mut s = PlayerInput::default();
        assert_eq!(s.take_for_tick(&l, 0).count(), 0); // saves a credit
        s.accept(input(1, 1, 0), 1_000, &l).unwrap();
        s.accept(input(2, 1, 0), 30_000, &l).unwrap();
        assert_eq!(s.take_for_tick(&l, 50_000).count(), 2);
        assert_eq!(
            (s.last_applied_seq, s.tick_oldest_wait),
            (2, Some((1, 49_000)))
        );
        assert_eq!(s.take_for_tick(&l, 100_000).count(), 0);
        assert_eq!((s.last_applied_seq, s.tick_oldest_wait), (2, None));
        // A host clock that stepped back reports no wait rather than a huge one.
        s.accept(input(3, 1, 0), 200_000, &l).unwrap();
        s.take_for_tick(&l, 150_000).count();
        assert_eq!(s.tick_oldest_wait, Some((3, 0)));
    }

    #[test]
    fn flooding_never_beats_one_input_per_tick_on_average() {
        let l = limits();
        let mut s = PlayerInput::default();
        let mut seq = 0;
        let mut applied = 0;
        for _ in 0..100 {
            for _ in 0..10 {
                seq += 1;
                let _ = s.accept(input(seq, 127, 0), 0, &l);
            }
            applied += s.take_for_tick(&l, 0).count();
        }
        // One credit per tick; the first tick may use a saved burst of up to the cap.
        assert!(applied <= 100, "applied {applied} inputs in 100 ticks");
        assert!(applied >= 99);
    }

    #[test]
    fn jitter_burst_is_absorbed_by_saved_credits() {
        let l = limits();
        let mut s = PlayerInput::default();
        assert_eq!(s.take_for_tick(&l, 0).count(), 0); // idle tick saves a credit
        assert_eq!(s.take_for_tick(&l, 0).count(), 0);
        s.accept(input(1, 1, 0), 0, &l).unwrap();
        s.accept(input(2, 1, 0), 0, &l).unwrap();
        assert_eq!(s.take_for_tick(&l, 0).count(), 2);
        assert_eq!(s.last_applied_seq, 2);
    }
}
