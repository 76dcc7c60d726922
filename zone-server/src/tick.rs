//! The tick thread: owns the `Zone`, drains the bounded inbox, steps at a fixed rate and
//! hands each connection its outputs. It never awaits and never blocks on I/O.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arcane_engine::content::ZoneContent;
use arcane_engine::{PlayerId, Zone, ZoneCommand, ZoneOutput};
use arcane_protocol::codec::encode_server_message;
use arcane_protocol::saved::SavedPlayer;
use arcane_protocol::ticket::Role;
use arcane_protocol::{ClientTier, KickReason, Redirect, ReliableEvent, ServerMessage};
use bytes::Bytes;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, watch};

use crate::metrics::Metrics;
use crate::outbox::{Dispatcher, Offer, Outbox};
use crate::persist::{PersistHandle, PersistJob};

/// Most session messages applied in one tick (about four per player at capacity).
pub const MAX_INBOUND_PER_TICK: usize = 16 * 1024;

/// Connection identity: a player may reconnect, and stale messages of the old
/// connection must not touch the new one.
pub type ConnId = u64;

/// Messages from sessions to the tick thread.
pub enum Inbound {
    Join {
        player: PlayerId,
        tier: ClientTier,
        role: Role,
        conn: ConnId,
        outbox: Arc<Outbox>,
        /// The saved state and the ownership epoch it was loaded at (zones with
        /// persistence); `None` spawns a fresh player.
        saved: Option<(Box<SavedPlayer>, i64)>,
    },
    Leave {
        player: PlayerId,
        conn: ConnId,
    },
    /// A gameplay command (input, ack, cast, respawn, admin) from `conn`.
    Play {
        player: PlayerId,
        conn: ConnId,
        command: ZoneCommand,
    },
    /// New, already validated content, applied before the next tick.
    Reload(Box<ZoneContent>),
    /// A transfer committed: send the client on, then remove the player.
    Redirect {
        player: PlayerId,
        redirect: Redirect,
    },
    /// A transfer was aborted and this zone still owns the player: unfreeze it.
    TransferFailed {
        player: PlayerId,
        detail: String,
    },
    /// This zone does not own the player any more: disconnect it without saving.
    OwnershipLost {
        player: PlayerId,
    },
    /// The zone is draining: hand every player to `to` (another copy of this map).
    Evacuate(arcane_engine::content::ExitTarget),
}

/// State the tick thread publishes to the rest of the process.
#[derive(Default)]
pub struct TickShared {
    pub tick: AtomicU64,
    /// Milliseconds since the tick thread started, at the end of the last tick; the
    /// health check compares it with the clock.
    pub last_tick_at_ms: AtomicU64,
    pub started: std::sync::OnceLock<Instant>,
    pub shutdown: AtomicBool,
    pub running: AtomicBool,
    /// Players in the zone after the last tick.
    pub players: AtomicU64,
    /// Longest tick (µs) since the control-plane heartbeat last took it.
    pub slowest_tick_us: AtomicU64,
    /// Ids of the connected players (`GET /players` on the admin port).
    pub roster: std::sync::Mutex<Vec<u64>>,
    /// Set at the start of a drain: no new players, `/readyz` false.
    pub draining: AtomicBool,
    /// The orchestrator has this zone in its registry (always true without one).
    pub registered: AtomicBool,
}

impl TickShared {
    /// `at` on the zone's host clock (µs since the tick thread started): what stamps
    /// inputs and tick starts, so snapshots can report how long inputs waited.
    pub fn host_us(&self, at: Instant) -> u64 {
        let start = *self.started.get_or_init(Instant::now);
        u64::try_from(at.saturating_duration_since(start).as_micros()).unwrap_or(u64::MAX)
    }

