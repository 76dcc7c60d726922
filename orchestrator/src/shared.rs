//! The orchestrator's shared state: the zone registry (endpoints, capacity, load,
//! liveness) and player placements. One trait, two implementations: in memory (the
//! embedded default, one orchestrator) and Redis (several replicas). Placement is one
//! atomic operation in both (`SET NX` in Redis), so replicas racing on one player never
//! place it twice.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use redis::aio::ConnectionManager;

use crate::now_ms;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("stored zone record is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// What a zone tells the orchestrator when it registers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneInfo {
    pub zone_id: String,
    /// Where clients connect (`ws://host:port`).
    pub endpoint: String,
    pub capacity: u32,
    /// The content zone this runs (a copy or an instance runs its template's map);
    /// empty means the same as `zone_id`.
    #[serde(default)]
    pub template: String,
    /// Players from which new arrivals go to an overflow copy (0: `capacity`).
    #[serde(default)]
    pub overflow_at: u32,
    /// An instance (dungeon, arena) opened for a party rather than a shared zone.
    #[serde(default)]
    pub instance: bool,
    /// `http://host:port` of the zone's `/metrics`, `/healthz` and `/players`.
    #[serde(default)]
    pub admin_endpoint: String,
    /// Where QUIC clients connect (`quic://host:port?sha256=…`); empty when none.
    #[serde(default)]
    pub quic_endpoint: String,
}

impl ZoneInfo {
    /// The content zone id this zone runs.
    pub fn template(&self) -> &str {
        if self.template.is_empty() {
            &self.zone_id
        } else {
            &self.template
        }
    }

    /// Population from which new arrivals are sent to a copy.
    pub fn overflow_at(&self) -> u32 {
        if self.overflow_at == 0 {
            self.capacity
        } else {
            self.overflow_at.min(self.capacity)
        }
    }
}

/// A zone's load, sent with every heartbeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ZoneLoad {
    pub players: u32,
    pub tick_p99_ms: f64,
}

/// A registered zone as the orchestrator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneStatus {
    pub info: ZoneInfo,
    pub load: ZoneLoad,
    pub last_heartbeat_ms: u64,
    /// False once heartbeats stopped for longer than the timeout: no new players.
    pub up: bool,
}

/// Shared orchestrator state. Times are milliseconds since the Unix epoch, passed in so
/// tests control them.
pub trait SharedState: Send + Sync + 'static {
    fn register(
        &self,
        info: ZoneInfo,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), SharedError>> + Send;
    /// Records a heartbeat; false when the zone is not registered (it should register).
    fn heartbeat(
        &self,
        zone_id: &str,
        load: ZoneLoad,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, SharedError>> + Send;
    /// Every registered zone; `up` is false for those silent longer than `timeout_ms`.
    fn zones(
        &self,
        now_ms: u64,
        timeout_ms: u64,
    ) -> impl Future<Output = Result<Vec<ZoneStatus>, SharedError>> + Send;
    /// Sets `key` to `value` unless it holds an unexpired value: returns the value it
    /// holds now (the existing one wins). Atomic across replicas: used so that
    /// replicas racing to open an instance for one party, or an overflow copy of one
    /// zone, agree on a single one.
    fn claim(
        &self,
        key: &str,
        value: &str,
        ttl_ms: u64,
    ) -> impl Future<Output = Result<String, SharedError>> + Send;
    /// Replaces `key`'s value when it is `stale` (or unset): returns the value it holds
    /// now. Atomic, so replicas that all notice a dead instance agree on one new one.
    fn reclaim(
        &self,
        key: &str,
        stale: &str,
        value: &str,
        ttl_ms: u64,
    ) -> impl Future<Output = Result<String, SharedError>> + Send;
    /// Forgets a claim.
    fn release(&self, key: &str) -> impl Future<Output = Result<(), SharedError>> + Send;
    /// Removes a zone from the registry (a closed instance or overflow copy).
    fn deregister(&self, zone_id: &str) -> impl Future<Output = Result<(), SharedError>> + Send;
}

fn with_up(mut z: ZoneStatus, now_ms: u64, timeout_ms: u64) -> ZoneStatus {
    z.up = now_ms.saturating_sub(z.last_heartbeat_ms) <= timeout_ms;
    z
}

