//! The zone's side of the social layer: who is online here, moderator mutes, the
//! per-player chat rate, whose chat each reader hides, and the social link to the
//! orchestrator (one WebSocket, signed like every control call, reconnected with
//! backoff). Sessions and the tick hand messages to the link through one bounded
//! channel and never wait on it. Whispers and party lines skip the tick at both ends:
//! the session checks and cleans them (the engine's rules, on the zone's content) and
//! hands them to the link, and what the orchestrator delivers goes straight into the
//! readers' outboxes. Only moderator kicks and mute notices reach the tick, as
//! `Inbound::Social`.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arcane_engine::content::ChatContent;
use arcane_protocol::codec::encode_server_message;
use arcane_protocol::{ReliableEvent, ServerMessage};
use bytes::Bytes;
use rustc_hash::FxHashSet;

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
use crate::net::outbox::{Outbox, Reliable};
use crate::status::TickStatus;

/// Messages waiting for the link.
pub const UP_QUEUE: usize = 8192;

/// Social requests a player may send per minute on average, and at once.
pub const REQUESTS_PER_MINUTE: u32 = 60;
pub const REQUEST_BURST: u32 = 10;

const RETRY: RetryPolicy = RetryPolicy::new(Duration::from_millis(200), Duration::from_secs(5));

/// One player's chat rate limit (governor's token bucket on the monotonic clock).
pub type ChatLimiter = governor::DefaultDirectRateLimiter;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A player connected here.
struct Online {
    name: String,
    /// The ownership epoch the player was loaded at (0 without a database).
    epoch: i64,
    conn: ConnId,
    outbox: Arc<Outbox>,
    /// What came for the player before the zone welcomed it (the `Welcome` is the
    /// first message of a connection); `None` once welcomed.
    early: Option<Vec<Bytes>>,
}

/// Most deliveries held for a player the zone has not welcomed yet (or who has not
/// arrived yet).
const MAX_EARLY: usize = 64;

/// How long a delivery for a player who is not here waits for it to arrive (a
/// transfer's new zone hears of the player before the player connects) before it
/// goes back to the orchestrator.
pub const HOLD: Duration = Duration::from_secs(5);

/// A delivery waiting for its player: since when, what, and its attempt.
type Held = (std::time::Instant, EventKind, u8);

/// What sessions, the tick and the link share.
pub struct Social {
    up: mpsc::Sender<SocialUp>,
    /// Who is connected here: the `Hello` of every (re)link lists them, and
    /// deliveries go straight to their outboxes.
    online: Mutex<HashMap<u64, Online>>,
    /// Deliveries for players expected here, by player.
    held: Mutex<HashMap<u64, Vec<Held>>>,
    /// Player → whose chat they hide (their block and mute lists).
    hidden: Mutex<HashMap<u64, FxHashSet<u64>>>,
    /// Player → (muted until, ms since the Unix epoch; the moderator's reason).
    muted: Mutex<HashMap<u64, (u64, String)>>,
    quota: Mutex<Quota>,
    /// The chat rules whispers and party lines are checked by (the zone's content).
    content: Mutex<Arc<ChatContent>>,
    linked: AtomicBool,
    status: Arc<TickStatus>,
    metrics: Arc<Metrics>,
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
    pub fn new(
        chat: &ChatContent,
        status: Arc<TickStatus>,
        metrics: Arc<Metrics>,
    ) -> (Social, mpsc::Receiver<SocialUp>) {
        let (up, rx) = mpsc::channel(UP_QUEUE);
        let social = Social {
            up,
            online: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
            hidden: Mutex::new(HashMap::new()),
            muted: Mutex::new(HashMap::new()),
            quota: Mutex::new(quota(chat.per_minute, chat.burst)),
            content: Mutex::new(Arc::new(chat.clone())),
            linked: AtomicBool::new(false),
            status,
            metrics,
        };
        (social, rx)
    }

    /// A new chat limiter for a joining player, on the current quota.
    pub fn limiter(&self) -> ChatLimiter {
        RateLimiter::direct(*lock(&self.quota))
    }

    /// A new limiter of a joining player's social requests (friends, lists, parties:
    /// each is work for the orchestrator's database).
    pub fn request_limiter(&self) -> ChatLimiter {
        RateLimiter::direct(quota(REQUESTS_PER_MINUTE, REQUEST_BURST))
    }

    /// New content's chat rules (players joining from now on get its rate).
    pub fn set_content(&self, chat: &ChatContent) {
        *lock(&self.quota) = quota(chat.per_minute, chat.burst);
        *lock(&self.content) = Arc::new(chat.clone());
    }

