//! Violation scoring: every rejected input adds to a decaying score; a player whose
//! score passes the content threshold is kicked. Honest clients with occasional glitches
//! stay far below it; a client replaying or flooding crosses it within a second or two.

use arcane_protocol::messages::RejectReason;
use bevy_ecs::prelude::{Component, Resource};

use crate::content::InputLimits;

/// Most rejection events reported back to one player per tick (the rest are counted).
pub const MAX_REJECT_EVENTS_PER_TICK: u8 = 4;

/// After the host resumes from a stall, how long floods and replays are excused: the
/// inputs clients sent while the zone was stopped arrive in one burst, and the
/// session's rate limit and the input queue drop most of them within a tick or two.
pub const STALL_AMNESTY_TICKS: u64 = 40;

/// Until which tick floods and replays do not count toward a kick (see
/// [`crate::ZoneCommand::Resumed`]).
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StallAmnesty {
    pub until_tick: u64,
}

impl StallAmnesty {
    /// Whether a rejection for `reason` at `tick` is excused. Invalid values never are:
    /// a stall cannot make a client send them.
    pub fn excuses(&self, tick: u64, reason: RejectReason) -> bool {
        tick < self.until_tick
            && matches!(reason, RejectReason::Flood | RejectReason::StaleSequence)
    }
}

#[derive(Component, Debug, Clone, Default, PartialEq)]
pub struct Violations {
    pub score: f32,
    pub counts: [u32; RejectReason::ALL.len()],
    pub events_this_tick: u8,
}

impl Violations {
    /// Records one rejection (counted, but not scored when `excused`); returns whether
    /// the player should be told about it.
    pub fn record(&mut self, reason: RejectReason, excused: bool) -> bool {
        if !excused {
            self.score += 1.0;
        }
        self.counts[reason as usize] += 1;
        let tell = self.events_this_tick < MAX_REJECT_EVENTS_PER_TICK;
        self.events_this_tick = self.events_this_tick.saturating_add(1);
        tell
    }

    /// End-of-tick bookkeeping; returns true when the player must be kicked.
    pub fn end_tick(&mut self, limits: &InputLimits) -> bool {
        self.events_this_tick = 0;
        let kick = self.score > limits.kick_score;
        self.score = (self.score - limits.score_decay_per_tick).max(0.0);
        kick
    }

    /// The reason with the most rejections, for the kick message.
    pub fn worst(&self) -> RejectReason {
        let mut best = RejectReason::ALL[0];
        for r in RejectReason::ALL {
            if self.counts[r as usize] > self.counts[best as usize] {
                best = r;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> InputLimits {
        InputLimits {
            max_queued: 8,
            max_per_tick: 3,
            credit_cap: 3,
            kick_score: 10.0,
            score_decay_per_tick: 0.5,
        }
    }

    #[test]
    fn occasional_rejections_decay_and_never_kick() {
        let mut v = Violations::default();
        for tick in 0..1000 {
            if tick % 10 == 0 {
                v.record(RejectReason::StaleSequence, false);
            }
            assert!(!v.end_tick(&limits()));
        }
    }

    #[test]
    fn sustained_flooding_kicks_and_names_the_reason() {
        let mut v = Violations::default();
        let mut kicked_at = None;
        for tick in 0..100 {
            for _ in 0..3 {
                v.record(RejectReason::Flood, false);
            }
            if v.end_tick(&limits()) {
                kicked_at = Some(tick);
                break;
            }
        }
        assert_eq!(kicked_at, Some(3));
        assert_eq!(v.worst(), RejectReason::Flood);
    }

    #[test]
    fn a_stall_excuses_floods_and_replays_for_a_while_but_never_bad_values() {
        let amnesty = StallAmnesty { until_tick: 140 };
        assert!(amnesty.excuses(100, RejectReason::Flood));
        assert!(amnesty.excuses(139, RejectReason::StaleSequence));
        assert!(!amnesty.excuses(100, RejectReason::InvalidDirection));
        assert!(!amnesty.excuses(140, RejectReason::Flood));
        let mut v = Violations::default();
        for _ in 0..1000 {
            v.record(RejectReason::Flood, true);
        }
        assert!(!v.end_tick(&limits()), "excused floods never kick");
        assert_eq!(
            v.counts[RejectReason::Flood as usize],
            1000,
            "but are counted"
        );
    }

    #[test]
    fn rejection_events_are_rate_limited_per_tick() {
        let mut v = Violations::default();
        let told = (0..10)
            .filter(|_| v.record(RejectReason::Flood, false))
            .count();
        assert_eq!(told, usize::from(MAX_REJECT_EVENTS_PER_TICK));
    }
}
