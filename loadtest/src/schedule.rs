//! When a bot sends its inputs: once per zone tick, a lead before the tick, on a tick
//! clock estimated from snapshot arrivals, with the lead tuned from the zone's input
//! receipts (protocol v5 `input_wait_100us`) so each input arrives just in time.

use std::time::{Duration, Instant};

use arcane_protocol::InputReceipt;

/// Ticks of inputs remembered to match receipts and late inputs against.
const MEANT_FOR: usize = 8;

/// When a bot sends its inputs: once per zone tick, `lead` before that tick's snapshot
/// is due, so the input is applied by that tick. The schedule counts ticks, not
/// snapshots: a snapshot that arrives late only moves the send time of the tick not
/// yet served, so a late arrival never makes a second send in one tick (each extra
/// input would wait in the zone's queue for good, a tick of latency each, since the
/// zone applies one per tick).
pub struct InputSchedule {
    clock: TickClock,
    /// The zone's tick period at full speed; the clock's is this over the zone's time
    /// rate.
    nominal: Duration,
    lead: LeadControl,
    /// The tick the next input is for; `None` before the first snapshot.
    next: Option<u32>,
    /// (tick, seq) of the input meant for each of the last few ticks, by tick.
    meant_for: [(u32, u32); MEANT_FOR],
    /// The newest input sent.
    last_sent: u32,
    /// Receipts for inputs up to this one were sent before the lead last changed, so
    /// they say nothing about the new lead (without this, one late input would be
    /// corrected once per input already on its way).
    ignore_through: u32,
}

/// What a snapshot told the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotVerdict {
    /// When to send the next input (maybe in the past: then at once).
    pub send_at: Instant,
    /// Whether the input meant for this snapshot's tick missed it; `None` when no
    /// input was meant for it.
    pub late: Option<bool>,
}

impl InputSchedule {
    /// `lead` is the starting lead; with a `margin`, the lead then follows the zone's
    /// receipts so inputs arrive about `margin` before their tick (see `LeadControl`).
    pub fn new(period: Duration, lead: Duration, margin: Option<Duration>) -> Self {
        InputSchedule {
            clock: TickClock::new(period),
            nominal: period,
            lead: LeadControl::new(period, lead, margin),
            next: None,
            meant_for: [(0, 0); MEANT_FOR],
            last_sent: 0,
            ignore_through: 0,
        }
    }

    /// Follows the zone's time rate (a share of real time, from its snapshots): while
    /// it dilates time its ticks come further apart, and so do the inputs. A change of
    /// rate starts the tick clock again from the next snapshot.
    pub fn set_time_rate(&mut self, rate: f32) {
        // The rate travels as whole percent: back to it for an exact period.
        let pct = (rate * 100.0).round().clamp(1.0, 100.0) as u32;
        let period = self.nominal * 100 / pct;
        if period != self.clock.period {
            self.clock = TickClock::new(period);
        }
    }

    /// The lead in use now.
    pub fn lead(&self) -> Duration {
        self.lead.lead
    }

    /// When to send the input for `tick`: `lead` before its snapshot is due.
    fn send_time(&self, tick: u32) -> Option<Instant> {
        let due = self.clock.arrival(tick)?;
        Some(due.checked_sub(self.lead.lead).unwrap_or(due))
    }

    /// Tick `tick`'s snapshot, carrying `receipt`, arrived at `now`.
    pub fn on_snapshot(
        &mut self,
        tick: u32,
        now: Instant,
        receipt: InputReceipt,
    ) -> SnapshotVerdict {
        let (meant_tick, meant_seq) = self.meant_for[tick as usize % MEANT_FOR];
        let late = (meant_tick == tick && meant_seq != 0).then_some(receipt.seq < meant_seq);
        self.learn(tick, receipt);
        self.clock.observe(tick, now);
        let next = match self.next {
            Some(n) if n > tick => n,
            // Saturating: the tick comes from the server, and a bot must not panic.
            _ => tick.saturating_add(1),
        };
        self.next = Some(next);
        SnapshotVerdict {
            send_at: self.send_time(next).unwrap_or(now),
            late,
        }
    }

