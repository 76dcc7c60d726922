//! Time dilation: when ticks stay over budget, the zone slows its time uniformly
//! instead of falling behind (as EVE Online does). Every tick still simulates one
//! period; ticks come `100 / rate` periods apart, and snapshots tell clients the rate
//! so they pace their inputs to it. Pure: fed each tick's work time, it answers the
//! rate and the period to sleep to; tested beside the code.

use std::time::Duration;

/// Share of the (stretched) period a tick may use before the zone dilates time: the
/// rest is the I/O threads' and the kernel's (on one core, the tick thread's time
/// is taken from theirs).
pub const BUDGET: f64 = 0.9;
/// The zone speeds up again while ticks would use at most this share of the stretched
/// period at the faster rate (below [`BUDGET`]: hysteresis, so a rate that just fits
/// does not flap).
pub const RECOVER_TO: f64 = 0.8;
/// The slowest the zone goes: 10 % of real time. Past that, ticks fall behind.
pub const MIN_RATE: u8 = 10;
/// Weight of the newest tick in the smoothed work time (about a second's memory at
/// 20 Hz): one slow tick (a save, a rebuild) is not an overload.
const SMOOTHING: f64 = 0.1;
/// Ticks the smoothed load must stay over budget before time slows.
pub const SUSTAIN_TICKS: u32 = 20;
/// How fast the rate climbs back, per tick: 2 % of the rate now.
const RECOVERY_STEP: f64 = 0.02;

/// What changed at a tick, for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Time slowed (from full speed or further): the new rate, in percent.
    Slowed(u8),
    /// Back at full speed.
    Restored,
}

/// The controller: one per tick thread.
#[derive(Debug, Clone)]
pub struct Dilation {
    period: Duration,
    /// Percent of real time; 100 at full speed.
    rate: u8,
    /// Smoothed tick work, in nominal periods.
    load: f64,
    /// Consecutive ticks the smoothed load was over budget at the current rate.
    over: u32,
}

impl Dilation {
    /// A controller for ticks of `period` (nominal), at full speed.
    pub fn new(period: Duration) -> Self {
        Dilation {
            period,
            rate: 100,
            load: 0.0,
            over: 0,
        }
    }

    /// The nominal period it was made for.
    pub fn nominal(&self) -> Duration {
        self.period
    }

    /// The rate now, in percent of real time.
    pub fn rate(&self) -> u8 {
        self.rate
    }

    /// The real time from one tick's start to the next's: the nominal period
    /// stretched by the rate.
    pub fn period(&self) -> Duration {
        self.period * 100 / u32::from(self.rate)
    }

    /// The smoothed tick work as a share of the nominal period (1.0: a tick takes a
    /// whole period).
    pub fn load(&self) -> f64 {
        self.load
    }

