//! Where what comes in and what the zone puts out go: session messages become zone
//! commands (checked against the connection they came from), and each output goes to
//! its player's outbox, the persistence task, or back into the zone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arcane_control_api::{SocialDown, SocialUp};
use arcane_engine::common::io::ChatOut;
use arcane_engine::content::ZoneContent;
use arcane_engine::{PlayerId, ZoneCommand, ZoneOutput};
use arcane_protocol::codec::encode_server_message;
use arcane_protocol::saved::SavedPlayer;
use arcane_protocol::{EventKind, KickReason, ReliableEvent, ServerMessage};
use bytes::Bytes;

use crate::metrics::{Metrics, kick_label};
use crate::net::inbound::{ConnId, Inbound};
use crate::net::outbox::{Offer, Outbox, Reliable};
use crate::net::social::Social;
use crate::persist::{PersistHandle, PersistJob};

pub(super) struct Connection {
    conn: ConnId,
    pub(super) outbox: Arc<Outbox>,
}

/// What a player is sent at the end of the tick.
#[derive(Default)]
struct Pending {
    events: Vec<ReliableEvent>,
    /// Frames encoded once for many readers (chat lines).
    frames: Vec<Bytes>,
}

/// Connections by player, and the routing of zone outputs to their outboxes.
pub(super) struct Router {
    pub(super) sessions: HashMap<PlayerId, Connection>,
    /// Writers to wake at the end of this tick, handed to the dispatcher in one go.
    pub(super) to_wake: Vec<Arc<Outbox>>,
    pub(super) commands: Vec<ZoneCommand>,
    /// Content waiting for the tick boundary.
    pub(super) reload: Option<(Box<ZoneContent>, arcane_journal::ContentFiles)>,
    /// This tick's events per player, sent as one `Events` message each, and the
    /// broadcast frames it reads.
    pending: HashMap<PlayerId, Pending>,
    pub(super) metrics: Arc<Metrics>,
    scratch: Vec<u8>,
    /// Write-behind persistence and transfers (zones with a database).
    persist: Option<PersistHandle>,
    /// Each player loaded from the database: its ownership epoch, and the connection
    /// whose join loaded (and holds) it, whose logout save clears that hold.
    loaded: HashMap<PlayerId, Loaded>,
    /// The epochs of this tick's joins, for the journal (crash recovery saves a
    /// player under the epoch it was loaded with).
    pub(super) joined_epochs: Vec<(u64, i64)>,
    /// The state of each player who logged out of this process in the last
    /// [`LEFT_KEPT`], with its epoch: see [`Router::fresher`].
    left: HashMap<PlayerId, Left>,
    /// Set when a player joined or left this tick (the roster is republished).
    pub(super) roster_changed: bool,
    /// The social layer (`None`: a zone without one, as in some tests).
    pub(super) social: Option<Arc<Social>>,
    /// HP last reported to the party layer, and the class's maximum.
    reported_hp: HashMap<PlayerId, u32>,
    pub(super) max_hp: u32,
    /// The zone's tick now (stamped on events the social layer delivers).
    pub(super) tick: u32,
    /// The host clock at the last tick (µs; the tick's injected clock).
    pub(super) now_us: u64,
    /// Zone viewer requests, answered once this tick has run.
    pub(super) inspections: Vec<Inspection>,
}

/// How long the zone remembers the state a player logged out with. A session that
/// loaded the player before that logout's save was written joins well within it (the
/// save's retries end within seconds).
const LEFT_KEPT: Duration = Duration::from_secs(60);

/// A player loaded from the database: its ownership epoch and the connection whose
/// join holds it.
struct Loaded {
    epoch: i64,
    conn: ConnId,
}

/// A logged-out player's state as it left, its ownership epoch, and when it left
/// (host clock, µs).
struct Left {
    epoch: i64,
    state: Box<SavedPlayer>,
    at_us: u64,
}

impl Left {
    fn kept(&self, now_us: u64) -> bool {
        Duration::from_micros(now_us.saturating_sub(self.at_us)) < LEFT_KEPT
    }
}

/// A zone viewer's request: the player to focus on and where the answer goes.
pub(super) type Inspection = (
    Option<PlayerId>,
    tokio::sync::oneshot::Sender<Box<arcane_engine::viewer::WorldView>>,
);

impl Router {
    pub(super) fn new(metrics: Arc<Metrics>, persist: Option<PersistHandle>) -> Self {
        Router {
            sessions: HashMap::new(),
            to_wake: Vec::new(),
            commands: Vec::new(),
            reload: None,
            pending: HashMap::new(),
            metrics,
            scratch: Vec::new(),
            persist,
            loaded: HashMap::new(),
            joined_epochs: Vec::new(),
            left: HashMap::new(),
            roster_changed: false,
            social: None,
            reported_hp: HashMap::new(),
            max_hp: 0,
            tick: 0,
            now_us: 0,
            inspections: Vec::new(),
        }
    }