    /// Feeds the lead control from a receipt: the zone names the oldest input it
    /// applied in this tick and how long that input waited for the tick.
    fn learn(&mut self, tick: u32, receipt: InputReceipt) {
        let Some(wait) = receipt.wait else {
            return;
        };
        let seq = wait.seq(receipt.seq);
        if seq <= self.ignore_through {
            return;
        }
        let Some(&(meant, _)) = self.meant_for.iter().find(|&&(_, s)| s == seq && s != 0) else {
            return;
        };
        // Each tick the input was applied after the one it was meant for is a period
        // it was late.
        let period_us = self.clock.period.as_micros() as i64;
        let wait_us = wait.wait().as_micros() as i64;
        let margin_us = wait_us - (i64::from(tick) - i64::from(meant)) * period_us;
        if self.lead.on_margin(margin_us) {
            self.ignore_through = self.last_sent;
        }
    }

    /// Input `seq` is sent at `now`; returns the tick it is for (`None` before the
    /// first snapshot) and when to send the next one: the first tick after the one
    /// served whose send time is still ahead (ticks missed while the bot was busy are
    /// skipped, not made up in a burst).
    pub fn on_sent(&mut self, now: Instant, seq: u32) -> (Option<u32>, Instant) {
        let Some(served) = self.next else {
            return (None, now + self.clock.period);
        };
        self.meant_for[served as usize % MEANT_FOR] = (served, seq);
        self.last_sent = seq;
        let first = served.saturating_add(1);
        let Some(at) = self.send_time(first) else {
            return (Some(served), now + self.clock.period);
        };
        let next = if at > now {
            first
        } else {
            let behind = now.duration_since(at).as_nanos() / self.clock.period.as_nanos().max(1);
            first.saturating_add(u32::try_from(behind + 1).unwrap_or(u32::MAX))
        };
        self.next = Some(next);
        let at = self.send_time(next).filter(|&at| at > now);
        (Some(served), at.unwrap_or(now + self.clock.period))
    }
}

/// A bot's lead, tuned from how early its inputs reach the zone. A fixed lead is
/// wrong for most clients of a busy zone: one served early in the zone's snapshot
/// burst sees the tick early and needs little lead, one served late sees it late and
/// needs more, and the zone's input processing adds its own delay. The zone reports
/// each input's wait (its margin, or how late it was), and the lead moves so the
/// smallest margin stays near the target:
/// - a margin under the target (or a late input) moves the lead earlier at once, by
///   the shortfall;
/// - a whole window of margins with more than the target to spare gives back half
///   the spare, so the lead (which is latency) does not ratchet up for good.
struct LeadControl {
    lead: Duration,
    /// `None`: the lead stays fixed.
    target_us: Option<i64>,
    max: Duration,
    /// The smallest margin in the current window, and the window's size so far.
    lowest_us: i64,
    samples: u32,
}

impl LeadControl {
    /// Receipts per window before the lead may shrink (a second at 20 Hz).
    const WINDOW: u32 = 20;

    fn new(period: Duration, lead: Duration, target: Option<Duration>) -> Self {
        // Never a whole tick: an input sent as early as the previous tick's snapshot
        // competes with it on both sides.
        let max = period.mul_f64(0.9);
        LeadControl {
            lead: lead.min(max),
            target_us: target.map(|t| t.as_micros() as i64),
            max,
            lowest_us: i64::MAX,
            samples: 0,
        }
    }

    /// Takes one input's margin (µs; negative: that late); true when the lead changed.
    fn on_margin(&mut self, margin_us: i64) -> bool {
        let Some(target) = self.target_us else {
            return false;
        };
        let before = self.lead;
        if margin_us < target {
            let shortfall = Duration::from_micros(target.saturating_sub(margin_us) as u64);
            self.lead = self.lead.saturating_add(shortfall).min(self.max);
            self.restart_window();
        } else {
            self.lowest_us = self.lowest_us.min(margin_us);
            self.samples += 1;
            if self.samples >= Self::WINDOW {
                let spare = self.lowest_us - target;
                if spare > target {
                    let give_back = Duration::from_micros((spare / 2) as u64);
                    self.lead = self.lead.saturating_sub(give_back);
                }
                self.restart_window();
            }
        }
        self.lead != before
    }

    fn restart_window(&mut self) {
        self.lowest_us = i64::MAX;
        self.samples = 0;
    }
}

/// A bot's estimate of when the zone ticks, from snapshot arrivals: the least delayed
/// arrival, projected by tick number, is the best guess of a tick's end (a min filter,
/// as in NTP-style clock sync). It creeps later slowly so it follows a zone that had
/// to resynchronise its tick clock. The creep is per tick, not per observation, and a
/// late arrival of an old tick never moves the estimate later.
struct TickClock {
    period: Duration,
    anchor: Option<(u32, Instant)>,
    /// The newest tick observed.
    newest: u32,
}

