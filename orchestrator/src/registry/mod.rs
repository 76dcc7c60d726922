//! The zone registry: which zones run, where clients reach them, their capacity, load
//! and liveness, plus the claims replicas take before opening a zone. One trait, two
//! implementations: in memory (`memory.rs`, the embedded default, one orchestrator)
//! and Redis (`redis.rs`, several replicas). A claim is one atomic operation in both
//! (`SET NX` in Redis), so replicas racing to open one instance agree on one.

mod memory;
mod presence;
mod redis;

pub use memory::MemoryRegistry;
pub use presence::{Presence, PresenceRegistry, by_zone};
pub use redis::RedisRegistry;

use std::future::Future;

pub use arcane_control_api::{ZoneInfo, ZoneLoad, ZoneStatus};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    #[error("stored zone record is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The zone registry and the claims. Times are milliseconds since the Unix epoch,
/// passed in so tests control them.
pub trait ZoneRegistry: PresenceRegistry + Send + Sync + 'static {
    fn register(
        &self,
        info: ZoneInfo,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), RegistryError>> + Send;
    /// Records a heartbeat of the process holding `lease_generation`.
    fn heartbeat(
        &self,
        zone_id: &str,
        lease_generation: i64,
        load: ZoneLoad,
        now_ms: u64,
    ) -> impl Future<Output = Result<Beat, RegistryError>> + Send;
    /// Every registered zone; `up` is false for those silent longer than `timeout_ms`.
    fn zones(
        &self,
        now_ms: u64,
        timeout_ms: u64,
    ) -> impl Future<Output = Result<Vec<ZoneStatus>, RegistryError>> + Send;
    /// Sets `key` to `value` unless it holds an unexpired value: returns the value it
    /// holds now (the existing one wins). Atomic across replicas: used so that
    /// replicas racing to open an instance for one party, or an overflow copy of one
    /// zone, agree on a single one.
    fn claim(
        &self,
        key: &str,
        value: &str,
        ttl_ms: u64,
        now_ms: u64,
    ) -> impl Future<Output = Result<String, RegistryError>> + Send;
    /// Replaces `key`'s value when it is `stale` (or unset): returns the value it holds
    /// now. Atomic, so replicas that all notice a dead instance agree on one new one.
    fn reclaim(
        &self,
        key: &str,
        stale: &str,
        value: &str,
        ttl_ms: u64,
        now_ms: u64,
    ) -> impl Future<Output = Result<String, RegistryError>> + Send;
    /// Forgets a claim.
    fn release(&self, key: &str) -> impl Future<Output = Result<(), RegistryError>> + Send;
    /// Removes a zone from the registry (a closed instance or overflow copy, a drained
    /// zone) when the registered process is the one holding `lease_generation`: a
    /// replaced process leaving late does not take its successor out. True when removed.
    fn deregister(
        &self,
        zone_id: &str,
        lease_generation: i64,
    ) -> impl Future<Output = Result<bool, RegistryError>> + Send;
}

/// What became of a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    Recorded,
    /// The zone is not registered (it should register).
    Unknown,
    /// Another process of the zone (another lease generation) is registered: the one
    /// beating was replaced and must stop.
    Superseded,
}

fn with_up(mut z: ZoneStatus, now_ms: u64, timeout_ms: u64) -> ZoneStatus {
    z.up = now_ms.saturating_sub(z.last_heartbeat_ms) <= timeout_ms;
    z
}
