//! Presence (who is online in which zone, with their HP for their party) and the
//! social bus between orchestrator replicas. In memory for one orchestrator; in Redis
//! (a hash, a set per zone, and pub/sub) for several, so a whisper reaches a zone
//! whose social link ends at another replica.

use std::collections::HashMap;
use std::future::Future;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::RegistryError;
use super::memory::{MemoryRegistry, lock};
use super::redis::RedisRegistry;

/// Where an online player is, and what routing its chat needs (kept with it so a
/// whisper or a zone change costs no database query; refreshed when they change).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub zone: String,
    pub name: String,
    #[serde(default)]
    pub hp: u32,
    #[serde(default)]
    pub max_hp: u32,
    /// Its party's id.
    #[serde(default)]
    pub party: Option<String>,
    /// Whom it blocks (their whispers and invitations are refused).
    #[serde(default)]
    pub blocks: Vec<u64>,
    /// Whose chat it hides (blocked and muted players).
    #[serde(default)]
    pub hidden: Vec<u64>,
    /// A moderator's mute, until (ms since the Unix epoch; 0: none).
    #[serde(default)]
    pub muted_until: u64,
    /// Its transfer to `zone` committed and it has not arrived yet.
    #[serde(default)]
    pub arriving: bool,
    /// The ownership epoch `zone` holds it at: reports of an older one are stale (a
    /// zone's late news of a player who has moved on since).
    #[serde(default)]
    pub epoch: i64,
}

/// A message for a zone, published to every replica (zone id, JSON of a `SocialDown`).
pub type BusMessage = (String, String);

pub trait PresenceRegistry: Send + Sync + 'static {
    /// Records `player` online in `p.zone`; returns where it was before.
    fn presence_set(
        &self,
        player: u64,
        p: Presence,
    ) -> impl Future<Output = Result<Option<Presence>, RegistryError>> + Send;
    /// Records `player` offline if it is online in `zone` (a transfer's new zone may
    /// have reported it first); returns the removed entry.
    fn presence_clear(
        &self,
        player: u64,
        zone: &str,
    ) -> impl Future<Output = Result<Option<Presence>, RegistryError>> + Send;
    /// Each player's presence, in order.
    fn presence_get(
        &self,
        players: &[u64],
    ) -> impl Future<Output = Result<Vec<Option<Presence>>, RegistryError>> + Send;
    /// The players online in `zone`.
    fn presence_in_zone(
        &self,
        zone: &str,
    ) -> impl Future<Output = Result<Vec<u64>, RegistryError>> + Send;
    /// Offers `payload` for `zone` to the other replicas; false when there are none
    /// to offer it to (one orchestrator in memory).
    fn publish_social(
        &self,
        zone: &str,
        payload: &str,
    ) -> impl Future<Output = Result<bool, RegistryError>> + Send;
    /// What other replicas publish, for zones linked to this one; `None` in memory.
    fn subscribe_social(&self) -> Option<mpsc::Receiver<BusMessage>>;
}

impl PresenceRegistry for MemoryRegistry {
    async fn presence_set(
        &self,
        player: u64,
        p: Presence,
    ) -> Result<Option<Presence>, RegistryError> {
        Ok(lock(&self.presence).insert(player, p))
    }

    async fn presence_clear(
        &self,
        player: u64,
        zone: &str,
    ) -> Result<Option<Presence>, RegistryError> {
        let mut all = lock(&self.presence);
        if all.get(&player).is_some_and(|p| p.zone == zone) {
            return Ok(all.remove(&player));
        }
        Ok(None)
    }

    async fn presence_get(&self, players: &[u64]) -> Result<Vec<Option<Presence>>, RegistryError> {
        let all = lock(&self.presence);
        Ok(players.iter().map(|p| all.get(p).cloned()).collect())
    }

