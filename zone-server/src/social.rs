//! The zone's side of the social layer: who is online here, moderator mutes, the
//! per-player chat rate, and the social link to the orchestrator (one WebSocket,
//! signed like every control call, reconnected with backoff). Sessions and the tick
//! hand messages to the link through one bounded channel and never wait on it; what
//! the orchestrator sends for players here reaches the tick as `Inbound::Social`.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arcane_control_api::{OnlinePlayer, SocialDown, SocialUp, paths};
use arcane_protocol::{ChatChannel, ChatRefusal, EventKind, SocialEvent, SocialRefusal};
use arcane_service::control_auth::ControlKey;
use arcane_service::{CancellationToken, RetryPolicy};
use futures_util::{SinkExt, StreamExt};
use governor::{Quota, RateLimiter};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::metrics::Metrics;
use crate::net::inbound::{ConnId, Inbound};

/// Messages waiting for the link.
pub const UP_QUEUE: usize = 8192;

const RETRY: RetryPolicy = RetryPolicy::new(Duration::from_millis(200), Duration::from_secs(5));

/// One player's chat rate limit (governor's token bucket on the monotonic clock).
pub type ChatLimiter = governor::DefaultDirectRateLimiter;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What sessions, the tick and the link share.
pub struct Social {
    up: mpsc::Sender<SocialUp>,
    /// Player → (name, connection): the `Hello` of every (re)link lists them.
    online: Mutex<HashMap<u64, (String, ConnId)>>,
    /// Player → (muted until, ms since the Unix epoch; the moderator's reason).
    muted: Mutex<HashMap<u64, (u64, String)>>,
    quota: Mutex<Quota>,
    linked: AtomicBool,
}