    /// The chat rules now.
    pub fn content(&self) -> Arc<ChatContent> {
        lock(&self.content).clone()
    }

    /// What follows a chat line the zone accepted, wherever it was checked: it is
    /// counted, a filter hit goes to the audit, and a whisper or party line goes to
    /// the link. The refusal to tell the speaker when it cannot leave the zone.
    pub fn accepted(&self, line: Accepted) -> Option<EventKind> {
        let channel = line.channel.as_str();
        self.metrics.chat(channel);
        if !line.filtered.is_empty() {
            self.metrics.chat_filtered.inc();
            self.send(SocialUp::Audit {
                player: line.player,
                action: "filter".into(),
                detail: format!("{channel} chat: {}", line.filtered.join(", ")),
            });
        }
        if !matches!(
            line.channel,
            ChatChannel::Party | ChatChannel::Whisper { .. }
        ) {
            return None;
        }
        let up = SocialUp::Chat {
            from: line.player,
            from_name: line.name,
            channel: line.channel,
            text: line.text,
            sent_ms: arcane_service::unix_ms(),
        };
        if self.send(up) {
            return None;
        }
        self.metrics.chat_refusal(ChatRefusal::Unavailable);
        Some(chat_unavailable(channel))
    }

    /// Marks the link up or down (the link task; tests that play the orchestrator).
    pub fn set_linked(&self, up: bool) {
        self.linked.store(up, Ordering::Relaxed);
    }

    /// Hands `m` to the link; false when it is down or full (the caller refuses).
    pub fn send(&self, m: SocialUp) -> bool {
        self.linked.load(Ordering::Relaxed) && self.up.try_send(m).is_ok()
    }

    pub fn online(&self, player: u64, name: &str, epoch: i64, conn: ConnId, outbox: Arc<Outbox>) {
        let online = Online {
            name: name.to_string(),
            epoch,
            conn,
            outbox,
            early: Some(Vec::new()),
        };
        lock(&self.online).insert(player, online);
        // What came for the player on its way here follows its welcome.
        let held = lock(&self.held).remove(&player).unwrap_or_default();
        for (_, event, _) in held {
            let _ = self.deliver(&[player], event);
        }
        self.send(SocialUp::Online(OnlinePlayer {
            player,
            name: name.to_string(),
            epoch,
        }));
    }

    /// The zone sent `player` its `Welcome`: what waited for it follows.
    pub fn welcomed(&self, player: u64) {
        let mut online = lock(&self.online);
        let Some(o) = online.get_mut(&player) else {
            return;
        };
        for bytes in o.early.take().unwrap_or_default() {
            if o.outbox.push_reliable(bytes) == Reliable::TooSlow {
                self.metrics.kick(arcane_protocol::KickReason::SlowClient);
            }
        }
    }

    /// The connection `conn` of `player` ended (a newer one of the player stays).
    pub fn offline(&self, player: u64, conn: ConnId) {
        let mut online = lock(&self.online);
        if online.get(&player).is_some_and(|o| o.conn == conn) {
            online.remove(&player);
            drop(online);
            lock(&self.hidden).remove(&player);
            self.send(SocialUp::Offline { player });
        }
    }

    fn online_now(&self) -> Vec<OnlinePlayer> {
        let mut out: Vec<OnlinePlayer> = lock(&self.online)
            .iter()
            .map(|(&player, o)| OnlinePlayer {
                player,
                name: o.name.clone(),
                epoch: o.epoch,
            })
            .collect();
        out.sort_by_key(|p| p.player);
        out
    }

    /// Whether `player` hides chat from `from`.
    pub fn hides(&self, player: u64, from: u64) -> bool {
        lock(&self.hidden)
            .get(&player)
            .is_some_and(|h| h.contains(&from))
    }

    /// Sends `kind` to each of `players` connected here (chat only to those who do
    /// not hide its speaker), without waiting for the tick; returns those who are not
    /// here.
    pub fn deliver(&self, players: &[u64], kind: EventKind) -> Vec<u64> {
        let mut away = Vec::new();
        let from = match &kind {
            EventKind::Chat { from_id, .. } => Some(*from_id),
            _ => None,
        };
        let tick = self.status.tick.load(Ordering::Relaxed) as u32;
        let msg = ServerMessage::Events(vec![ReliableEvent { tick, kind }]);
        let mut out = Vec::new();
        if let Err(e) = encode_server_message(&msg, &mut out) {
            tracing::error!("cannot encode a social event: {e}");
            return away;
        }
        let bytes = Bytes::from(out);
        for &p in players {
            if from.is_some_and(|f| self.hides(p, f)) {
                self.metrics.chat_hidden.inc();
                continue;
            }
            let outbox = {
                let mut online = lock(&self.online);
                let Some(o) = online.get_mut(&p) else {
                    away.push(p);
                    continue;
                };
                match &mut o.early {
                    Some(early) if early.len() < MAX_EARLY => {
                        early.push(bytes.clone());
                        continue;
                    }
                    Some(_) => {
                        self.metrics.social_dropped.inc();
                        continue;
                    }
                    None => o.outbox.clone(),
                }
            };
            if outbox.push_reliable(bytes.clone()) == Reliable::TooSlow {
                self.metrics.kick(arcane_protocol::KickReason::SlowClient);
            }
        }
        away
    }

