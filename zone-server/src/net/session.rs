//! Transport-independent session logic: the handshake check, the per-connection frame
//! rate limit and what to do with each client frame. Transports (WebSocket in `ws/`,
//! QUIC in `quic/`) only move bytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arcane_control_api::SocialUp;
use arcane_engine::{PlayerId, ZoneCommand};
use arcane_protocol::codec::{decode_client_frame, encode_server_message};
use arcane_protocol::saved::SavedPlayer;
use arcane_protocol::ticket::{Role, TicketError, TicketKey};
use arcane_protocol::{
    ChatChannel, ChatRefusal, ClientMessage, ClientTier, CodecError, EventKind, KickReason,
    MAX_CHAT_BYTES, PROTOCOL_VERSION, ReliableEvent, ServerMessage,
};
use arcane_service::{CancellationToken, failpoint};
use arcane_store::{Store, StoreError, ZoneLease};
use bytes::Bytes;
use tokio::sync::mpsc;

use super::inbound::{ConnId, Inbound};
use super::outbox::Outbox;
use crate::metrics::Metrics;
use crate::status::TickStatus;

/// Malformed frames tolerated per connection before it is closed.
pub const MAX_MALFORMED_FRAMES: u32 = 8;

/// A refusal: the kick reason and a human-readable detail.
pub type Refusal = (KickReason, String);

/// What every session of one zone shares.
pub struct SessionContext {
    pub zone_id: String,
    pub key: TicketKey,
    pub inbox: mpsc::Sender<Inbound>,
    pub metrics: Arc<Metrics>,
    pub status: Arc<TickStatus>,
    /// Cancelled when the zone drains: no new players.
    pub draining: CancellationToken,
    /// Player persistence and the zone's lease (joins load under it); `None` runs the
    /// zone without a database (fresh players).
    pub store: Option<(Store, ZoneLease)>,
    /// Frames per second a connection may send (and as many again in a burst).
    pub max_frames_per_second: u32,
    /// The next connection's id (from 1).
    pub next_conn: AtomicU64,
    /// Presence, moderator mutes, the chat rate and the link to the orchestrator.
    pub social: Arc<crate::net::social::Social>,
}

/// A connection that passed the handshake.
pub struct Session {
    pub player: PlayerId,
    pub conn: ConnId,
    pub outbox: Arc<Outbox>,
    /// The player's name (chat shows it).
    pub name: String,
    malformed: u32,
    rate: RateLimit,
    chat: crate::net::social::ChatLimiter,
    requests: crate::net::social::ChatLimiter,
}

/// A token bucket over client frames: `per_second` tokens a second, holding at most
/// `per_second` (one second of burst). Cheap enough to check before decoding.
#[derive(Debug, Clone)]
pub struct RateLimit {
    per_second: f64,
    tokens: f64,
    last: std::time::Instant,
}

impl RateLimit {
    pub fn new(per_second: u32, now: std::time::Instant) -> Self {
        let per_second = f64::from(per_second.max(1));
        RateLimit {
            per_second,
            tokens: per_second,
            last: now,
        }
    }

    /// Takes a token for one frame at `now`; false when the bucket is empty.
    pub fn allow(&mut self, now: std::time::Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.per_second);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Encodes a kick message for the wire.
pub fn kick_frame(reason: KickReason, detail: &str) -> Bytes {
    let mut out = Vec::new();
    let msg = ServerMessage::Kick {
        reason,
        detail: detail.to_string(),
    };
    if encode_server_message(&msg, &mut out).is_err() {
        out.clear();
    }
    Bytes::from(out)
}

impl SessionContext {
    /// Checks the first frame: exactly one `Hello`, our protocol version, and a ticket
    /// that verifies for this zone and has not expired.
    pub fn check_hello(&self, frame: &[u8]) -> Result<(PlayerId, ClientTier, Role), Refusal> {
        let messages = decode_client_frame(frame).map_err(|e| {
            (
                KickReason::HandshakeFailed,
                format!("first frame did not decode: {e}"),
            )
        })?;
        let [ClientMessage::Hello(hello)] = messages.as_slice() else {
            return Err((
                KickReason::HandshakeFailed,
                "the first frame must be a single Hello".into(),
            ));
        };
        if hello.protocol_version != PROTOCOL_VERSION {
            return Err((
                KickReason::VersionMismatch,
                format!(
                    "server speaks protocol {PROTOCOL_VERSION}, client sent {}; update the client",
                    hello.protocol_version
                ),
            ));
        }
        let claims = self
            .key
            .verify(
                &hello.ticket,
                &self.zone_id,
                arcane_service::unix_ms() / 1000,
            )
            .map_err(|e| {
                let reason = match e {
                    TicketError::Expired { .. } => KickReason::TicketExpired,
                    TicketError::WrongZone { .. } => KickReason::WrongZone,
                    TicketError::Malformed | TicketError::BadSignature => KickReason::BadTicket,
                };
                (reason, e.to_string())
            })?;
        Ok((PlayerId(claims.player_id), hello.tier, claims.role))
    }

