//! The orchestrator's clock. Every time the orchestrator acts on (heartbeat ages, claim
//! expiry, ticket expiry, the registry's warm-up, how old a pending transfer is) comes
//! from one [`Clock`], so tests move time forward instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Where the orchestrator reads the time.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn unix_ms(&self) -> u64;
}

/// The host's wall clock (production).
#[derive(Debug, Clone, Copy, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn unix_ms(&self) -> u64 {
        arcane_service::unix_ms()
    }
}

/// A clock that moves only when told to (tests). Starts at the wall clock's time, so
/// the tickets it stamps verify against real clocks too.
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicU64,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock {
            now_ms: AtomicU64::new(arcane_service::unix_ms()),
        }
    }
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        self.now_ms
            .fetch_add(by.as_millis() as u64, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn unix_ms(&self) -> u64 {
        self.now_ms.load(Ordering::Relaxed)
    }
}

impl<C: Clock> Clock for Arc<C> {
    fn unix_ms(&self) -> u64 {
        (**self).unix_ms()
    }
}

/// A shared clock.
pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::default();
        let t0 = clock.unix_ms();
        assert_eq!(clock.unix_ms(), t0);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.unix_ms() - t0, 90_000);
    }
}