    async fn presence_in_zone(&self, zone: &str) -> Result<Vec<u64>, RegistryError> {
        let all = lock(&self.presence);
        let mut out: Vec<u64> = all
            .iter()
            .filter(|(_, p)| p.zone == zone)
            .map(|(id, _)| *id)
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    async fn publish_social(&self, _zone: &str, _payload: &str) -> Result<bool, RegistryError> {
        Ok(false)
    }

    fn subscribe_social(&self) -> Option<mpsc::Receiver<BusMessage>> {
        None
    }
}

/// Sets a presence and keeps the per-zone sets true, in one step.
const SET_SCRIPT: &str = r"
    local old = redis.call('HGET', KEYS[1], ARGV[1])
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    if old then
        local z = cjson.decode(old).zone
        if z ~= ARGV[3] then redis.call('SREM', ARGV[4] .. z, ARGV[1]) end
    end
    redis.call('SADD', ARGV[4] .. ARGV[3], ARGV[1])
    return old";

/// Clears a presence only while it names the zone.
const CLEAR_SCRIPT: &str = r"
    local old = redis.call('HGET', KEYS[1], ARGV[1])
    if old and cjson.decode(old).zone == ARGV[2] then
        redis.call('HDEL', KEYS[1], ARGV[1])
        redis.call('SREM', ARGV[3] .. ARGV[2], ARGV[1])
        return old
    end
    redis.call('SREM', ARGV[3] .. ARGV[2], ARGV[1])
    return false";

impl RedisRegistry {
    fn zone_set_prefix(&self) -> String {
        self.key("presence-zone:")
    }
}

fn parse(raw: Option<String>) -> Result<Option<Presence>, RegistryError> {
    Ok(match raw {
        Some(r) => Some(serde_json::from_str(&r)?),
        None => None,
    })
}

impl PresenceRegistry for RedisRegistry {
    async fn presence_set(
        &self,
        player: u64,
        p: Presence,
    ) -> Result<Option<Presence>, RegistryError> {
        let mut c = self.conn.clone();
        let old: Option<String> = redis::cmd("EVAL")
            .arg(SET_SCRIPT)
            .arg(1)
            .arg(self.key("presence"))
            .arg(player)
            .arg(serde_json::to_string(&p)?)
            .arg(&p.zone)
            .arg(self.zone_set_prefix())
            .query_async(&mut c)
            .await?;
        parse(old)
    }

    async fn presence_clear(
        &self,
        player: u64,
        zone: &str,
    ) -> Result<Option<Presence>, RegistryError> {
        let mut c = self.conn.clone();
        let old: Option<String> = redis::cmd("EVAL")
            .arg(CLEAR_SCRIPT)
            .arg(1)
            .arg(self.key("presence"))
            .arg(player)
            .arg(zone)
            .arg(self.zone_set_prefix())
            .query_async(&mut c)
            .await?;
        parse(old)
    }

    async fn presence_get(&self, players: &[u64]) -> Result<Vec<Option<Presence>>, RegistryError> {
        if players.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.conn.clone();
        let raw: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.key("presence"))
            .arg(players)
            .query_async(&mut c)
            .await?;
        raw.into_iter().map(parse).collect()
    }

    async fn presence_in_zone(&self, zone: &str) -> Result<Vec<u64>, RegistryError> {
        let mut c = self.conn.clone();
        let mut ids: Vec<u64> = redis::cmd("SMEMBERS")
            .arg(format!("{}{zone}", self.zone_set_prefix()))
            .query_async(&mut c)
            .await?;
        ids.sort_unstable();
        Ok(ids)
    }

    async fn publish_social(&self, zone: &str, payload: &str) -> Result<bool, RegistryError> {
        let mut c = self.conn.clone();
        let msg = serde_json::to_string(&(zone, payload))?;
        let _: i64 = redis::cmd("PUBLISH")
            .arg(self.key("social"))
            .arg(msg)
            .query_async(&mut c)
            .await?;
        Ok(true)
    }

    fn subscribe_social(&self) -> Option<mpsc::Receiver<BusMessage>> {
        use futures_util::StreamExt;
        let (tx, rx) = mpsc::channel(4096);
        let client = self.client.clone();
        let channel = self.key("social");
        tokio::spawn(async move {
            // Resubscribes after a lost connection; what was published meanwhile is
            // lost, as with any pub/sub (chat is at most once across replicas).
            loop {
                match client.get_async_pubsub().await {
                    Ok(mut pubsub) => {
                        if pubsub.subscribe(&channel).await.is_ok() {
                            let mut stream = pubsub.on_message();
                            while let Some(msg) = stream.next().await {
                                let Ok(raw) = msg.get_payload::<String>() else {
                                    continue;
                                };
                                let Ok(m) = serde_json::from_str::<BusMessage>(&raw) else {
                                    continue;
                                };
                                if tx.send(m).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!("social bus: cannot subscribe: {e}"),
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        });
        Some(rx)
    }
}

/// Groups players by the zone they are online in (offline ones are left out).
pub fn by_zone(players: &[u64], presence: &[Option<Presence>]) -> HashMap<String, Vec<u64>> {
    let mut out: HashMap<String, Vec<u64>> = HashMap::new();
    for (id, p) in players.iter().zip(presence) {
        if let Some(p) = p {
            out.entry(p.zone.clone()).or_default().push(*id);
        }
    }
    out
}