    /// Logs and counts a refused handshake (the transport then kicks with it).
    pub fn refused_handshake(&self, refusal: &Refusal) {
        let reason = crate::metrics::kick_label(refusal.0);
        tracing::debug!(reason, "handshake refused: {}", refusal.1);
        self.metrics.handshake_failure(reason);
    }

    /// Loads the player's saved state when the zone persists players: only the zone
    /// that owns a player may take it in (its state lives here until it leaves), and
    /// the load marks it held by connection `conn` until its logout save (see
    /// `arcane_store`'s holds). Admin tickets without a stored player join unsaved.
    async fn load(
        &self,
        player: PlayerId,
        role: Role,
        conn: ConnId,
    ) -> Result<Option<(Box<SavedPlayer>, i64, String)>, Refusal> {
        let Some((store, lease)) = &self.store else {
            return Ok(None);
        };
        let token = arcane_store::hold_token(lease, conn);
        let loaded = store
            .hold_owned(player.0, lease, token)
            .await
            .map_err(|e| {
                tracing::error!(player = player.0, "cannot load the player: {e}");
                let detail = match e {
                    StoreError::Fenced { .. } => "this zone process was replaced; log in again",
                    _ => "the player could not be loaded; log in again",
                };
                (KickReason::NotOwner, detail.to_string())
            })?;
        match loaded {
            Some((record, epoch)) => {
                failpoint("zone.load").await;
                Ok(Some((Box::new(record.saved()), epoch, record.name)))
            }
            None if role == Role::Admin => Ok(None),
            None => Err((
                KickReason::NotOwner,
                format!(
                    "zone {} does not own player {}; log in through the orchestrator",
                    self.zone_id, player.0
                ),
            )),
        }
    }

    /// Registers a verified player with the tick thread.
    pub async fn join(
        &self,
        player: PlayerId,
        tier: ClientTier,
        role: Role,
    ) -> Result<Session, Refusal> {
        if self.draining.is_cancelled() {
            return Err((
                KickReason::ServerShutdown,
                "the zone is draining; log in again to be placed elsewhere".into(),
            ));
        }
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let loaded = self.load(player, role, conn).await?;
        self.join_loaded(player, tier, role, conn, loaded).await
    }

    /// [`SessionContext::join`] once the player's saved state (its epoch and name) is
    /// loaded for connection `conn`.
    pub(crate) async fn join_loaded(
        &self,
        player: PlayerId,
        tier: ClientTier,
        role: Role,
        conn: ConnId,
        loaded: Option<(Box<SavedPlayer>, i64, String)>,
    ) -> Result<Session, Refusal> {
        let name = match (&loaded, role) {
            (Some((_, _, name)), _) => name.clone(),
            (None, Role::Admin) => format!("admin-{}", player.0),
            (None, _) => format!("player-{}", player.0),
        };
        let epoch = loaded.as_ref().map_or(0, |(_, epoch, _)| *epoch);
        let saved = loaded.map(|(state, epoch, _)| (state, epoch));
        let outbox = Arc::new(Outbox::new());
        let join = Inbound::Join {
            player,
            tier,
            role,
            conn,
            outbox: outbox.clone(),
            saved,
        };
        // Joins and leaves wait for room rather than being dropped: losing one would
        // leave a ghost player or a connection the zone never serves.
        if self.inbox.send(join).await.is_err() {
            return Err((
                KickReason::ServerShutdown,
                "the zone is shutting down".into(),
            ));
        }
        self.social
            .online(player.0, &name, epoch, conn, outbox.clone());
        Ok(Session {
            player,
            conn,
            outbox,
            name,
            malformed: 0,
            rate: RateLimit::new(self.max_frames_per_second, std::time::Instant::now()),
            chat: self.social.limiter(),
            requests: self.social.request_limiter(),
        })
    }