    /// The state a joining player starts from: what the session loaded from the
    /// database, unless the player logged out of this process lately under the same
    /// epoch. Its logout save is written behind, so the load may have read the
    /// checkpoint before it; the state it left with is then the newer one. (Nothing
    /// else writes a player's state while one zone owns it at one epoch.)
    fn fresher(
        &mut self,
        player: PlayerId,
        loaded: Box<SavedPlayer>,
        epoch: i64,
    ) -> Box<SavedPlayer> {
        match self.left.remove(&player) {
            Some(l) if l.epoch == epoch && l.kept(self.now_us) => {
                if *l.state != *loaded {
                    self.metrics.rejoins_before_save.inc();
                    tracing::info!(
                        player = player.0,
                        "joined before its logout save was read back; it keeps the state it left with"
                    );
                }
                l.state
            }
            _ => loaded,
        }
    }

    /// Whether `player` is not here, or is and hides chat `kind` (counted).
    fn skips(&self, player: PlayerId, kind: &EventKind) -> bool {
        if !self.sessions.contains_key(&player) {
            return true;
        }
        let hidden = matches!(kind, EventKind::Chat { from_id, .. }
            if self.social.as_ref().is_some_and(|s| s.hides(player.0, *from_id)));
        if hidden {
            self.metrics.chat_hidden.inc();
        }
        hidden
    }

    /// Queues an event for a connected player, unless it is chat the player hides.
    fn push_event(&mut self, player: PlayerId, event: ReliableEvent) {
        if !self.skips(player, &event.kind) {
            self.pending.entry(player).or_default().events.push(event);
        }
    }

    /// One event for many players, encoded once (a chat line): a frame of its own,
    /// sent with the reader's other events of the tick.
    fn broadcast(&mut self, players: &[PlayerId], event: ReliableEvent) {
        let readers: Vec<PlayerId> = players
            .iter()
            .copied()
            .filter(|&p| !self.skips(p, &event.kind))
            .collect();
        if readers.is_empty() {
            return;
        }
        let Some(bytes) = encode(&mut self.scratch, &ServerMessage::Events(vec![event])) else {
            return;
        };
        for p in readers {
            self.pending
                .entry(p)
                .or_default()
                .frames
                .push(bytes.clone());
        }
    }

    /// What the social layer left to the tick: moderator kicks and mute notices (the
    /// link applies the rest itself, `Social::apply`).
    fn social_down(&mut self, down: SocialDown, tick: u32) {
        match down {
            SocialDown::Deliver { .. } | SocialDown::Hidden { .. } => {
                if let Some(social) = &self.social {
                    social.apply(down);
                }
            }
            SocialDown::Muted {
                player,
                until_ms,
                reason,
            } => {
                let text = if until_ms == 0 {
                    "a moderator lifted your chat mute".to_string()
                } else {
                    format!("a moderator muted your chat: {reason}")
                };
                self.push_event(
                    PlayerId(player),
                    ReliableEvent {
                        tick,
                        kind: EventKind::Notice { text },
                    },
                );
            }
            SocialDown::Kick { player, reason } => {
                // Saved like any logout once the session's leave comes in.
                if let Some(c) = self.sessions.get(&PlayerId(player)) {
                    tracing::info!(player, "kicked by a moderator: {reason}");
                    if c.outbox.close(KickReason::Moderator, &reason) {
                        self.metrics.kick(KickReason::Moderator);
                    }
                }
            }
        }
    }

    /// An accepted chat message: counted, audited when the filter masked words, and
    /// handed to the social link when it leaves the zone.
    fn chat(&mut self, c: ChatOut, tick: u32) {
        let Some(social) = &self.social else {
            self.metrics.chat(c.channel.as_str());
            return;
        };
        let line = crate::net::social::Accepted {
            player: c.player.0,
            name: c.name,
            channel: c.channel,
            text: c.text,
            filtered: c.filtered,
        };
        if let Some(kind) = social.accepted(line) {
            self.push_event(c.player, ReliableEvent { tick, kind });
        }
    }

    /// Reports the HP of players whose HP changed since the last checkpoint, for
    /// their party's view.
    fn report_vitals(&mut self, states: &[(PlayerId, arcane_protocol::saved::SavedPlayer)]) {
        let Some(social) = &self.social else { return };
        let mut changed = Vec::new();
        for (player, s) in states {
            if self.reported_hp.insert(*player, s.hp) != Some(s.hp) {
                changed.push((player.0, s.hp, self.max_hp));
            }
        }
        self.reported_hp
            .retain(|p, _| self.sessions.contains_key(p));
        if !changed.is_empty() {
            social.send(SocialUp::Vitals { players: changed });
        }
    }