/// In-process state for a single orchestrator.
#[derive(Default)]
pub struct MemoryState {
    zones: Mutex<HashMap<String, ZoneStatus>>,
    /// Claims: key → (value, expiry ms).
    claims: Mutex<HashMap<String, (String, u64)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemoryState {
    /// Sets `key` to `value` unless it holds an unexpired value other than `stale`;
    /// returns what it holds afterwards.
    fn set_claim(&self, key: &str, stale: Option<&str>, value: &str, ttl_ms: u64) -> String {
        let now = now_ms();
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

impl SharedState for MemoryState {
    async fn register(&self, info: ZoneInfo, now_ms: u64) -> Result<(), SharedError> {
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
        load: ZoneLoad,
        now_ms: u64,
    ) -> Result<bool, SharedError> {
        let mut zones = lock(&self.zones);
        Ok(match zones.get_mut(zone_id) {
            Some(z) => {
                z.load = load;
                z.last_heartbeat_ms = now_ms;
                true
            }
            None => false,
        })
    }

    async fn zones(&self, now_ms: u64, timeout_ms: u64) -> Result<Vec<ZoneStatus>, SharedError> {
        let mut out: Vec<ZoneStatus> = lock(&self.zones)
            .values()
            .cloned()
            .map(|z| with_up(z, now_ms, timeout_ms))
            .collect();
        out.sort_by(|a, b| a.info.zone_id.cmp(&b.info.zone_id));
        Ok(out)
    }

    async fn claim(&self, key: &str, value: &str, ttl_ms: u64) -> Result<String, SharedError> {
        Ok(self.set_claim(key, None, value, ttl_ms))
    }

    async fn reclaim(
        &self,
        key: &str,
        stale: &str,
        value: &str,
        ttl_ms: u64,
    ) -> Result<String, SharedError> {
        Ok(self.set_claim(key, Some(stale), value, ttl_ms))
    }

    async fn release(&self, key: &str) -> Result<(), SharedError> {
        lock(&self.claims).remove(key);
        Ok(())
    }

    async fn deregister(&self, zone_id: &str) -> Result<(), SharedError> {
        lock(&self.zones).remove(zone_id);
        Ok(())
    }
}

/// State in Redis, shared by orchestrator replicas. Keys: `arcane:zone:<id>` (JSON of
/// the status), `arcane:zones` (set of ids), `arcane:claim:<key>` (a claimed value,
/// with a TTL).
#[derive(Clone)]
pub struct RedisState {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisState {
    /// Connects to `url` (`redis://host:port/db`); `prefix` namespaces the keys (tests
    /// use a fresh one each).
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisState, SharedError> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client).await?;
        Ok(RedisState {
            conn,
            prefix: prefix.to_string(),
        })
    }

    fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }
}

impl SharedState for RedisState {
    async fn register(&self, info: ZoneInfo, now_ms: u64) -> Result<(), SharedError> {
        let mut c = self.conn.clone();
        let status = ZoneStatus {
            info: info.clone(),
            load: ZoneLoad::default(),
            last_heartbeat_ms: now_ms,
            up: true,
        };
        redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(self.key(&format!("zone:{}", info.zone_id)))
            .arg(serde_json::to_string(&status)?)
            .ignore()
            .cmd("SADD")
            .arg(self.key("zones"))
            .arg(&info.zone_id)
            .ignore()
            .query_async::<()>(&mut c)
            .await?;
        Ok(())
    }

    async fn heartbeat(
        &self,
        zone_id: &str,
        load: ZoneLoad,
        now_ms: u64,
    ) -> Result<bool, SharedError> {
        let mut c = self.conn.clone();
        let key = self.key(&format!("zone:{zone_id}"));
        let raw: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut c).await?;
        let Some(raw) = raw else {
            return Ok(false);
        };
        let mut status: ZoneStatus = serde_json::from_str(&raw)?;
        status.load = load;
        status.last_heartbeat_ms = now_ms;
        // Only this zone writes its own record, so a plain SET is enough here.
        redis::cmd("SET")
            .arg(&key)
            .arg(serde_json::to_string(&status)?)
            .query_async::<()>(&mut c)
            .await?;
        Ok(true)
    }

    async fn zones(&self, now_ms: u64, timeout_ms: u64) -> Result<Vec<ZoneStatus>, SharedError> {
        let mut c = self.conn.clone();
        let mut ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.key("zones"))
            .query_async(&mut c)
            .await?;
        ids.sort();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let raw: Option<String> = redis::cmd("GET")
                .arg(self.key(&format!("zone:{id}")))
                .query_async(&mut c)
                .await?;
            if let Some(raw) = raw {
                out.push(with_up(serde_json::from_str(&raw)?, now_ms, timeout_ms));
            }
        }
        Ok(out)
    }

    async fn claim(&self, key: &str, value: &str, ttl_ms: u64) -> Result<String, SharedError> {
        let mut c = self.conn.clone();
        let key = self.key(&format!("claim:{key}"));
        // SET NX and GET in one round trip: whichever replica sets first wins, and
        // every other one reads the winner's zone.
        let (set, existing): (Option<String>, Option<String>) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&key)
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms.max(1))
            .cmd("GET")
            .arg(&key)
            .query_async(&mut c)
            .await?;
        let _ = set;
        Ok(existing.unwrap_or_else(|| value.to_string()))
    }

    async fn reclaim(
        &self,
        key: &str,
        stale: &str,
        value: &str,
        ttl_ms: u64,
    ) -> Result<String, SharedError> {
        // Compare-and-set in one script: Redis runs it atomically.
        const SCRIPT: &str = r"
            local v = redis.call('GET', KEYS[1])
            if v == false or v == ARGV[1] then
                redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
                return ARGV[2]
            end
            return v";
        let mut c = self.conn.clone();
        let now: String = redis::cmd("EVAL")
            .arg(SCRIPT)
            .arg(1)
            .arg(self.key(&format!("claim:{key}")))
            .arg(stale)
            .arg(value)
            .arg(ttl_ms.max(1))
            .query_async(&mut c)
            .await?;
        Ok(now)
    }

    async fn release(&self, key: &str) -> Result<(), SharedError> {
        let mut c = self.conn.clone();
        redis::cmd("DEL")
            .arg(self.key(&format!("claim:{key}")))
            .query_async::<()>(&mut c)
            .await?;
        Ok(())
    }

    async fn deregister(&self, zone_id: &str) -> Result<(), SharedError> {
        let mut c = self.conn.clone();
        redis::pipe()
            .atomic()
            .cmd("DEL")
            .arg(self.key(&format!("zone:{zone_id}")))
            .ignore()
            .cmd("SREM")
            .arg(self.key("zones"))
            .arg(zone_id)
            .ignore()
            .query_async::<()>(&mut c)
            .await?;
        Ok(())
    }
}