    /// Tells the tick thread the connection is gone.
    pub async fn leave(&self, session: &Session) {
        self.leave_ids(session.player, session.conn).await;
    }

    /// [`SessionContext::leave`] by the player and connection ids.
    pub async fn leave_ids(&self, player: PlayerId, conn: ConnId) {
        self.social.offline(player.0, conn);
        let _ = self.inbox.send(Inbound::Leave { player, conn }).await;
    }

    fn forward(&self, msg: Inbound) {
        if self.inbox.try_send(msg).is_err() {
            // The tick thread is behind; dropping an input or ack is safe (the client
            // resends state implicitly with the next ones).
            self.metrics.inbox_drops.inc();
        }
    }

    /// Handles one binary frame from a playing client.
    pub fn on_frame(&self, session: &mut Session, frame: &[u8]) -> Result<(), Refusal> {
        self.on_frame_at(session, frame, std::time::Instant::now())
    }

    /// [`SessionContext::on_frame`] for a frame that arrived at `now` (the frame rate
    /// limit and the input's receive stamp use it; tests pass their own clock).
    pub fn on_frame_at(
        &self,
        session: &mut Session,
        frame: &[u8],
        now: std::time::Instant,
    ) -> Result<(), Refusal> {
        // Over the limit, a frame is dropped undecoded: flooding costs the server
        // almost nothing, and inputs in it are lost like a dropped packet.
        if !session.rate.allow(now) {
            self.metrics.rate_limited_frames.inc();
            return Ok(());
        }
        let messages = match decode_client_frame(frame) {
            Ok(m) => m,
            Err(e) => {
                tracing::trace!(player = session.player.0, "malformed frame: {e}");
                if e == CodecError::InvalidText {
                    // Text that is not UTF-8 is almost surely a chat line: say so.
                    self.metrics.chat_refusal(ChatRefusal::InvalidText);
                    let detail = "the text is not valid UTF-8".to_string();
                    let reason = ChatRefusal::InvalidText;
                    self.tell(session, EventKind::ChatRefused { reason, detail });
                }
                return self.on_malformed(session);
            }
        };
        let (player, conn) = (session.player, session.conn);
        let received_us = self.status.host_us(now);
        for m in messages {
            let command = match m {
                ClientMessage::Input(input) => ZoneCommand::Input {
                    player,
                    input,
                    received_us,
                },
                ClientMessage::Ack { snapshot_id } => ZoneCommand::Ack {
                    player,
                    snapshot_id,
                },
                ClientMessage::Cast(intent) => ZoneCommand::Cast { player, intent },
                ClientMessage::Respawn => ZoneCommand::Respawn { player },
                ClientMessage::Admin { seq, command } => ZoneCommand::Admin {
                    player,
                    seq,
                    command: Box::new(command),
                },
                ClientMessage::Capture { seq, target } => ZoneCommand::Capture {
                    player,
                    seq,
                    target,
                },
                ClientMessage::Breed { seq, first, second } => ZoneCommand::Breed {
                    player,
                    seq,
                    first,
                    second,
                },
                ClientMessage::RosterRequest => ZoneCommand::RosterRequest { player },
                ClientMessage::Chat { channel, text } => {
                    if let Err((reason, detail)) = self.check_chat(session, &text) {
                        self.metrics.chat_refusal(reason);
                        self.tell(session, EventKind::ChatRefused { reason, detail });
                        continue;
                    }
                    if matches!(channel, ChatChannel::Party | ChatChannel::Whisper { .. }) {
                        self.chat_out(session, channel, &text);
                        continue;
                    }
                    ZoneCommand::Chat {
                        player,
                        name: session.name.clone(),
                        channel,
                        text,
                    }
                }
                ClientMessage::Social(request) => {
                    let kind = request.as_str();
                    if session.requests.check().is_err() {
                        self.metrics.social_requests_refused.inc();
                        self.tell(session, crate::net::social::request_rate_limited(kind));
                        continue;
                    }
                    self.metrics.social_requests.inc();
                    let up = SocialUp::Request {
                        player: player.0,
                        name: session.name.clone(),
                        request,
                    };
                    if !self.social.send(up) {
                        self.tell(session, crate::net::social::request_unavailable(kind));
                    }
                    continue;
                }
                ClientMessage::Ping { nonce } => {
                    let tick = self.status.tick.load(Ordering::Relaxed) as u32;
                    let mut out = Vec::new();
                    if encode_server_message(&ServerMessage::Pong { nonce, tick }, &mut out).is_ok()
                    {
                        session.outbox.push_reliable(Bytes::from(out));
                    }
                    continue;
                }
                ClientMessage::Hello(_) => {
                    return Err((KickReason::HandshakeFailed, "Hello sent twice".into()));
                }
            };
            self.forward(Inbound::Play {
                player,
                conn,
                command,
            });
        }
        Ok(())
    }

