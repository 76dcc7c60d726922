//! The retry policy every control-plane loop uses: exponential backoff with jitter
//! (`backon`), so that zones retrying after one orchestrator restart do not all come
//! back in the same instant, and waits that end at once when the process stops.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use tokio_util::sync::CancellationToken;

/// Delays between attempts: from `min`, doubling up to `max`, each with up to its own
/// length again of random jitter; never gives up (callers stop on cancellation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub min: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    pub const fn new(min: Duration, max: Duration) -> Self {
        RetryPolicy { min, max }
    }

    /// The policy as a `backon` builder, for `Retryable::retry`.
    pub fn builder(&self) -> ExponentialBuilder {
        ExponentialBuilder::new()
            .with_min_delay(self.min)
            .with_max_delay(self.max)
            .with_jitter()
            .without_max_times()
    }

    /// A fresh sequence of delays.
    pub fn backoff(&self) -> Backoff {
        Backoff {
            policy: *self,
            delays: self.builder().build(),
        }
    }
}

/// A running sequence of delays: long-lived loops (heartbeats, restarts) wait on it
/// after a failure and reset it after a success.
#[derive(Debug)]
pub struct Backoff {
    policy: RetryPolicy,
    delays: ExponentialBackoff,
}

impl Backoff {
    /// Starts again from the shortest delay.
    pub fn reset(&mut self) {
        self.delays = self.policy.builder().build();
    }

    /// The next delay (the policy never runs out; `max` if it somehow did).
    pub fn next_delay(&mut self) -> Duration {
        self.delays.next().unwrap_or(self.policy.max)
    }

    /// Sleeps for the next delay unless `cancel` fires first; false when cancelled.
    pub async fn wait(&mut self, cancel: &CancellationToken) -> bool {
        let delay = self.next_delay();
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = cancel.cancelled() => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_their_jitter_up_to_the_cap_and_start_over_on_reset() {
        let policy = RetryPolicy::new(Duration::from_millis(100), Duration::from_millis(800));
        let mut b = policy.backoff();
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        let base = [100u64, 200, 400, 800, 800, 800, 800, 800];
        for (d, base) in delays.iter().zip(base) {
            let base = Duration::from_millis(base);
            assert!(*d >= base && *d < base * 2, "{d:?} against {base:?}");
        }
        b.reset();
        assert!(b.next_delay() < Duration::from_millis(200));
    }

    #[test]
    fn two_backoffs_do_not_wait_in_step() {
        let policy = RetryPolicy::new(Duration::from_secs(1), Duration::from_secs(8));
        let a: Vec<Duration> = {
            let mut b = policy.backoff();
            (0..6).map(|_| b.next_delay()).collect()
        };
        let b: Vec<Duration> = {
            let mut b = policy.backoff();
            (0..6).map(|_| b.next_delay()).collect()
        };
        assert_ne!(a, b, "jitter makes each sequence its own");
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_early_when_cancelled() {
        let policy = RetryPolicy::new(Duration::from_secs(60), Duration::from_secs(60));
        let mut b = policy.backoff();
        let cancel = CancellationToken::new();
        let started = tokio::time::Instant::now();
        let waiting = {
            let cancel = cancel.clone();
            tokio::spawn(async move { b.wait(&cancel).await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        cancel.cancel();
        assert!(!waiting.await.unwrap(), "a cancelled wait says so");
        assert!(started.elapsed() < Duration::from_secs(60));
    }
}