    /// Closes a player's connection with `reason` and removes them from the zone.
    fn drop_player(&mut self, player: PlayerId, reason: KickReason, detail: &str) {
        if let Some(c) = self.sessions.remove(&player) {
            if c.outbox.close(reason, detail) {
                self.metrics.kick(reason);
            }
            self.roster_changed = true;
        }
        self.commands.push(ZoneCommand::Leave { player });
    }

    pub(super) fn handle(&mut self, msg: Inbound) {
        match msg {
            Inbound::Join {
                player,
                tier,
                role,
                conn,
                outbox,
                saved,
            } => {
                if let Some(old) = self.sessions.insert(player, Connection { conn, outbox })
                    && old.outbox.close(
                        KickReason::DuplicateLogin,
                        "this player connected again from elsewhere",
                    )
                {
                    self.metrics.kick(KickReason::DuplicateLogin);
                }
                self.roster_changed = true;
                // Its leave this tick has not run yet: the player is still here, and
                // this is a reconnect (its state here is newer than what was loaded).
                self.commands
                    .retain(|c| !matches!(c, ZoneCommand::Leave { player: p } if *p == player));
                let saved = saved.map(|(state, epoch)| {
                    let state = self.fresher(player, state, epoch);
                    self.loaded.insert(player, Loaded { epoch, conn });
                    self.joined_epochs.push((player.0, epoch));
                    state
                });
                self.commands.push(ZoneCommand::Join {
                    player,
                    tier,
                    role,
                    saved,
                });
            }
            Inbound::Evacuate(to) => self.commands.push(ZoneCommand::Evacuate { to }),
            Inbound::Leave { player, conn } => {
                if self.sessions.get(&player).is_some_and(|c| c.conn == conn) {
                    self.sessions.remove(&player);
                    self.roster_changed = true;
                    self.commands.push(ZoneCommand::Leave { player });
                }
            }
            Inbound::Redirect { player, redirect } => {
                let zone = redirect.zone_id.clone();
                if let Some(b) = encode(&mut self.scratch, &ServerMessage::Redirect(redirect))
                    && let Some(c) = self.sessions.get(&player)
                    && c.outbox.push_reliable(b) == Reliable::TooSlow
                {
                    self.metrics.kick(KickReason::SlowClient);
                }
                self.loaded.remove(&player);
                self.drop_player(player, KickReason::Redirected, &format!("moved to {zone}"));
            }
            Inbound::TransferFailed { player, detail } => {
                // A player that left while frozen was not saved (the handoff held its
                // state, and the abort wrote that back): its join's hold goes now.
                if !self.sessions.contains_key(&player)
                    && let (Some(p), Some(l)) = (&self.persist, self.loaded.remove(&player))
                {
                    p.send(PersistJob::Release(player.0, l.conn));
                }
                self.commands
                    .push(ZoneCommand::TransferFailed { player, detail });
            }
            Inbound::OwnershipLost { player } => {
                // Forget the epoch first: the Leave's final save must not be tried.
                self.loaded.remove(&player);
                self.drop_player(
                    player,
                    KickReason::NotOwner,
                    "another zone owns this player now; log in again",
                );
            }
            Inbound::Play {
                player,
                conn,
                command,
            } => {
                if self.sessions.get(&player).is_some_and(|c| c.conn == conn) {
                    self.commands.push(command);
                }
            }
            Inbound::Reload(content, files) => self.reload = Some((content, files)),
            Inbound::Social(down) => self.social_down(*down, self.tick),
            Inbound::Inspect { focus, reply } => self.inspections.push((focus, reply)),
        }
    }

    /// Sends each player this tick's broadcast frames, then its other events as one
    /// message, and wakes its writer once. The per-player buffers are kept for the
    /// next tick while the player is connected.
    pub(super) fn flush_events(&mut self) {
        let Router {
            pending,
            sessions,
            to_wake,
            metrics,
            scratch,
            ..
        } = self;
        pending.retain(|player, p| {
            let Some(c) = sessions.get(player) else {
                return false;
            };
            if p.events.is_empty() && p.frames.is_empty() {
                return true;
            }
            let mut frames = std::mem::take(&mut p.frames);
            if !p.events.is_empty() {
                let msg = ServerMessage::Events(std::mem::take(&mut p.events));
                frames.extend(encode(scratch, &msg));
                if let ServerMessage::Events(mut buffer) = msg {
                    buffer.clear();
                    p.events = buffer;
                }
            }
            let mut queued = false;
            for b in frames.drain(..) {
                match c.outbox.enqueue_reliable(b) {
                    Reliable::Queued => queued = true,
                    Reliable::TooSlow => {
                        metrics.kick(KickReason::SlowClient);
                        break;
                    }
                    Reliable::Closing => break,
                }
            }
            p.frames = frames;
            if queued && !c.outbox.is_polled() {
                to_wake.push(c.outbox.clone());
            }
            true
        });
    }