    /// Records one tick's work time; returns what changed.
    pub fn on_tick(&mut self, work: Duration) -> Option<Change> {
        let load = work.as_secs_f64() / self.period.as_secs_f64();
        self.load += (load - self.load) * SMOOTHING;
        // The share of the stretched period the ticks use at the current rate.
        let used = self.load * f64::from(self.rate) / 100.0;
        if used > BUDGET {
            self.over += 1;
            if self.over < SUSTAIN_TICKS {
                return None;
            }
            self.over = 0;
            let fits = (BUDGET / self.load * 100.0)
                .floor()
                .clamp(f64::from(MIN_RATE), 100.0);
            let new = fits as u8;
            if new < self.rate {
                self.rate = new;
                return Some(Change::Slowed(new));
            }
            return None;
        }
        self.over = 0;
        if self.rate < 100 {
            let fits = (RECOVER_TO / self.load.max(1e-9) * 100.0).floor();
            let step = (f64::from(self.rate) * (1.0 + RECOVERY_STEP)).ceil();
            let new = step.min(fits).min(100.0).max(f64::from(self.rate)) as u8;
            if new != self.rate {
                self.rate = new;
                if new == 100 {
                    return Some(Change::Restored);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD: Duration = Duration::from_millis(50);

    fn ms(v: f64) -> Duration {
        Duration::from_secs_f64(v / 1e3)
    }

    /// Runs `ticks` ticks of `work` ms each; returns the changes.
    fn run(d: &mut Dilation, work: f64, ticks: usize) -> Vec<Change> {
        (0..ticks).filter_map(|_| d.on_tick(ms(work))).collect()
    }

    #[test]
    fn within_budget_time_runs_at_full_speed() {
        let mut d = Dilation::new(PERIOD);
        assert!(run(&mut d, 40.0, 400).is_empty());
        assert_eq!(d.rate(), 100);
        assert_eq!(d.period(), PERIOD);
    }

    #[test]
    fn one_slow_tick_is_not_an_overload() {
        let mut d = Dilation::new(PERIOD);
        run(&mut d, 10.0, 100);
        assert!(run(&mut d, 200.0, 1).is_empty());
        assert!(run(&mut d, 10.0, 100).is_empty());
        assert_eq!(d.rate(), 100);
    }

    #[test]
    fn a_sustained_2x_overload_halves_time_and_the_ticks_then_fit() {
        let mut d = Dilation::new(PERIOD);
        let changes = run(&mut d, 100.0, 200);
        assert!(
            matches!(changes.first(), Some(Change::Slowed(_))),
            "{changes:?}"
        );
        // A tick of 100 ms fits 90 % of a period stretched to 111 ms: 45 %.
        assert_eq!(d.rate(), 45);
        assert_eq!(d.period(), PERIOD * 100 / 45);
        let used = 100.0 / (d.period().as_secs_f64() * 1e3);
        assert!(used <= BUDGET + 1e-6, "{used}");
        // Steady at that rate: no flapping.
        assert!(run(&mut d, 100.0, 400).is_empty());
        assert_eq!(d.rate(), 45);
    }

    #[test]
    fn it_waits_a_sustained_period_before_slowing() {
        let mut d = Dilation::new(PERIOD);
        // The smoothed load crosses the budget after a few ticks, then must stay
        // over it for SUSTAIN_TICKS.
        let changes = run(&mut d, 100.0, 10);
        assert!(changes.is_empty());
        assert_eq!(d.rate(), 100);
    }

    #[test]
    fn never_slower_than_the_floor() {
        let mut d = Dilation::new(PERIOD);
        run(&mut d, 5_000.0, 400);
        assert_eq!(d.rate(), MIN_RATE);
    }

    #[test]
    fn when_the_load_goes_it_climbs_back_to_full_speed_gradually() {
        let mut d = Dilation::new(PERIOD);
        run(&mut d, 100.0, 200);
        assert_eq!(d.rate(), 45);
        let mut rates = vec![];
        let mut restored = false;
        for _ in 0..400 {
            restored |= d.on_tick(ms(10.0)) == Some(Change::Restored);
            rates.push(d.rate());
        }
        assert!(restored);
        assert_eq!(d.rate(), 100);
        assert!(
            rates.windows(2).all(|w| w[1] >= w[0] && w[1] - w[0] <= 3),
            "{rates:?}"
        );
    }

    #[test]
    fn a_lighter_overload_recovers_only_as_far_as_the_ticks_fit() {
        let mut d = Dilation::new(PERIOD);
        run(&mut d, 150.0, 300);
        assert_eq!(d.rate(), 30);
        // The load falls to 75 ms a tick (1.5 periods): it climbs until ticks would
        // use more than RECOVER_TO of the stretched period, to 53 %.
        run(&mut d, 75.0, 600);
        assert_eq!(d.rate(), 53);
        let used = 75.0 / (d.period().as_secs_f64() * 1e3);
        assert!(used <= RECOVER_TO + 1e-6, "{used}");
        assert!(run(&mut d, 75.0, 600).is_empty(), "steady: no flapping");
    }
}