/// The chat quota of content's `per_minute` and `burst`.
pub fn quota(per_minute: u32, burst: u32) -> Quota {
    let per_minute = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

impl Social {
    /// The shared state and the receiving end for [`run_link`] (dropping it leaves the
    /// zone without a link: cross-zone chat and requests are refused as unavailable).
    pub fn new(quota: Quota) -> (Social, mpsc::Receiver<SocialUp>) {
        let (up, rx) = mpsc::channel(UP_QUEUE);
        let social = Social {
            up,
            online: Mutex::new(HashMap::new()),
            muted: Mutex::new(HashMap::new()),
            quota: Mutex::new(quota),
            linked: AtomicBool::new(false),
        };
        (social, rx)
    }

    /// A new chat limiter for a joining player, on the current quota.
    pub fn limiter(&self) -> ChatLimiter {
        RateLimiter::direct(*lock(&self.quota))
    }

    /// New content's chat rate (players joining from now on get it).
    pub fn set_quota(&self, quota: Quota) {
        *lock(&self.quota) = quota;
    }

    /// Marks the link up or down (the link task; tests that play the orchestrator).
    pub fn set_linked(&self, up: bool) {
        self.linked.store(up, Ordering::Relaxed);
    }

    /// Hands `m` to the link; false when it is down or full (the caller refuses).
    pub fn send(&self, m: SocialUp) -> bool {
        self.linked.load(Ordering::Relaxed) && self.up.try_send(m).is_ok()
    }

    pub fn online(&self, player: u64, name: &str, conn: ConnId) {
        lock(&self.online).insert(player, (name.to_string(), conn));
        self.send(SocialUp::Online(OnlinePlayer {
            player,
            name: name.to_string(),
        }));
    }

    /// The connection `conn` of `player` ended (a newer one of the player stays).
    pub fn offline(&self, player: u64, conn: ConnId) {
        let mut online = lock(&self.online);
        if online.get(&player).is_some_and(|(_, c)| *c == conn) {
            online.remove(&player);
            drop(online);
            self.send(SocialUp::Offline { player });
        }
    }

    fn online_now(&self) -> Vec<OnlinePlayer> {
        let mut out: Vec<OnlinePlayer> = lock(&self.online)
            .iter()
            .map(|(&player, (name, _))| OnlinePlayer {
                player,
                name: name.clone(),
            })
            .collect();
        out.sort_by_key(|p| p.player);
        out
    }

    /// Why `player` may not chat at `now_ms`, if a moderator muted them.
    pub fn muted(&self, player: u64, now_ms: u64) -> Option<String> {
        let mut muted = lock(&self.muted);
        match muted.get(&player) {
            Some((until, reason)) if *until > now_ms => Some(format!(
                "muted for {} more s: {reason}",
                (until - now_ms).div_ceil(1000)
            )),
            Some(_) => {
                muted.remove(&player);
                None
            }
            None => None,
        }
    }

    /// Applies a moderator's mute (sessions check it before anything else).
    pub fn apply_mute(&self, down: &SocialDown) {
        if let SocialDown::Muted {
            player,
            until_ms,
            reason,
        } = down
        {
            self.set_muted(*player, *until_ms, reason.clone());
        }
    }

    fn set_muted(&self, player: u64, until_ms: u64, reason: String) {
        let mut muted = lock(&self.muted);
        if until_ms == 0 {
            muted.remove(&player);
        } else {
            muted.insert(player, (until_ms, reason));
        }
    }
}

/// The refusal of a chat message that could not leave the zone.
pub fn chat_unavailable(channel: &ChatChannel) -> EventKind {
    EventKind::ChatRefused {
        reason: ChatRefusal::Unavailable,
        detail: format!(
            "{} chat is unavailable right now; try again",
            channel.as_str()
        ),
    }
}

/// The refusal of a social request while the orchestrator is out of reach.
pub fn request_unavailable(request: &str) -> EventKind {
    EventKind::Social(Box::new(SocialEvent::Refused {
        request: request.to_string(),
        reason: SocialRefusal::Unavailable,
        detail: "the social service is out of reach; try again".into(),
    }))
}

/// Where the link goes and who it speaks for.
pub struct LinkConfig {
    /// `http://host:port` of the orchestrator's internal listener.
    pub orchestrator: String,
    pub key: ControlKey,
    pub zone_id: String,
    pub lease_generation: i64,
}

/// Keeps the social link up until `cancel`: connects, says hello with who is online,
/// then carries messages both ways; after a failure, refuses what waits and retries.
pub async fn run_link(
    social: std::sync::Arc<Social>,
    mut rx: mpsc::Receiver<SocialUp>,
    config: LinkConfig,
    inbox: mpsc::Sender<Inbound>,
    metrics: std::sync::Arc<Metrics>,
    cancel: CancellationToken,
) {
    let mut backoff = RETRY.backoff();
    let url = format!(
        "{}{}",
        config.orchestrator.replacen("http", "ws", 1),
        paths::SOCIAL
    );
    loop {
        match connect(&url, &config.key).await {
            Ok(ws) => {
                backoff.reset();
                let (mut sink, mut stream) = ws.split();
                social.set_linked(true);
                metrics.social_link_up.set(1);
                let hello = SocialUp::Hello {
                    zone_id: config.zone_id.clone(),
                    lease_generation: config.lease_generation,
                    online: social.online_now(),
                };
                let mut ok = send(&mut sink, &hello).await;
                tracing::info!(%url, "social link up");
                while ok {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        m = rx.recv() => match m {
                            Some(m) => ok = send(&mut sink, &m).await,
                            None => return,
                        },
                        frame = stream.next() => match frame {
                            Some(Ok(Message::Text(t))) => match serde_json::from_str::<SocialDown>(&t) {
                                Ok(down) => receive(&social, &inbox, &metrics, down),
                                Err(e) => tracing::warn!("social link: a frame that does not parse: {e}"),
                            },
                            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => ok = false,
                            Some(Ok(_)) => {}
                        },
                    }
                }
                social.set_linked(false);
                metrics.social_link_up.set(0);
                tracing::warn!("social link down; reconnecting");
            }
            Err(e) => tracing::warn!(%url, "social link: cannot connect: {e}"),
        }
        // What waited for the link is refused, so nobody waits for an answer.
        while let Ok(m) = rx.try_recv() {
            refuse(&inbox, m);
        }
        if !backoff.wait(&cancel).await {
            return;
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, key: &ControlKey) -> anyhow::Result<Ws> {
    let mut request = url.into_client_request()?;
    for (name, value) in key.headers("GET", paths::SOCIAL, b"", arcane_service::unix_ms()) {
        request.headers_mut().insert(name, value.parse()?);
    }
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(request),
    )
    .await??;
    Ok(ws)
}

async fn send(sink: &mut futures_util::stream::SplitSink<Ws, Message>, m: &SocialUp) -> bool {
    match serde_json::to_string(m) {
        Ok(json) => sink.send(Message::Text(json.into())).await.is_ok(),
        Err(e) => {
            tracing::error!("cannot encode a social message: {e}");
            true
        }
    }
}

/// What the orchestrator sent: mutes apply here at once; the rest goes to the tick.
fn receive(social: &Social, inbox: &mpsc::Sender<Inbound>, metrics: &Metrics, down: SocialDown) {
    social.apply_mute(&down);
    if inbox.try_send(Inbound::Social(Box::new(down))).is_err() {
        metrics.social_dropped.inc();
    }
}

/// Tells the sender of `m` it could not be carried.
fn refuse(inbox: &mpsc::Sender<Inbound>, m: SocialUp) {
    let (player, event) = match m {
        SocialUp::Chat { from, channel, .. } => (from, chat_unavailable(&channel)),
        SocialUp::Request {
            player, request, ..
        } => (player, request_unavailable(request.as_str())),
        _ => return,
    };
    let down = SocialDown::Deliver {
        players: vec![player],
        event,
    };
    let _ = inbox.try_send(Inbound::Social(Box::new(down)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moderator_mute_holds_until_it_ends() {
        let (social, _rx) = Social::new(quota(30, 5));
        social.set_muted(7, 10_000, "spam".into());
        assert!(social.muted(7, 9_000).is_some_and(|m| m.contains("spam")));
        assert_eq!(social.muted(7, 10_000), None);
        assert_eq!(social.muted(8, 0), None);
        social.set_muted(7, 50_000, "spam".into());
        social.set_muted(7, 0, String::new());
        assert_eq!(social.muted(7, 1), None, "0 lifts a mute");
    }

    #[test]
    fn the_chat_limiter_allows_the_burst_then_refuses() {
        let (social, _rx) = Social::new(quota(30, 5));
        let limiter = social.limiter();
        let allowed = (0..20).filter(|_| limiter.check().is_ok()).count();
        assert_eq!(allowed, 5);
    }

    #[test]
    fn a_newer_connection_of_a_player_stays_online_when_the_older_ends() {
        let (social, _rx) = Social::new(quota(30, 5));
        social.online(1, "ann", 10);
        social.online(1, "ann", 11);
        social.offline(1, 10);
        assert_eq!(social.online_now().len(), 1);
        social.offline(1, 11);
        assert!(social.online_now().is_empty());
    }
}