impl TickClock {
    /// Allowed creep per tick (20 µs at 20 Hz is 0.4 ms per second).
    const CREEP: Duration = Duration::from_micros(20);

    fn new(period: Duration) -> Self {
        TickClock {
            period,
            anchor: None,
            newest: 0,
        }
    }

    /// The expected arrival time of tick `tick`'s snapshot; `None` before any arrived.
    fn arrival(&self, tick: u32) -> Option<Instant> {
        let (t0, at0) = self.anchor?;
        Some(if tick >= t0 {
            at0 + self.period * (tick - t0)
        } else {
            at0.checked_sub(self.period * (t0 - tick)).unwrap_or(at0)
        })
    }

    /// Records that tick `tick`'s snapshot arrived at `now`.
    fn observe(&mut self, tick: u32, now: Instant) {
        self.anchor = match (self.anchor, self.arrival(tick)) {
            (Some((t0, at0)), Some(projected)) if now >= projected => {
                let newer = tick.saturating_sub(self.newest);
                Some((t0, at0 + Self::CREEP * newer))
            }
            _ => Some((tick, now)),
        };
        self.newest = self.newest.max(tick);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arcane_protocol::InputWait;

    const PERIOD: Duration = Duration::from_millis(50);
    const LEAD: Duration = Duration::from_millis(20);
    const MARGIN: Duration = Duration::from_millis(5);

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    fn fixed() -> InputSchedule {
        InputSchedule::new(PERIOD, LEAD, None)
    }

    /// A fixed-lead schedule that has seen tick 10's snapshot at `t0` (returned).
    fn after_tick_10() -> (Instant, InputSchedule) {
        let t0 = Instant::now();
        let mut s = fixed();
        s.on_snapshot(10, t0, none(0));
        (t0, s)
    }

    /// A receipt with newest input `seq` and no input applied this tick.
    fn none(seq: u32) -> InputReceipt {
        InputReceipt { seq, wait: None }
    }

    /// A receipt saying input `seq` (also the newest) waited `wait_ms` for this tick.
    fn waited(seq: u32, wait_ms: u64) -> InputReceipt {
        InputReceipt {
            seq,
            wait: InputWait::new(seq, seq, wait_ms * 1000),
        }
    }

    #[test]
    fn sends_once_per_tick_lead_before_it() {
        let t0 = Instant::now();
        let mut s = fixed();
        // Tick 10's snapshot at 0 ms: tick 11's is due at 50, so send at 30.
        assert_eq!(s.on_snapshot(10, t0, none(0)).send_at, ms(t0, 30));
        assert_eq!(s.on_sent(ms(t0, 30), 1), (Some(11), ms(t0, 80)));
        // On time (not earlier than projected): the estimate creeps a little later.
        let v = s.on_snapshot(11, ms(t0, 50), waited(1, 20));
        assert_eq!(v.send_at, ms(t0, 80) + TickClock::CREEP);
        assert_eq!(v.late, Some(false));
    }

    #[test]
    fn an_input_its_tick_did_not_acknowledge_is_late() {
        let (t0, mut s) = after_tick_10();
        s.on_sent(ms(t0, 30), 1);
        assert_eq!(s.on_snapshot(11, ms(t0, 50), none(0)).late, Some(true));
        // No input was meant for tick 12.
        assert_eq!(s.on_snapshot(12, ms(t0, 100), waited(1, 30)).late, None);
    }

    #[test]
    fn a_late_snapshot_after_the_send_does_not_send_again() {
        let (t0, mut s) = after_tick_10();
        // Tick 11's input went at 30; tick 11's snapshot is 10 ms late (60 instead of
        // 50). The next send stays at tick 12's time, not "at once".
        assert_eq!(s.on_sent(ms(t0, 30), 1), (Some(11), ms(t0, 80)));
        let v = s.on_snapshot(11, ms(t0, 60), waited(1, 15));
        assert_eq!(v.send_at, ms(t0, 80) + TickClock::CREEP);
        // Even a snapshot of the tick the input was for, arriving after the send time
        // of the next one, only moves on to the tick after that.
        let (t0, mut s) = after_tick_10();
        assert_eq!(s.on_sent(ms(t0, 30), 1), (Some(11), ms(t0, 80)));
        assert_eq!(s.on_snapshot(10, ms(t0, 85), none(0)).send_at, ms(t0, 80));
    }

    #[test]
    fn ticks_missed_while_busy_are_skipped_not_burst() {
        let (t0, mut s) = after_tick_10();
        // The bot stalled and sent tick 11's input at 140 ms: ticks 12 (80) and 13
        // (130) are gone; the next send is tick 14's at 180.
        assert_eq!(s.on_sent(ms(t0, 140), 1), (Some(11), ms(t0, 180)));
    }

    #[test]
    fn absurd_tick_numbers_and_receipts_from_a_server_do_not_panic() {
        let t0 = Instant::now();
        let mut s = InputSchedule::new(PERIOD, LEAD, Some(MARGIN));
        s.on_snapshot(0, t0, none(0));
        s.on_sent(ms(t0, 5), 1);
        s.on_snapshot(u32::MAX, ms(t0, 10), waited(1, 6_553));
        let (_, at) = s.on_sent(ms(t0, 20), 2);
        assert!(at > ms(t0, 20));
        let absurd = InputReceipt {
            seq: 0,
            wait: Some(InputWait {
                seq_back: 255,
                wait_100us: u16::MAX,
            }),
        };
        s.on_snapshot(3, ms(t0, 30), absurd);
        s.on_sent(ms(t0, 600_000), 3);
        assert!(s.lead() <= PERIOD);
    }

    #[test]
    fn a_dilating_zone_gets_one_input_per_tick_at_its_rate() {
        let t0 = Instant::now();
        let mut s = fixed();
        s.on_snapshot(10, t0, none(0));
        // The zone slows to half speed: ticks 100 ms apart, and the sends with them.
        s.set_time_rate(0.5);
        let at = s.on_snapshot(11, ms(t0, 100), none(0)).send_at;
        assert_eq!(at, ms(t0, 200 - 20));
        let (_, next) = s.on_sent(at, 1);
        assert_eq!(next, ms(t0, 300 - 20));
        // Back at full speed.
        s.set_time_rate(1.0);
        let at = s.on_snapshot(12, ms(t0, 200), none(1)).send_at;
        assert_eq!(at, ms(t0, 250 - 20));
    }

    #[test]
    fn sends_on_a_plain_period_before_the_first_snapshot() {
        let t0 = Instant::now();
        let mut s = fixed();
        assert_eq!(s.on_sent(t0, 1), (None, ms(t0, 50)));
    }

    /// A bot and a zone whose tick `t` starts at `t * 50` ms and whose snapshot of it
    /// reaches the bot 10 ms later; inputs reach the zone `delay_ms(seq)` after they
    /// are sent.
    struct Sim {
        s: InputSchedule,
        t0: Instant,
        tick: u32,
        seq: u32,
        applied: u32,
        send: Instant,
        /// (seq, arrival at the zone in ms) of inputs not yet applied.
        queue: Vec<(u32, f64)>,
    }

    impl Sim {
        fn new(lead: Duration) -> Sim {
            let t0 = Instant::now();
            let mut s = InputSchedule::new(PERIOD, lead, Some(MARGIN));
            let send = s
                .on_snapshot(0, t0 + Duration::from_millis(10), none(0))
                .send_at;
            Sim {
                s,
                t0,
                tick: 0,
                seq: 0,
                applied: 0,
                send,
                queue: Vec::new(),
            }
        }

        fn at(&self, ms: f64) -> Instant {
            self.t0 + Duration::from_secs_f64(ms / 1e3)
        }

        /// Runs `ticks` more ticks; returns how many inputs were late.
        fn run(&mut self, ticks: u32, delay_ms: impl Fn(u32) -> f64) -> u32 {
            let mut late = 0;
            for _ in 0..ticks {
                self.tick += 1;
                let start = f64::from(self.tick) * 50.0;
                // Sends due before this tick's snapshot arrives.
                while self.send < self.at(start + 10.0) {
                    self.seq += 1;
                    let sent_ms = self.send.duration_since(self.t0).as_secs_f64() * 1e3;
                    self.queue.push((self.seq, sent_ms + delay_ms(self.seq)));
                    self.send = self.s.on_sent(self.send, self.seq).1;
                }
                // The zone applies what arrived before the tick started, oldest first.
                let ready: Vec<(u32, f64)> = self
                    .queue
                    .iter()
                    .copied()
                    .filter(|&(_, a)| a <= start)
                    .collect();
                self.queue.retain(|&(_, a)| a > start);
                let receipt = match ready.first() {
                    Some(&(oldest, arrived)) => {
                        self.applied = ready.last().map_or(self.applied, |r| r.0);
                        let wait_us = ((start - arrived) * 1e3) as u64;
                        InputReceipt {
                            seq: self.applied,
                            wait: InputWait::new(self.applied, oldest, wait_us),
                        }
                    }
                    None => none(self.applied),
                };
                let v = self
                    .s
                    .on_snapshot(self.tick, self.at(start + 10.0), receipt);
                late += u32::from(v.late == Some(true));
                self.send = v.send_at;
            }
            late
        }

        fn lead_ms(&self) -> f64 {
            self.s.lead().as_secs_f64() * 1e3
        }

        fn assert_lead_ms(&self, within: std::ops::RangeInclusive<f64>) {
            let lead = self.lead_ms();
            assert!(within.contains(&lead), "lead {lead} ms, not in {within:?}");
        }
    }

    #[test]
    fn the_lead_grows_to_cover_a_slow_path_and_inputs_stop_being_late() {
        // Inputs take 25 ms to reach the zone. A fixed 20 ms lead (sent 20 ms before
        // the tick's snapshot, 10 before the tick) misses every tick.
        let mut fixed = Sim::new(LEAD);
        fixed.s.lead.target_us = None;
        assert!(fixed.run(100, |_| 25.0) > 90);
        let mut tuned = Sim::new(LEAD);
        // One correction, a tick of inputs already on their way, then none late.
        assert!(tuned.run(5, |_| 25.0) <= 2);
        assert_eq!(tuned.run(100, |_| 25.0), 0, "lead {} ms", tuned.lead_ms());
        // The lead counts from the snapshot's arrival, 10 ms after the tick, so
        // arriving MARGIN early takes 10 + 25 + 5 = 40 ms (a tick of inputs already
        // sent are not corrected for twice).
        tuned.assert_lead_ms(39.0..=41.0);
    }

    #[test]
    fn the_lead_shrinks_on_a_fast_path() {
        // Inputs arrive at once: a 40 ms lead is 25 ms more than the margin needs
        // (10 ms of snapshot delay + 5 ms of margin).
        let mut tuned = Sim::new(Duration::from_millis(40));
        assert_eq!(tuned.run(200, |_| 0.5), 0);
        // Given back down to the dead band (margins between one and two targets).
        tuned.assert_lead_ms(15.0..=21.0);
    }

    #[test]
    fn a_rare_slow_input_moves_the_lead_and_the_spare_is_given_back() {
        let mut tuned = Sim::new(LEAD);
        assert_eq!(tuned.run(100, |_| 2.0), 0);
        let settled = tuned.lead_ms();
        // One input in 50 takes 30 ms: each is late once, then covered.
        let late = tuned.run(300, |seq| if seq % 50 == 0 { 30.0 } else { 2.0 });
        assert!(late <= 6, "{late} late");
        // A few seconds of fast inputs give the extra lead back.
        tuned.run(100, |_| 2.0);
        assert!(
            tuned.lead_ms() < settled + 8.0,
            "{settled} → {}",
            tuned.lead_ms()
        );
    }

    #[test]
    fn the_lead_never_reaches_a_whole_tick() {
        let mut tuned = Sim::new(LEAD);
        tuned.run(100, |_| 200.0);
        assert!(tuned.s.lead() < PERIOD);
    }

    #[test]
    fn the_clock_follows_the_earliest_arrival() {
        let t0 = Instant::now();
        let mut c = TickClock::new(PERIOD);
        c.observe(10, ms(t0, 5));
        c.observe(11, ms(t0, 70)); // delayed: the estimate stays on the earlier one
        assert_eq!(c.arrival(12), Some(ms(t0, 105) + TickClock::CREEP));
        c.observe(12, ms(t0, 100)); // earlier than projected: re-anchors
        assert_eq!(c.arrival(13), Some(ms(t0, 150)));
        // Many observers of one tick, and a late arrival of an old one, move nothing.
        for _ in 0..1000 {
            c.observe(12, ms(t0, 110));
        }
        c.observe(5, ms(t0, 120));
        assert_eq!(c.arrival(13), Some(ms(t0, 150)));
    }
}
