//! The idle pause of a zone process's I/O threads (`IoOptions::io_batch`), which a
//! tick's snapshots cut short. One per process: the runtime's threads pause on it and
//! the zone's dispatcher cuts it.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// The idle pause of the process's I/O threads (`IoOptions::io_batch`), which a tick's
/// snapshots cut short. The pause is there to read the inputs that trickle in during
/// it with one wake-up; it must not also hold up the snapshots the tick just handed
/// over (it did, by 0.3–1.2 ms a tick at 1,000 clients). A cut ends the pause of
/// every I/O thread, not just one: the runtime may give the dispatcher task to any
/// of them.
pub struct IoPause {
    /// How many cuts there have been.
    cuts: Mutex<u64>,
    wake: Condvar,
}

std::thread_local! {
    /// The cuts this thread's pauses have seen (a cut it has not seen ends its next
    /// pause at once).
    static CUTS_SEEN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl IoPause {
    pub const fn new() -> Self {
        IoPause {
            cuts: Mutex::new(0),
            wake: Condvar::new(),
        }
    }

    /// Pauses the calling thread for `max`, or less when cut short meanwhile (or
    /// since this thread's last pause).
    pub fn pause(&self, max: Duration) {
        let seen = CUTS_SEEN.get();
        let cuts = self.cuts.lock().unwrap_or_else(|e| e.into_inner());
        let (cuts, _) = self
            .wake
            .wait_timeout_while(cuts, max, |c| *c == seen)
            .unwrap_or_else(|e| e.into_inner());
        CUTS_SEEN.set(*cuts);
    }

    /// Ends every thread's current pause now, or its next one at once when none is
    /// under way.
    pub fn cut_short(&self) {
        *self.cuts.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.wake.notify_all();
    }
}

impl Default for IoPause {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_pause_cut_short_ends_at_once_and_a_cut_before_it_skips_it() {
        let pause = Arc::new(IoPause::new());
        let long = Duration::from_secs(30);
        let p = pause.clone();
        let paused = std::thread::spawn(move || {
            let t = std::time::Instant::now();
            p.pause(long);
            t.elapsed()
        });
        // Cut until the pausing thread is through (a cut before it starts pausing
        // skips its pause, which ends it too).
        while !paused.is_finished() {
            pause.cut_short();
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(paused.join().unwrap() < long);
        // One cut ends the pause of every thread under way, not just the first to
        // wake (each would otherwise wait out its 30 s).
        let ready = Arc::new(std::sync::Barrier::new(4));
        let pausing: Vec<_> = (0..3)
            .map(|_| {
                let (p, ready) = (pause.clone(), ready.clone());
                std::thread::spawn(move || {
                    p.pause(Duration::ZERO); // catch up with the cuts so far
                    ready.wait();
                    let t = std::time::Instant::now();
                    p.pause(long);
                    t.elapsed()
                })
            })
            .collect();
        ready.wait();
        std::thread::sleep(Duration::from_millis(50));
        pause.cut_short();
        for t in pausing {
            assert!(t.join().unwrap() < long);
        }
        // A cut with no pause under way ends the next one at once...
        pause.cut_short();
        let t = std::time::Instant::now();
        pause.pause(long);
        assert!(t.elapsed() < long);
        // ...and only that one: the pause after waits its full (short) time.
        let t = std::time::Instant::now();
        pause.pause(Duration::from_millis(20));
        assert!(t.elapsed() >= Duration::from_millis(20));
    }
}