    /// True while the tick thread has completed a tick within `within`.
    pub fn is_healthy(&self, within: Duration) -> bool {
        let Some(start) = self.started.get() else {
            return false;
        };
        let now = start.elapsed().as_millis() as u64;
        self.running.load(Ordering::Relaxed)
            && now.saturating_sub(self.last_tick_at_ms.load(Ordering::Relaxed))
                <= within.as_millis() as u64
    }
}

struct Connection {
    conn: ConnId,
    outbox: Arc<Outbox>,
}

/// Connections by player, and the routing of zone outputs to their outboxes.
struct Router {
    sessions: HashMap<PlayerId, Connection>,
    /// Writers to wake at the end of this tick, handed to the dispatcher in one go.
    to_wake: Vec<Arc<Outbox>>,
    commands: Vec<ZoneCommand>,
    /// Content waiting for the tick boundary.
    reload: Option<Box<ZoneContent>>,
    /// This tick's events per player, sent as one `Events` message each.
    events: HashMap<PlayerId, Vec<ReliableEvent>>,
    metrics: Arc<Metrics>,
    scratch: Vec<u8>,
    /// Write-behind persistence and transfers (zones with a database).
    persist: Option<PersistHandle>,
    /// The ownership epoch of each player loaded from the database.
    epochs: HashMap<PlayerId, i64>,
    /// Set when a player joined or left this tick (the roster is republished).
    roster_changed: bool,
}

impl Router {
    /// Closes a player's connection with `reason` and removes them from the zone.
    fn drop_player(&mut self, player: PlayerId, reason: KickReason, detail: &str) {
        if let Some(c) = self.sessions.remove(&player) {
            c.outbox.close(reason, detail);
            self.metrics.kick(reason);
            self.roster_changed = true;
        }
        self.commands.push(ZoneCommand::Leave { player });
    }