    /// The deliveries whose players did not arrive within [`HOLD`] of `now`, to go
    /// back to the orchestrator (which tries again where they are).
    pub fn expired(&self, now: std::time::Instant) -> Vec<SocialUp> {
        let mut out = Vec::new();
        lock(&self.held).retain(|&player, list| {
            list.retain(|(since, event, attempt)| {
                if now.saturating_duration_since(*since) < HOLD {
                    return true;
                }
                out.push(SocialUp::Bounced {
                    players: vec![player],
                    event: event.clone(),
                    attempt: *attempt,
                });
                false
            });
            !list.is_empty()
        });
        out
    }

    /// Applies what the orchestrator sent: deliveries, hidden lists and mutes take
    /// effect here; what the tick must do (kicks, mute notices) is handed back.
    pub fn apply(&self, down: SocialDown) -> Option<SocialDown> {
        match down {
            SocialDown::Deliver {
                players,
                event,
                attempt,
            } => {
                let away = self.deliver(&players, event.clone());
                let now = std::time::Instant::now();
                let mut held = lock(&self.held);
                for p in away {
                    let list = held.entry(p).or_default();
                    if list.len() < MAX_EARLY {
                        list.push((now, event.clone(), attempt));
                    } else {
                        self.metrics.social_dropped.inc();
                    }
                }
                None
            }
            SocialDown::Hidden { player, ids } => {
                lock(&self.hidden).insert(player, ids.into_iter().collect());
                None
            }
            SocialDown::Muted {
                player,
                until_ms,
                ref reason,
            } => {
                self.set_muted(player, until_ms, reason.clone());
                Some(down)
            }
            SocialDown::Kick { .. } => Some(down),
        }
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

    fn set_muted(&self, player: u64, until_ms: u64, reason: String) {
        let mut muted = lock(&self.muted);
        if until_ms == 0 {
            muted.remove(&player);
        } else {
            muted.insert(player, (until_ms, reason));
        }
    }
}

/// The refusal of a chat message on `channel` that could not leave the zone.
pub fn chat_unavailable(channel: &str) -> EventKind {
    EventKind::ChatRefused {
        reason: ChatRefusal::Unavailable,
        detail: format!("{channel} chat is unavailable right now; try again"),
    }
}

/// A chat line the zone accepted (checked and cleaned): whoever said it, as whom.
pub struct Accepted {
    pub player: u64,
    pub name: String,
    pub channel: ChatChannel,
    pub text: String,
    pub filtered: Vec<String>,
}

/// The refusal of a social request over the player's rate.
pub fn request_rate_limited(request: &str) -> EventKind {
    EventKind::Social(Box::new(SocialEvent::Refused {
        request: request.to_string(),
        reason: SocialRefusal::RateLimited,
        detail: format!(
            "too many requests (at most {REQUESTS_PER_MINUTE} a minute, {REQUEST_BURST} at once); wait"
        ),
    }))
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
    social: Arc<Social>,
    mut rx: mpsc::Receiver<SocialUp>,
    config: LinkConfig,
    inbox: mpsc::Sender<Inbound>,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) {
    let mut backoff = RETRY.backoff();
    let url = format!(
        "{}{}",
        config.orchestrator.replacen("http", "ws", 1),
        paths::SOCIAL
    );
    loop {
        // An orchestrator that accepts but does not answer (one starting up, ending
        // its predecessor's orphans) must not hold a stopping zone for the timeout.
        let connected = tokio::select! {
            c = connect(&url, &config.key) => c,
            () = cancel.cancelled() => return,
        };
        match connected {
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
                let mut ok = send(&mut sink, &hello, true).await;
                let mut sweep = tokio::time::interval(HOLD / 4);
                tracing::info!(%url, "social link up");
                while ok {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = sweep.tick() => {
                            for up in social.expired(std::time::Instant::now()) {
                                ok &= send(&mut sink, &up, false).await;
                            }
                            ok = ok && sink.flush().await.is_ok();
                        }
                        m = rx.recv() => match m {
                            // Flushed when nothing else waits: one write per burst.
                            Some(m) => ok = send(&mut sink, &m, rx.is_empty()).await,
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
            refuse(&social, m);
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

async fn send(
    sink: &mut futures_util::stream::SplitSink<Ws, Message>,
    m: &SocialUp,
    flush: bool,
) -> bool {
    match serde_json::to_string(m) {
        Ok(json) => {
            sink.feed(Message::Text(json.into())).await.is_ok()
                && (!flush || sink.flush().await.is_ok())
        }
        Err(e) => {
            tracing::error!("cannot encode a social message: {e}");
            true
        }
    }
}

/// What the orchestrator sent: applied here, and what is the tick's goes to it.
pub(crate) fn receive(
    social: &Social,
    inbox: &mpsc::Sender<Inbound>,
    metrics: &Metrics,
    down: SocialDown,
) {
    if let Some(rest) = social.apply(down)
        && inbox.try_send(Inbound::Social(Box::new(rest))).is_err()
    {
        metrics.social_dropped.inc();
    }
}

/// Tells the sender of `m` it could not be carried.
fn refuse(social: &Social, m: SocialUp) {
    let (player, event) = match m {
        SocialUp::Chat { from, channel, .. } => (from, chat_unavailable(channel.as_str())),
        SocialUp::Request {
            player, request, ..
        } => (player, request_unavailable(request.as_str())),
        _ => return,
    };
    let _ = social.deliver(&[player], event);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stopping_zone_does_not_wait_for_an_orchestrator_that_does_not_answer() {
        // It takes connections and never answers, as one starting up does.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let config = LinkConfig {
            orchestrator: format!("http://{}", silent.local_addr().unwrap()),
            key: ControlKey::new("test"),
            zone_id: "meadow".into(),
            lease_generation: 1,
        };
        let metrics = Arc::new(Metrics::new("test"));
        let (social, rx) = Social::new(&ChatContent::default(), Arc::default(), metrics.clone());
        let (inbox, _inbox_rx) = mpsc::channel(1);
        let cancel = CancellationToken::new();
        let link = run_link(Arc::new(social), rx, config, inbox, metrics, cancel.clone());
        let link = tokio::spawn(link);
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.cancel();
        // Well before the connect timeout (5 s).
        tokio::time::timeout(Duration::from_secs(2), link)
            .await
            .expect("the link stops when the zone does")
            .unwrap();
    }

    fn social() -> Social {
        let metrics = Arc::new(Metrics::new("test"));
        let (social, _rx) = Social::new(&ChatContent::default(), Arc::default(), metrics);
        social
    }

    #[test]
    fn a_moderator_mute_holds_until_it_ends() {
        let social = social();
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
        let limiter = social().limiter();
        let allowed = (0..20).filter(|_| limiter.check().is_ok()).count();
        assert_eq!(allowed, ChatContent::default().burst as usize);
    }

    #[test]
    fn a_newer_connection_of_a_player_stays_online_when_the_older_ends() {
        let social = social();
        let outbox = || Arc::new(Outbox::new());
        social.online(1, "ann", 0, 10, outbox());
        social.online(1, "ann", 0, 11, outbox());
        social.offline(1, 10);
        assert_eq!(social.online_now().len(), 1);
        social.offline(1, 11);
        assert!(social.online_now().is_empty());
    }

    #[test]
    fn deliveries_skip_readers_who_hide_the_speaker() {
        let social = social();
        let (a, b) = (Arc::new(Outbox::new()), Arc::new(Outbox::new()));
        social.online(1, "ann", 0, 1, a.clone());
        social.online(2, "bob", 0, 2, b.clone());
        let hidden = SocialDown::Hidden {
            player: 2,
            ids: vec![3],
        };
        assert!(social.apply(hidden).is_none());
        let chat = EventKind::Chat {
            channel: ChatChannel::Party,
            from_id: 3,
            from: "cy".into(),
            text: "hi".into(),
        };
        assert_eq!(social.deliver(&[1, 2, 9], chat.clone()), vec![9]);
        assert!(a.take().reliable.is_empty(), "nothing before the welcome");
        social.welcomed(1);
        social.welcomed(2);
        assert_eq!(a.take().reliable.len(), 1);
        social.deliver(&[1, 2], chat);
        assert_eq!(a.take().reliable.len(), 1);
        assert!(b.take().reliable.is_empty());
        let kick = SocialDown::Kick {
            player: 1,
            reason: "x".into(),
        };
        assert!(social.apply(kick).is_some(), "kicks are the tick's");
    }
}
