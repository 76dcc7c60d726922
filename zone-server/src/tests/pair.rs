//! A zone and its clients in one process, with no socket and no clock (quinn-proto's
//! `tests/util.rs` `Pair` is the model): the test moves every frame by hand through
//! the same session logic the transports run, steps the tick when it chooses, and
//! decides which snapshots reach a client and when its acks come back.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use arcane_engine::content::{ContentSources, ZoneContent};
use arcane_engine::{PlayerId, Zone};
use arcane_journal::Journal;
use arcane_protocol::codec::{decode_server_message, encode_client_frame};
use arcane_protocol::saved::SavedPlayer;
use arcane_protocol::ticket::{DEV_TICKET_SECRET, Role, TicketClaims, TicketKey};
use arcane_protocol::view::ClientView;
use arcane_protocol::{
    ClientMessage, ClientTier, Hello, KickReason, PROTOCOL_VERSION, ServerMessage,
};
use arcane_service::CancellationToken;
use tokio::sync::mpsc;
use tokio_util::sync::DropGuard;

use crate::metrics::Metrics;
use crate::net::io_pause::IoPause;
use crate::net::outbox::Dispatcher;
use crate::net::session::{Session, SessionContext};
use crate::persist::{PersistHandle, PersistJob};
use crate::status::TickStatus;
use crate::tick::Ticker;

/// One client of the pair.
pub struct Peer {
    session: Session,
    /// The client's decoded view of the zone.
    pub view: ClientView,
    /// Every message it received, in order.
    pub received: Vec<ServerMessage>,
    /// Acks on their way back to the zone: (tick it reaches the zone, snapshot id).
    acks: VecDeque<(u64, u32)>,
    /// Snapshots that were lost on the way (dropped by the test's `loss`).
    pub lost: u32,
    /// Why the zone closed the connection, once it did.
    pub kicked: Option<KickReason>,
}

impl Peer {
    /// The zone's id of this connection.
    pub fn conn(&self) -> crate::net::inbound::ConnId {
        self.session.conn
    }

    fn of(session: Session) -> Peer {
        Peer {
            session,
            view: ClientView::new(),
            received: Vec::new(),
            acks: VecDeque::new(),
            lost: 0,
            kicked: None,
        }
    }
}

/// The zone's side: its session logic and its tick, on the test's clock.
pub struct Pair {
    pub ctx: Arc<SessionContext>,
    ticker: Ticker,
    /// The host clock: where the test says it is.
    start: Instant,
    elapsed: Duration,
    period: Duration,
    ticks: u64,
    /// Stops the dispatcher when the pair goes.
    _stop: DropGuard,
    journal: crate::journaling::JournalSlot,
    /// What the zone hands to its social link (the test plays the orchestrator).
    pub social_up: mpsc::Receiver<arcane_control_api::SocialUp>,
}

impl Pair {
    /// A zone of the shipped content's `zone`.
    pub fn shipped(zone: &str) -> Pair {
        Pair::new(
            ContentSources::shipped()
                .zone(zone)
                .expect("shipped content"),
        )
    }

    /// Must be created inside a tokio runtime (the dispatcher is a task of it).
    pub fn new(content: ZoneContent) -> Pair {
        Pair::journaled(content, None, 0)
    }

    /// [`Pair::new`] with the zone journaled into `journal`, digesting every
    /// `hash_every` ticks. Its seed is 7.
    pub fn journaled(content: ZoneContent, journal: Option<Journal>, hash_every: u32) -> Pair {
        Pair::build(content, journal, hash_every, None)
    }

    /// [`Pair::new`] for a zone that persists players: the test reads what the zone
    /// hands its persistence task.
    pub fn persisted(content: ZoneContent) -> (Pair, mpsc::UnboundedReceiver<PersistJob>) {
        let (handle, jobs) = PersistHandle::detached();
        (Pair::build(content, None, 0, Some(handle)), jobs)
    }

    fn build(
        content: ZoneContent,
        journal: Option<Journal>,
        hash_every: u32,
        persist: Option<PersistHandle>,
    ) -> Pair {
        let zone_id = content.zone.id.clone();
        let chat = content.chat.clone();
        let (inbox, inbox_rx) = mpsc::channel(16 * 1024);
        let metrics = Arc::new(Metrics::new(&zone_id));
        let status = Arc::new(TickStatus::default());
        let dispatcher = Arc::new(Dispatcher::new(Arc::new(IoPause::new())));
        let stop = CancellationToken::new();
        tokio::spawn(dispatcher.clone().run(stop.clone()));
        let mut ticker = Ticker::new(
            Zone::new(content, 7),
            inbox_rx,
            metrics.clone(),
            status.clone(),
            dispatcher,
            persist,
        );
        let journal = ticker.set_journal(journal, hash_every);
        let (social, social_up) =
            crate::net::social::Social::new(&chat, status.clone(), metrics.clone());
        let social = Arc::new(social);
        social.set_linked(true);
        ticker.set_social(social.clone());
        let period = ticker.tick_period();
        let ctx = Arc::new(SessionContext {
            zone_id,
            key: TicketKey::new(DEV_TICKET_SECRET),
            inbox,
            metrics,
            status,
            draining: CancellationToken::new(),
            store: None,
            max_frames_per_second: 120,
            next_conn: AtomicU64::new(1),
            social,
        });
        Pair {
            ctx,
            ticker,
            start: Instant::now(),
            elapsed: Duration::ZERO,
            period,
            ticks: 0,
            _stop: stop.drop_guard(),
            journal,
            social_up,
        }
    }

