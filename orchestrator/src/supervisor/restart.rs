//! When a supervised zone process exits, whether and when to start it again: a pure
//! decision, so its timing is tested without processes or clocks.

use std::time::Duration;

use arcane_service::{Backoff, RetryPolicy};

/// A zone that ran at least this long before crashing was healthy: its next restart
/// waits the shortest delay again.
pub const HEALTHY_RUN: Duration = Duration::from_secs(30);

/// What to do after a zone process exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterExit {
    /// It is done (a closed copy or instance): leave it stopped.
    Stop,
    /// It crashed: start it again after this wait.
    RestartIn(Duration),
}

/// Restart timing of one zone: a zone that keeps crashing at start waits longer each
/// time (jittered, so zones that crash together do not restart together); one that
/// ran for a while starts over at the shortest wait.
#[derive(Debug)]
pub struct RestartPolicy {
    backoff: Backoff,
}

impl RestartPolicy {
    pub fn new(policy: RetryPolicy) -> Self {
        RestartPolicy {
            backoff: policy.backoff(),
        }
    }

    /// The decision for a process that exited after running for `ran_for`; `done`:
    /// the zone closed for good (a copy or instance exiting cleanly).
    pub fn after_exit(&mut self, done: bool, ran_for: Duration) -> AfterExit {
        if done {
            return AfterExit::Stop;
        }
        if ran_for >= HEALTHY_RUN {
            self.backoff.reset();
        }
        AfterExit::RestartIn(self.backoff.next_delay())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn wait(a: AfterExit) -> Duration {
        match a {
            AfterExit::RestartIn(d) => d,
            AfterExit::Stop => panic!("expected a restart"),
        }
    }

    #[test]
    fn crashes_at_start_wait_longer_each_time_up_to_the_cap() {
        let mut p = RestartPolicy::new(RetryPolicy::new(ms(250), ms(2_000)));
        let waits: Vec<Duration> = (0..6).map(|_| wait(p.after_exit(false, ms(50)))).collect();
        for (w, base) in waits.iter().zip([250, 500, 1_000, 2_000, 2_000, 2_000]) {
            assert!(*w >= ms(base) && *w < ms(base) * 2, "{w:?} for {base} ms");
        }
    }

    #[test]
    fn a_healthy_run_starts_the_waits_over_and_a_clean_exit_stops() {
        let mut p = RestartPolicy::new(RetryPolicy::new(ms(250), ms(8_000)));
        for _ in 0..5 {
            p.after_exit(false, ms(10));
        }
        let after_healthy = wait(p.after_exit(false, HEALTHY_RUN));
        assert!(after_healthy < ms(500), "{after_healthy:?}");
        assert_eq!(p.after_exit(true, ms(10)), AfterExit::Stop);
    }
}
