//! What the parts of a zone process share besides channels: what the tick thread
//! publishes ([`TickStatus`]) and the process's stop signals, one cancellation tree
//! ([`Lifecycle`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use arcane_service::CancellationToken;

/// State the tick thread publishes to the rest of the process.
#[derive(Debug, Default)]
pub struct TickStatus {
    pub tick: AtomicU64,
    /// Milliseconds since the tick thread started, at the end of the last tick; the
    /// health check compares it with the clock.
    pub last_tick_at_ms: AtomicU64,
    pub started: OnceLock<Instant>,
    pub running: AtomicBool,
    /// Players in the zone after the last tick.
    pub players: AtomicU64,
    /// Longest tick (µs) since the control-plane heartbeat last took it.
    pub slowest_tick_us: AtomicU64,
    /// Ids of the connected players (`GET /players` on the ops port).
    pub roster: Mutex<Vec<u64>>,
    /// The orchestrator has this zone in its registry (always true without one).
    pub registered: AtomicBool,
    /// Until when (host µs, see [`TickStatus::host_us`]) this process surely holds its
    /// zone's lease; the tick pauses after it. `u64::MAX` for a zone without a lease.
    pub lease_until_us: AtomicU64,
    /// The zone's time rate in percent of real time (100 unless it dilates time).
    pub time_rate_pct: AtomicU64,
    /// Since when (host ms, at least 1) the zone has dilated time without a break; 0
    /// while it runs at full speed.
    pub dilated_since_ms: AtomicU64,
}

impl TickStatus {
    /// `at` on the zone's host clock (µs since the tick thread started): what stamps
    /// inputs and tick starts, so snapshots can report how long inputs waited.
    pub fn host_us(&self, at: Instant) -> u64 {
        let start = *self.started.get_or_init(Instant::now);
        u64::try_from(at.saturating_duration_since(start).as_micros()).unwrap_or(u64::MAX)
    }

    /// Records a lease renewal: the lease is surely held until `until`.
    pub fn hold_lease_until(&self, until: Instant) {
        self.lease_until_us
            .store(self.host_us(until), Ordering::Relaxed);
    }

    /// Whether the zone's lease is surely held at `at` (the tick runs only then).
    pub fn holds_lease(&self, at: Instant) -> bool {
        self.host_us(at) < self.lease_until_us.load(Ordering::Relaxed)
    }

    /// True while the tick thread has completed a tick within `within`.
    pub fn is_healthy(&self, within: Duration) -> bool {
        let Some(start) = self.started.get() else {
            return false;
        };
        let now = start.elapsed().as_millis() as u64;
        self.running.load(Ordering::Relaxed)
            && now.saturating_sub(self.last_tick_at_ms.load(Ordering::Relaxed))
                <= within.as_millis() as u64
    }
}

/// The zone process's stop signals. `shutdown` is the root of the tree: every task
/// watches it or a child of it, and cancelling it stops them all. The others are
/// one-way events the process waits on or checks.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    /// Stop everything: listeners, sessions, background tasks, the tick thread (which
    /// saves everyone still in the zone first).
    pub shutdown: CancellationToken,
    /// The zone drains: no new players, `/readyz` false, out of the registry. A child
    /// of `shutdown`: a zone that stops is draining too.
    pub draining: CancellationToken,
    /// The zone decided to close: empty for its close-after time, deregistered.
    pub closing: CancellationToken,
    /// The tick thread ended, whatever the reason (a panic in a system included).
    pub tick_stopped: CancellationToken,
    /// Another process took the zone's lease over (or the orchestrator registered one):
    /// stop at once, write nothing more, exit with `SUPERSEDED_EXIT`.
    pub superseded: CancellationToken,
}

impl Default for Lifecycle {
    fn default() -> Self {
        let shutdown = CancellationToken::new();
        Lifecycle {
            draining: shutdown.child_token(),
            shutdown,
            closing: CancellationToken::new(),
            tick_stopped: CancellationToken::new(),
            superseded: CancellationToken::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopping_drains_but_draining_does_not_stop() {
        let l = Lifecycle::default();
        l.draining.cancel();
        assert!(!l.shutdown.is_cancelled());
        let l = Lifecycle::default();
        l.shutdown.cancel();
        assert!(l.draining.is_cancelled());
        assert!(!l.closing.is_cancelled() && !l.tick_stopped.is_cancelled());
    }
}
