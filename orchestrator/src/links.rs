//! The zones' social links that end at this replica (one writer queue each), the
//! names cache and the social layer's limits: the state `social/` works on, kept
//! apart so the orchestrator's state can hold it without depending on `social/`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arcane_control_api::SocialDown;
use tokio::sync::mpsc;

/// Limits of the social layer.
#[derive(Debug, Clone)]
pub struct SocialLimits {
    /// Most members in a party.
    pub party_size: u32,
    /// Most players on one friend, block or mute list.
    pub list_cap: u32,
    /// How long a party invitation stands.
    pub invite_ttl: Duration,
}

impl Default for SocialLimits {
    fn default() -> Self {
        SocialLimits {
            party_size: 5,
            list_cap: 200,
            invite_ttl: Duration::from_secs(120),
        }
    }
}

/// How long a transferred player may take to arrive in its new zone (as long as a
/// client's join ticket lives) before it counts as offline.
pub const ARRIVAL_WAIT: Duration = Duration::from_secs(60);

/// Most arrivals awaited at once (a minute of transfers at 4,000 a second).
const MAX_ARRIVALS: usize = 240_000;

/// Messages waiting for one zone's link writer.
pub const LINK_QUEUE: usize = 8192;

/// The zones linked to this replica, and what the social layer keeps in memory.
#[derive(Default)]
pub struct SocialHub {
    zones: Mutex<HashMap<String, (u64, mpsc::Sender<SocialDown>)>>,
    next_link: AtomicU64,
    /// Player ids by name (names never change).
    pub(crate) names: Mutex<HashMap<String, u64>>,
    /// Transferred players on their way: (deadline ms, player, zone), oldest first.
    arrivals: Mutex<std::collections::VecDeque<(u64, u64, String)>>,
    pub limits: SocialLimits,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SocialHub {
    pub fn new(limits: SocialLimits) -> Self {
        SocialHub {
            limits,
            ..SocialHub::default()
        }
    }

    /// Attaches `zone`'s link (replacing an older one); returns its id.
    pub(crate) fn attach(&self, zone: &str, tx: mpsc::Sender<SocialDown>) -> u64 {
        let id = self.next_link.fetch_add(1, Ordering::Relaxed) + 1;
        lock(&self.zones).insert(zone.to_string(), (id, tx));
        id
    }

    /// Detaches `zone`'s link `id` (not a newer one); true when it was attached.
    pub(crate) fn detach(&self, zone: &str, id: u64) -> bool {
        let mut zones = lock(&self.zones);
        if zones.get(zone).is_some_and(|(i, _)| *i == id) {
            zones.remove(zone);
            return true;
        }
        false
    }

    pub(crate) fn local(&self, zone: &str) -> Option<mpsc::Sender<SocialDown>> {
        lock(&self.zones).get(zone).map(|(_, tx)| tx.clone())
    }

    /// Expects `player` in `zone` within [`ARRIVAL_WAIT`] of `now_ms`.
    pub fn expect_arrival(&self, now_ms: u64, player: u64, zone: &str) {
        let deadline = now_ms + ARRIVAL_WAIT.as_millis() as u64;
        let mut a = lock(&self.arrivals);
        if a.len() < MAX_ARRIVALS {
            a.push_back((deadline, player, zone.to_string()));
        }
    }

    /// The expected arrivals whose time ran out by `now_ms`.
    pub fn overdue(&self, now_ms: u64) -> Vec<(u64, String)> {
        let mut a = lock(&self.arrivals);
        let mut out = Vec::new();
        while a.front().is_some_and(|(d, _, _)| *d <= now_ms) {
            if let Some((_, player, zone)) = a.pop_front() {
                out.push((player, zone));
            }
        }
        out
    }

    /// Zones linked here.
    pub fn linked(&self) -> Vec<String> {
        let mut z: Vec<String> = lock(&self.zones).keys().cloned().collect();
        z.sort();
        z
    }
}
