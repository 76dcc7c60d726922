//! The zone registry: which zones run, where clients reach them, their capacity, load
//! and liveness, plus the claims replicas take before opening a zone. One trait, two
//! implementations: in memory (`memory.rs`, the embedded default, one orchestrator)
//! and Redis (`redis.rs`, several replicas). A claim is one atomic operation in both
//! (`SET NX` in Redis), so replicas racing to open one instance agree on one.

mod memory;
mod redis;

pub use memory::MemoryRegistry;
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
pub trait ZoneRegistry: Send + Sync + 'static {
    fn register(
        &self,
        info: ZoneInfo,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), RegistryError>> + Send;
    /// Records a heartbeat; false when the zone is not registered (it should register).
    fn heartbeat(
        &self,
        zone_id: &str,
        load: ZoneLoad,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, RegistryError>> + Send;
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
    /// Removes a zone from the registry (a closed instance or overflow copy).
    fn deregister(&self, zone_id: &str) -> impl Future<Output = Result<(), RegistryError>> + Send;
}

/// A shared registry (tests keep a handle to the one an orchestrator uses).
impl<T: ZoneRegistry> ZoneRegistry for std::sync::Arc<T> {
    async fn register(&self, info: ZoneInfo, now_ms: u64) -> Result<(), RegistryError> {
        (**self).register(info, now_ms).await
    }
    async fn heartbeat(
        &self,
        zone_id: &str,
        load: ZoneLoad,
        now_ms: u64,
    ) -> Result<bool, RegistryError> {
        (**self).heartbeat(zone_id, load, now_ms).await
    }
    async fn zones(&self, now_ms: u64, timeout_ms: u64) -> Result<Vec<ZoneStatus>, RegistryError> {
        (**self).zones(now_ms, timeout_ms).await
    }
    async fn claim(
        &self,
        key: &str,
        value: &str,
        ttl_ms: u64,
        now_ms: u64,
    ) -> Result<String, RegistryError> {
        (**self).claim(key, value, ttl_ms, now_ms).await
    }
    async fn reclaim(
        &self,
        key: &str,
        stale: &str,
        value: &str,
        ttl_ms: u64,
        now_ms: u64,
    ) -> Result<String, RegistryError> {
        (**self).reclaim(key, stale, value, ttl_ms, now_ms).await
    }
    async fn release(&self, key: &str) -> Result<(), RegistryError> {
        (**self).release(key).await
    }
    async fn deregister(&self, zone_id: &str) -> Result<(), RegistryError> {
        (**self).deregister(zone_id).await
    }
}

fn with_up(mut z: ZoneStatus, now_ms: u64, timeout_ms: u64) -> ZoneStatus {
    z.up = now_ms.saturating_sub(z.last_heartbeat_ms) <= timeout_ms;
    z
}