    /// Where the test's clock is.
    pub fn now(&self) -> Instant {
        self.start + self.elapsed
    }

    /// A client of `player` handshakes (a `Hello` with a fresh ticket) and joins.
    pub async fn join(&mut self, player: u64) -> Peer {
        self.join_as(player, Role::Player).await
    }

    /// `player` joins with `saved`, as loaded from the database at `epoch`.
    pub async fn join_saved(&mut self, player: u64, saved: SavedPlayer, epoch: i64) -> Peer {
        let loaded = Some((Box::new(saved), epoch, format!("player-{player}")));
        let conn = self
            .ctx
            .next_conn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (id, tier, role) = (PlayerId(player), ClientTier::Desktop, Role::Player);
        let session = self
            .ctx
            .join_loaded(id, tier, role, conn, loaded)
            .await
            .expect("join");
        Peer::of(session)
    }

    /// [`Pair::join`] with a ticket for `role`.
    pub async fn join_as(&mut self, player: u64, role: Role) -> Peer {
        let ticket = TicketKey::new(DEV_TICKET_SECRET).mint(&TicketClaims {
            player_id: player,
            zone_id: self.ctx.zone_id.clone(),
            role,
            expires_unix: arcane_service::unix_ms() / 1000 + 60,
        });
        let hello = frame(&[ClientMessage::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            ticket,
            tier: ClientTier::Desktop,
        })]);
        let (id, tier, role) = self.ctx.check_hello(&hello).expect("hello");
        let session = self.ctx.join(id, tier, role).await.expect("join");
        Peer::of(session)
    }

    /// A frame from `peer` reaches the zone now.
    pub fn send(&self, peer: &mut Peer, messages: &[ClientMessage]) {
        let now = self.now();
        if let Err((reason, _)) = self
            .ctx
            .on_frame_at(&mut peer.session, &frame(messages), now)
        {
            peer.session.outbox.close(reason, "refused");
        }
    }

    /// Raw bytes from `peer` reach the zone now (malformed frames).
    pub fn send_raw(&self, peer: &mut Peer, bytes: &[u8]) {
        if let Err((reason, _)) = self.ctx.on_frame_at(&mut peer.session, bytes, self.now()) {
            peer.session.outbox.close(reason, "refused");
        }
    }

    /// One tick passes: the zone takes what came in and steps.
    pub fn tick(&mut self) {
        self.elapsed += self.period;
        self.ticks += 1;
        let host_us = self.ctx.status.host_us(self.now());
        assert!(self.ticker.take_inbox(), "the inbox closed");
        self.ticker.step(host_us);
    }

    /// What the zone sent `peer` since the last delivery reaches it, except a
    /// snapshot `lose` says is lost; its acks for what it decoded reach the zone
    /// `ack_delay` ticks later.
    pub fn deliver(&self, peer: &mut Peer, lose: impl FnOnce(u32) -> bool, ack_delay: u64) {
        let batch = peer.session.outbox.take();
        for bytes in batch.reliable {
            peer.received
                .push(decode_server_message(&bytes).expect("reliable frame"));
        }
        if let Some(bytes) = batch.snapshot {
            match decode_server_message(&bytes).expect("snapshot") {
                ServerMessage::Snapshot(s) if lose(s.id) => peer.lost += 1,
                ServerMessage::Snapshot(s) => {
                    peer.view
                        .apply(&s)
                        .expect("a snapshot against a baseline it has");
                    peer.acks.push_back((self.ticks + ack_delay, s.id));
                    peer.received.push(ServerMessage::Snapshot(s));
                }
                other => panic!("not a snapshot: {other:?}"),
            }
        }
        if let Some((reason, _)) = batch.close {
            peer.kicked = Some(reason);
        }
        // The acks whose time has come.
        while let Some(&(at, id)) = peer.acks.front() {
            if at > self.ticks {
                break;
            }
            peer.acks.pop_front();
            self.send(peer, &[ClientMessage::Ack { snapshot_id: id }]);
        }
    }

    /// The zone's counters now.
    pub fn counters(&mut self) -> arcane_engine::ZoneCounters {
        self.ticker.zone_mut().counters().clone()
    }

    /// The zone's state hash now.
    /// The state `player` would be saved with now, if it is in the zone.
    pub fn player_state(&mut self, player: u64) -> Option<SavedPlayer> {
        let states = self.ticker.zone_mut().player_states();
        states
            .into_iter()
            .find_map(|(p, s)| (p == PlayerId(player)).then_some(s))
    }

    pub fn state_hash(&mut self) -> u64 {
        self.ticker.zone_mut().state_hash()
    }

    /// The zone stops as a process does (saves everyone, ends the journal).
    pub fn finish(self) {
        self.ticker.finish();
        crate::journaling::end_parked(&self.journal);
    }

    /// The peer's connection ends: the player leaves the zone.
    pub async fn leave(&self, peer: &Peer) {
        self.ctx.leave(&peer.session).await;
    }
}

fn frame(messages: &[ClientMessage]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_client_frame(messages, &mut out).expect("a frame");
    out
}
