//! Arcane Realms control plane: player login and placement with signed join tickets,
//! the zone registry, and persistence of players and their ownership.
//!
//! **Architecture Invariant:** one owner — a player belongs to exactly one zone at any
//! instant (`store::Ownership`), changed only by compare-and-set on its epoch; and one
//! placement — concurrent logins, even through several orchestrator replicas sharing
//! Redis, place a player in one zone (`shared::SharedState::place`).

pub mod agones;
pub mod api;
pub mod auth;
pub mod cli;
pub mod failpoint;
pub mod metrics;
pub mod placement;
pub mod shared;
pub mod store;
pub mod supervisor;

pub use api::{ApiConfig, Orchestrator};
pub use shared::{MemoryState, RedisState, SharedState};
pub use store::Store;
pub use supervisor::{LocalConfig, LocalSupervisor, NoSupervisor, Supervisor, ZoneSpec};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A random 64-bit token from the OS-seeded hasher (claim owners, transfer ids); not
/// for secrets.
pub fn random_token() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now_ms());
    h.finish()
}