    /// Whether the session may send this chat text now: not too long for the wire, not
    /// muted by a moderator, within its rate. (The zone checks the rest.)
    fn check_chat(&self, session: &Session, text: &str) -> Result<(), (ChatRefusal, String)> {
        if text.len() > MAX_CHAT_BYTES {
            return Err((
                ChatRefusal::TooLong,
                format!("at most {MAX_CHAT_BYTES} bytes"),
            ));
        }
        if let Some(why) = self
            .social
            .muted(session.player.0, arcane_service::unix_ms())
        {
            return Err((ChatRefusal::Muted, why));
        }
        if let Err(not_until) = session.chat.check() {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            return Err((
                ChatRefusal::RateLimited,
                format!("too many messages; wait {} ms", wait.as_millis()),
            ));
        }
        Ok(())
    }

    /// A whisper or party line: cleaned by the zone's chat rules here and handed to
    /// the social link (it never enters the simulation, so it waits for no tick).
    fn chat_out(&self, session: &Session, channel: ChatChannel, text: &str) {
        let cleaned = match arcane_engine::chat::rules::clean(text, &self.social.content()) {
            Ok(c) => c,
            Err(reason) => {
                self.metrics.chat_refusal(reason);
                let detail = format!("not sent: {}", reason.as_str());
                self.tell(session, EventKind::ChatRefused { reason, detail });
                return;
            }
        };
        let line = crate::net::social::Accepted {
            player: session.player.0,
            name: session.name.clone(),
            channel,
            text: cleaned.text,
            filtered: cleaned.filtered,
        };
        if let Some(refusal) = self.social.accepted(line) {
            self.tell(session, refusal);
        }
    }

    /// Sends one event to this session's client straight away (answers that never
    /// reach the tick: refusals of the session's own checks).
    fn tell(&self, session: &Session, kind: EventKind) {
        let tick = self.status.tick.load(Ordering::Relaxed) as u32;
        let msg = ServerMessage::Events(vec![ReliableEvent { tick, kind }]);
        let mut out = Vec::new();
        if encode_server_message(&msg, &mut out).is_ok() {
            session.outbox.push_reliable(Bytes::from(out));
        }
    }

    /// Counts a frame that is not valid protocol (bad bytes, text frames).
    pub fn on_malformed(&self, session: &mut Session) -> Result<(), Refusal> {
        self.metrics.malformed_frames.inc();
        session.malformed += 1;
        if session.malformed >= MAX_MALFORMED_FRAMES {
            return Err((
                KickReason::MalformedPackets,
                format!("{} frames failed to decode", session.malformed),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimit;
    use std::time::{Duration, Instant};

    #[test]
    fn the_rate_limit_allows_a_burst_then_the_steady_rate() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(10, t0);
        let burst = (0..20).filter(|_| r.allow(t0)).count();
        assert_eq!(burst, 10, "one second of burst");
        // Then one frame per 100 ms.
        assert!(!r.allow(t0 + Duration::from_millis(50)));
        assert!(r.allow(t0 + Duration::from_millis(101)));
        assert!(!r.allow(t0 + Duration::from_millis(102)));
        // A long silence refills only up to the burst.
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..30).filter(|_| r.allow(later)).count(), 10);
    }
}
