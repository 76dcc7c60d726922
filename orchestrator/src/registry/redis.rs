//! The registry in Redis, shared by orchestrator replicas.

use redis::aio::ConnectionManager;

use super::{Beat, RegistryError, ZoneInfo, ZoneLoad, ZoneRegistry, ZoneStatus, with_up};

/// State in Redis, shared by orchestrator replicas. Keys: `arcane:zone:<id>` (JSON of
/// the status), `arcane:lease:<id>` (the registered process's lease generation, which
/// the scripts compare), `arcane:zones` (set of ids), `arcane:claim:<key>` (a claimed
/// value, with a TTL).
#[derive(Clone)]
pub struct RedisRegistry {
    pub(super) conn: ConnectionManager,
    /// For the social bus's subscription (`presence.rs`).
    pub(super) client: redis::Client,
    prefix: String,
}

impl RedisRegistry {
    /// Connects to `url` (`redis://host:port/db`); `prefix` namespaces the keys (tests
    /// use a fresh one each).
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisRegistry, RegistryError> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client.clone()).await?;
        Ok(RedisRegistry {
            conn,
            client,
            prefix: prefix.to_string(),
        })
    }

    pub(super) fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }
}

impl ZoneRegistry for RedisRegistry {
    async fn register(&self, info: ZoneInfo, now_ms: u64) -> Result<(), RegistryError> {
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
            .cmd("SET")
            .arg(self.key(&format!("lease:{}", info.zone_id)))
            .arg(info.lease_generation)
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
        lease_generation: i64,
        load: ZoneLoad,
        now_ms: u64,
    ) -> Result<Beat, RegistryError> {
        let mut c = self.conn.clone();
        let key = self.key(&format!("zone:{zone_id}"));
        let raw: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut c).await?;
        let Some(raw) = raw else {
            return Ok(Beat::Unknown);
        };
        let mut status: ZoneStatus = serde_json::from_str(&raw)?;
        status.load = load;
        status.last_heartbeat_ms = now_ms;
        // A deregistration or a newer process's registration may have come since the
        // GET: write only while the zone is still in the set and registered by this
        // generation (a record an older orchestrator wrote has no generation: any
        // goes), in one script (a plain SET would bring back a record no listing
        // shows, or overwrite the successor's).
        const SCRIPT: &str = r"
            if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then
                return 0
            end
            local g = redis.call('GET', KEYS[3])
            if g and g ~= ARGV[3] then
                return 2
            end
            redis.call('SET', KEYS[1], ARGV[2])
            return 1";
        let written: i64 = redis::cmd("EVAL")
            .arg(SCRIPT)
            .arg(3)
            .arg(&key)
            .arg(self.key("zones"))
            .arg(self.key(&format!("lease:{zone_id}")))
            .arg(zone_id)
            .arg(serde_json::to_string(&status)?)
            .arg(lease_generation.to_string())
            .query_async(&mut c)
            .await?;
        Ok(match written {
            1 => Beat::Recorded,
            2 => Beat::Superseded,
            _ => Beat::Unknown,
        })
    }

    async fn zones(&self, now_ms: u64, timeout_ms: u64) -> Result<Vec<ZoneStatus>, RegistryError> {
        let mut c = self.conn.clone();
        let mut ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.key("zones"))
            .query_async(&mut c)
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        ids.sort();
        // Every record in one round trip; one deregistered meanwhile reads as nil.
        let keys: Vec<String> = ids
            .iter()
            .map(|id| self.key(&format!("zone:{id}")))
            .collect();
        let raws: Vec<Option<String>> = redis::cmd("MGET").arg(keys).query_async(&mut c).await?;
        raws.into_iter()
            .flatten()
            .map(|raw| Ok(with_up(serde_json::from_str(&raw)?, now_ms, timeout_ms)))
            .collect()
    }

    /// Redis keeps the expiry itself (`PX`), on its own clock.
    async fn claim(
        &self,
        key: &str,
        value: &str,
        ttl_ms: u64,
        _now_ms: u64,
    ) -> Result<String, RegistryError> {
        let mut c = self.conn.clone();
        let key = self.key(&format!("claim:{key}"));
        // SET NX and GET in one round trip: whichever replica sets first wins, and
        // every other one reads the winner's zone.
        let (existing,): (Option<String>,) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&key)
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms.max(1))
            .ignore()
            .cmd("GET")
            .arg(&key)
            .query_async(&mut c)
            .await?;
        Ok(existing.unwrap_or_else(|| value.to_string()))
    }

    async fn reclaim(
        &self,
        key: &str,
        stale: &str,
        value: &str,
        ttl_ms: u64,
        _now_ms: u64,
    ) -> Result<String, RegistryError> {
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

    async fn release(&self, key: &str) -> Result<(), RegistryError> {
        let mut c = self.conn.clone();
        redis::cmd("DEL")
            .arg(self.key(&format!("claim:{key}")))
            .query_async::<()>(&mut c)
            .await?;
        Ok(())
    }

    async fn deregister(
        &self,
        zone_id: &str,
        lease_generation: i64,
    ) -> Result<bool, RegistryError> {
        // Only the registered generation leaves, in one script.
        const SCRIPT: &str = r"
            local g = redis.call('GET', KEYS[3])
            if g and g ~= ARGV[2] then
                return 0
            end
            redis.call('DEL', KEYS[1], KEYS[3])
            redis.call('SREM', KEYS[2], ARGV[1])
            return 1";
        let mut c = self.conn.clone();
        let removed: i64 = redis::cmd("EVAL")
            .arg(SCRIPT)
            .arg(3)
            .arg(self.key(&format!("zone:{zone_id}")))
            .arg(self.key("zones"))
            .arg(self.key(&format!("lease:{zone_id}")))
            .arg(zone_id)
            .arg(lease_generation.to_string())
            .query_async(&mut c)
            .await?;
        Ok(removed == 1)
    }
}