    pub(super) fn route(&mut self, out: ZoneOutput) {
        match out {
            ZoneOutput::Snapshot { player, bytes } => {
                let Some(c) = self.sessions.get(&player) else {
                    return;
                };
                match c.outbox.offer_snapshot(bytes) {
                    // The tick thread's poller writes its connections itself.
                    Offer::Queued if c.outbox.is_polled() => {}
                    Offer::Queued => self.to_wake.push(c.outbox.clone()),
                    Offer::Replaced => {
                        self.metrics.outbox_drops.inc();
                    }
                    Offer::TooSlow => {
                        self.metrics.outbox_drops.inc();
                        self.metrics.kick(KickReason::SlowClient);
                    }
                }
            }
            ZoneOutput::Welcome { player, welcome } => {
                if let Some(b) = encode(&mut self.scratch, &ServerMessage::Welcome(*welcome))
                    && let Some(c) = self.sessions.get(&player)
                    && c.outbox.push_reliable(b) == Reliable::TooSlow
                {
                    self.metrics.kick(KickReason::SlowClient);
                }
                // Social news that came before the welcome follows it.
                if let Some(social) = &self.social {
                    social.welcomed(player.0);
                }
            }
            ZoneOutput::Event { player, event } => self.push_event(player, event),
            ZoneOutput::Broadcast { players, event } => self.broadcast(&players, event),
            ZoneOutput::Chat(c) => self.chat(*c, self.tick),
            ZoneOutput::Kick {
                player,
                reason,
                detail,
            } => {
                tracing::info!(player = player.0, reason = kick_label(reason), "{detail}");
                if let Some(c) = self.sessions.remove(&player) {
                    if c.outbox.close(reason, detail) {
                        self.metrics.kick(reason);
                    }
                    self.roster_changed = true;
                }
                // The player has no entity any more: a violation kick came just after
                // the `Logout` that saved it (routed while its epoch was still known;
                // none for a player being handed over), and a `ZoneFull` kick never
                // had one.
                self.loaded.remove(&player);
            }
            ZoneOutput::Disconnect {
                player,
                reason,
                detail,
            } => {
                // The player stays in the zone until its session's leave, which saves
                // it like any logout.
                if let Some(c) = self.sessions.get(&player) {
                    tracing::info!(player = player.0, reason = kick_label(reason), "{detail}");
                    if c.outbox.close(reason, detail) {
                        self.metrics.kick(reason);
                    }
                }
            }
            ZoneOutput::Checkpoint(states) => {
                self.report_vitals(&states);
                let Some(p) = &self.persist else { return };
                let batch: Vec<_> = states
                    .into_iter()
                    .filter_map(|(player, s)| Some((player.0, self.loaded.get(&player)?.epoch, s)))
                    .collect();
                if !batch.is_empty() && !p.checkpoint(batch) {
                    self.metrics.checkpoints_skipped.inc();
                }
            }
            ZoneOutput::Logout { player, state } => {
                if let (Some(p), Some(Loaded { epoch, conn })) =
                    (&self.persist, self.loaded.remove(&player))
                {
                    let now_us = self.now_us;
                    if self.left.len() % 64 == 63 {
                        self.left.retain(|_, l| l.kept(now_us));
                    }
                    let left = Left {
                        epoch,
                        state: Box::new(state.clone()),
                        at_us: now_us,
                    };
                    self.left.insert(player, left);
                    p.send(PersistJob::Logout(player.0, epoch, state, conn));
                }
            }
            ZoneOutput::Transfer { player, to, state } => {
                let job = match (&self.persist, self.loaded.get(&player)) {
                    (Some(p), Some(l)) => Some((p, l.epoch)),
                    _ => None,
                };
                let sent = job.is_some_and(|(p, epoch)| {
                    p.send(PersistJob::Transfer {
                        player: player.0,
                        epoch,
                        to,
                        state,
                    })
                });
                if !sent {
                    self.commands.push(ZoneCommand::TransferFailed {
                        player,
                        detail: "this zone runs without persistence".into(),
                    });
                }
            }
        }
    }
}

/// Encodes one reliable message (through the router's reusable scratch buffer).
fn encode(scratch: &mut Vec<u8>, msg: &ServerMessage) -> Option<Bytes> {
    scratch.clear();
    match encode_server_message(msg, scratch) {
        Ok(()) => Some(Bytes::copy_from_slice(scratch)),
        Err(e) => {
            tracing::error!("cannot encode server message: {e}");
            None
        }
    }
}
