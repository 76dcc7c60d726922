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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneInfo {
    pub zone_id: String,
    /// Where clients connect (`ws://host:port`).
    pub endpoint: String,
    pub capacity: u32,
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
    /// Places `player` in `zone` unless it is already placed: returns the zone it is
    /// placed in (the existing one wins). Atomic across replicas.
    fn place(
        &self,
        player: u64,
        zone: &str,
        ttl_ms: u64,
    ) -> impl Future<Output = Result<String, SharedError>> + Send;
    /// Moves a placement away from `stale` (a zone that went down) to `zone`, only if
    /// the player is still placed in `stale` (or nowhere); returns where it is placed
    /// now. Atomic, so replicas that all notice the dead zone agree on one new zone.
    fn replace(
        &self,
        player: u64,
        stale: &str,
        zone: &str,
        ttl_ms: u64,
    ) -> impl Future<Output = Result<String, SharedError>> + Send;
    /// Forgets a placement (logout, transfer done).
    fn release(&self, player: u64) -> impl Future<Output = Result<(), SharedError>> + Send;
}

fn with_up(mut z: ZoneStatus, now_ms: u64, timeout_ms: u64) -> ZoneStatus {
    z.up = now_ms.saturating_sub(z.last_heartbeat_ms) <= timeout_ms;
    z
}

/// In-process state for a single orchestrator.
#[derive(Default)]
pub struct MemoryState {
    zones: Mutex<HashMap<String, ZoneStatus>>,
    /// Player → (zone, expiry ms).
    placements: Mutex<HashMap<u64, (String, u64)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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

    async fn place(&self, player: u64, zone: &str, ttl_ms: u64) -> Result<String, SharedError> {
        let now = now_ms();
        let mut p = lock(&self.placements);
        match p.get(&player) {
            Some((z, expires)) if *expires > now => Ok(z.clone()),
            _ => {
                p.insert(player, (zone.to_string(), now + ttl_ms));
                Ok(zone.to_string())
            }
        }
    }

    async fn replace(
        &self,
        player: u64,
        stale: &str,
        zone: &str,
        ttl_ms: u64,
    ) -> Result<String, SharedError> {
        let now = now_ms();
        let mut p = lock(&self.placements);
        match p.get(&player) {
            Some((z, expires)) if *expires > now && z != stale => Ok(z.clone()),
            _ => {
                p.insert(player, (zone.to_string(), now + ttl_ms));
                Ok(zone.to_string())
            }
        }
    }

    async fn release(&self, player: u64) -> Result<(), SharedError> {
        lock(&self.placements).remove(&player);
        Ok(())
    }
}

/// State in Redis, shared by orchestrator replicas. Keys: `arcane:zone:<id>` (JSON of
/// the status), `arcane:zones` (set of ids), `arcane:placement:<player>` (zone id, with
/// a TTL).
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

    async fn place(&self, player: u64, zone: &str, ttl_ms: u64) -> Result<String, SharedError> {
        let mut c = self.conn.clone();
        let key = self.key(&format!("placement:{player}"));
        // SET NX and GET in one round trip: whichever replica sets first wins, and
        // every other one reads the winner's zone.
        let (set, existing): (Option<String>, Option<String>) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&key)
            .arg(zone)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms.max(1))
            .cmd("GET")
            .arg(&key)
            .query_async(&mut c)
            .await?;
        let _ = set;
        Ok(existing.unwrap_or_else(|| zone.to_string()))
    }

    async fn replace(
        &self,
        player: u64,
        stale: &str,
        zone: &str,
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
            .arg(self.key(&format!("placement:{player}")))
            .arg(stale)
            .arg(zone)
            .arg(ttl_ms.max(1))
            .query_async(&mut c)
            .await?;
        Ok(now)
    }

    async fn release(&self, player: u64) -> Result<(), SharedError> {
        let mut c = self.conn.clone();
        redis::cmd("DEL")
            .arg(self.key(&format!("placement:{player}")))
            .query_async::<()>(&mut c)
            .await?;
        Ok(())
    }
}