    fn handle(&mut self, msg: Inbound) {
        match msg {
            Inbound::Join {
                player,
                tier,
                role,
                conn,
                outbox,
                saved,
            } => {
                if let Some(old) = self.sessions.insert(player, Connection { conn, outbox }) {
                    old.outbox.close(
                        KickReason::DuplicateLogin,
                        "this player connected again from elsewhere",
                    );
                    self.metrics.kick(KickReason::DuplicateLogin);
                }
                self.roster_changed = true;
                let saved = saved.map(|(state, epoch)| {
                    self.epochs.insert(player, epoch);
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
                {
                    c.outbox.push_reliable(b);
                }
                self.epochs.remove(&player);
                self.drop_player(player, KickReason::Redirected, &format!("moved to {zone}"));
            }
            Inbound::TransferFailed { player, detail } => {
                self.commands
                    .push(ZoneCommand::TransferFailed { player, detail });
            }
            Inbound::OwnershipLost { player } => {
                // Forget the epoch first: the Leave's final save must not be tried.
                self.epochs.remove(&player);
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
            Inbound::Reload(content) => self.reload = Some(content),
        }
    }

    /// Sends each player this tick's events as one message.
    /// Sends each player this tick's events as one message. The per-player buffers
    /// are kept for the next tick while the player is connected.
    fn flush_events(&mut self) {
        let Router {
            events,
            sessions,
            to_wake,
            metrics,
            scratch,
            ..
        } = self;
        events.retain(|player, list| {
            let Some(c) = sessions.get(player) else {
                return false;
            };
            if list.is_empty() {
                return true;
            }
            let msg = ServerMessage::Events(std::mem::take(list));
            let bytes = encode(scratch, &msg);
            if let ServerMessage::Events(mut buffer) = msg {
                buffer.clear();
                *list = buffer;
            }
            if let Some(b) = bytes {
                if c.outbox.enqueue_reliable(b) {
                    to_wake.push(c.outbox.clone());
                } else {
                    metrics.kick(KickReason::SlowClient);
                }
            }
            true
        });
    }

    fn route(&mut self, out: ZoneOutput) {
        match out {
            ZoneOutput::Snapshot { player, bytes } => {
                let Some(c) = self.sessions.get(&player) else {
                    return;
                };
                match c.outbox.offer_snapshot(bytes) {
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
                if let Some(b) = encode(&mut self.scratch, &ServerMessage::Welcome(welcome))
                    && let Some(c) = self.sessions.get(&player)
                {
                    c.outbox.push_reliable(b);
                }
            }
            ZoneOutput::Event { player, event } => {
                if self.sessions.contains_key(&player) {
                    self.events.entry(player).or_default().push(event);
                }
            }
            ZoneOutput::Kick {
                player,
                reason,
                detail,
            } => {
                tracing::info!(
                    player = player.0,
                    reason = crate::metrics::kick_label(reason),
                    "{detail}"
                );
                if let Some(c) = self.sessions.remove(&player) {
                    c.outbox.close(reason, detail);
                    self.roster_changed = true;
                }
                // The player has no entity any more: a violation kick came just after
                // the `Logout` that saved it (routed while its epoch was still known;
                // none for a player being handed over), and a `ZoneFull` kick never
                // had one.
                self.epochs.remove(&player);
                self.metrics.kick(reason);
            }
            ZoneOutput::Disconnect {
                player,
                reason,
                detail,
            } => {
                // The player stays in the zone until its session's leave, which saves
                // it like any logout.
                if let Some(c) = self.sessions.get(&player) {
                    tracing::info!(
                        player = player.0,
                        reason = crate::metrics::kick_label(reason),
                        "{detail}"
                    );
                    c.outbox.close(reason, detail);
                    self.metrics.kick(reason);
                }
            }
            ZoneOutput::Checkpoint(states) => {
                let Some(p) = &self.persist else { return };
                let batch: Vec<_> = states
                    .into_iter()
                    .filter_map(|(player, s)| Some((player.0, *self.epochs.get(&player)?, s)))
                    .collect();
                if !batch.is_empty() && !p.checkpoint(batch) {
                    self.metrics.checkpoints_skipped.inc();
                }
            }
            ZoneOutput::Logout { player, state } => {
                if let (Some(p), Some(epoch)) = (&self.persist, self.epochs.remove(&player)) {
                    p.send(PersistJob::Logout(player.0, epoch, state));
                }
            }
            ZoneOutput::Transfer { player, to, state } => {
                let job = match (&self.persist, self.epochs.get(&player)) {
                    (Some(p), Some(&epoch)) => Some((p, epoch)),
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

/// Marks the tick thread stopped when dropped, which also happens when it panics, so
/// the process can notice and exit instead of serving clients a frozen zone.
struct StopGuard {
    shared: Arc<TickShared>,
    stopped: watch::Sender<bool>,
}

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.shared.running.store(false, Ordering::Relaxed);
        let _ = self.stopped.send(true);
    }
}

/// Starts the tick thread. It runs until `shared.shutdown` is set or every sender of
/// `inbox` is gone, then closes all connections with `ServerShutdown`. `stopped`
/// turns true when the thread ends for any reason, panics included.
pub fn spawn(
    zone: Zone,
    mut inbox: mpsc::Receiver<Inbound>,
    metrics: Arc<Metrics>,
    shared: Arc<TickShared>,
    stopped: watch::Sender<bool>,
    dispatcher: Arc<Dispatcher>,
    persist: Option<PersistHandle>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let zone_id = zone.settings().zone.id.clone();
    std::thread::Builder::new()
        .name(format!("tick-{zone_id}"))
        .spawn(move || {
            let rate = f64::from(zone.settings().netcode.tick_rate_hz.max(1));
            let period = Duration::from_secs_f64(1.0 / rate);
            let started = *shared.started.get_or_init(Instant::now);
            shared.running.store(true, Ordering::Relaxed);
            let _guard = StopGuard {
                shared: shared.clone(),
                stopped,
            };
            let mut zone = zone;
            let mut tl = Router {
                sessions: HashMap::new(),
                to_wake: Vec::new(),
                commands: Vec::new(),
                reload: None,
                events: HashMap::new(),
                metrics,
                scratch: Vec::new(),
                persist,
                epochs: HashMap::new(),
                roster_changed: false,
            };
            tl.metrics
                .set_content_version(&zone.content_version().to_string());
            let mut next = Instant::now();
            let mut last_counters = arcane_engine::ZoneCounters::default();
            let _span = tracing::info_span!("tick", zone = %zone_id).entered();
            loop {
                // The tick's start for input waits: what is in the inbox now is in
                // time for this tick; what arrives from here on waits for the next.
                let tick_host_us = shared.host_us(Instant::now());
                let mut closed = shared.shutdown.load(Ordering::Relaxed);
                // Bounded: sessions refilling the channel while we drain cannot hold
                // the tick back; what is left waits for the next tick.
                for _ in 0..MAX_INBOUND_PER_TICK {
                    match inbox.try_recv() {
                        Ok(m) => tl.handle(m),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => {
                            closed = true;
                            break;
                        }
                    }
                }
                if closed {
                    break;
                }
                if let Some(content) = tl.reload.take() {
                    let version = content.version;
                    match zone.reload(*content) {
                        Ok(()) => {
                            tl.metrics.content_reload("applied");
                            tl.metrics.set_content_version(&version.to_string());
                            tracing::info!(%version, tick = zone.tick(), "content reloaded");
                        }
                        Err(e) => {
                            tl.metrics.content_reload("rejected");
                            tracing::warn!("content reload refused: {e}");
                        }
                    }
                }
                let t0 = Instant::now();
                zone.step_at(tl.commands.drain(..), tick_host_us);
                for out in zone.drain_outputs() {
                    tl.route(out);
                }
                tl.flush_events();
                dispatcher.submit(&mut tl.to_wake);
                if std::mem::take(&mut tl.roster_changed) {
                    let mut ids: Vec<u64> = tl.sessions.keys().map(|p| p.0).collect();
                    ids.sort_unstable();
                    *shared.roster.lock().unwrap_or_else(|e| e.into_inner()) = ids;
                }
                let elapsed = t0.elapsed();
                let tick = zone.tick();
                shared.tick.store(tick, Ordering::Relaxed);
                shared
                    .last_tick_at_ms
                    .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                let m = &tl.metrics;
                m.ticks.inc();
                m.tick_duration.observe(elapsed.as_secs_f64());
                shared
                    .slowest_tick_us
                    .fetch_max(elapsed.as_micros() as u64, Ordering::Relaxed);
                shared
                    .players
                    .store(zone.player_count() as u64, Ordering::Relaxed);
                m.players.set(zone.player_count() as i64);
                m.entities.set(zone.entity_count() as i64);
                m.observe_engine(&last_counters, zone.counters());
                last_counters.clone_from(zone.counters());
                if elapsed > period {
                    m.tick_overruns.inc();
                    tracing::warn!(
                        tick,
                        took_ms = elapsed.as_secs_f64() * 1e3,
                        "tick over budget"
                    );
                }
                next += period;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else if now - next > period {
                    // Fell more than a tick behind: resynchronise instead of bursting.
                    next = now;
                }
            }
            // Everyone still here is saved as a logout before the connections close.
            let leaving: Vec<PlayerId> = tl.sessions.keys().copied().collect();
            zone.step(
                leaving
                    .into_iter()
                    .map(|player| ZoneCommand::Leave { player }),
            );
            for out in zone.drain_outputs() {
                if matches!(out, ZoneOutput::Logout { .. }) {
                    tl.route(out);
                }
            }
            for (_, c) in tl.sessions.drain() {
                c.outbox
                    .close(KickReason::ServerShutdown, "the zone is shutting down");
            }
            tracing::info!("tick thread stopped");
        })
}
