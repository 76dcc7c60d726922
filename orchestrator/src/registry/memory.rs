//! The registry in this process's memory: the embedded default, for one orchestrator.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Beat, RegistryError, ZoneInfo, ZoneLoad, ZoneRegistry, ZoneStatus, with_up};

/// In-process state for a single orchestrator. Clones are handles to the same
/// registry (a test keeps one beside the orchestrator's).
#[derive(Default, Clone)]
pub struct MemoryRegistry {
    zones: Arc<Mutex<HashMap<String, ZoneStatus>>>,
    /// Claims: key → (value, expiry ms).
    claims: Arc<Mutex<HashMap<String, (String, u64)>>>,
    /// Who is online where (`presence.rs`).
    pub(super) presence: Arc<Mutex<HashMap<u64, super::Presence>>>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemoryRegistry {
    /// Sets `key` to `value` unless it holds an unexpired value other than `stale`;
    /// returns what it holds afterwards.
    fn set_claim(
        &self,
        key: &str,
        stale: Option<&str>,
        value: &str,
        ttl_ms: u64,
        now: u64,
    ) -> String {
        let mut claims = lock(&self.claims);
        match claims.get(key) {
            Some((v, expires)) if *expires > now && Some(v.as_str()) != stale => v.clone(),
            _ => {
                claims.insert(key.to_string(), (value.to_string(), now + ttl_ms));
                value.to_string()
            }
        }
    }
}

impl ZoneRegistry for MemoryRegistry {
    async fn register(&self, info: ZoneInfo, now_ms: u64) -> Result<(), RegistryError> {
        let id = info.zone_id.clone();
        let mut zones = lock(&self.zones);
        let load = zones.get(&id).map(|z| z.load).unwrap_or_default();
        zones.insert(
            id,
            ZoneStatus {
                info,
                load,
                last_heartbeat_ms: now_ms,
                up: true,
            },
        );
        Ok(())
    }

    async fn heartbeat(
        &self,
        zone_id: &str,
        lease_generation: i64,
        load: ZoneLoad,
        now_ms: u64,
    ) -> Result<Beat, RegistryError> {
        let mut zones = lock(&self.zones);
        Ok(match zones.get_mut(zone_id) {
            Some(z) if z.info.lease_generation != lease_generation => Beat::Superseded,
            Some(z) => {
                z.load = load;
                z.last_heartbeat_ms = now_ms;
                Beat::Recorded
            }
            None => Beat::Unknown,
        })
    }

    async fn zones(&self, now_ms: u64, timeout_ms: u64) -> Result<Vec<ZoneStatus>, RegistryError> {
        let mut out: Vec<ZoneStatus> = lock(&self.zones)
            .values()
            .cloned()
            .map(|z| with_up(z, now_ms, timeout_ms))
            .collect();
        out.sort_by(|a, b| a.info.zone_id.cmp(&b.info.zone_id));
        Ok(out)
    }

    async fn claim(
        &self,
        key: &str,
        value: &str,
        ttl_ms: u64,
        now_ms: u64,
    ) -> Result<String, RegistryError> {
        Ok(self.set_claim(key, None, value, ttl_ms, now_ms))
    }

    async fn reclaim(
        &self,
        key: &str,
        stale: &str,
        value: &str,
        ttl_ms: u64,
        now_ms: u64,
    ) -> Result<String, RegistryError> {
        Ok(self.set_claim(key, Some(stale), value, ttl_ms, now_ms))
    }

    async fn release(&self, key: &str) -> Result<(), RegistryError> {
        lock(&self.claims).remove(key);
        Ok(())
    }

    async fn deregister(
        &self,
        zone_id: &str,
        lease_generation: i64,
    ) -> Result<bool, RegistryError> {
        let mut zones = lock(&self.zones);
        let theirs = zones
            .get(zone_id)
            .is_some_and(|z| z.info.lease_generation == lease_generation);
        if theirs {
            zones.remove(zone_id);
        }
        Ok(theirs)
    }
}
