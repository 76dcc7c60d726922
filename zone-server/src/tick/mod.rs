//! The tick: [`Ticker`] is one zone's work per tick with no thread and no clock (the
//! host time comes in as an argument), and [`spawn`] runs it on its own thread at the
//! zone's rate. The thread never awaits and never blocks on I/O: it reads a bounded
//! channel with `try_recv` and writes to outboxes that never grow.

pub mod dilation;
mod router;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arcane_engine::{PlayerId, Zone, ZoneCommand, ZoneCounters, ZoneOutput};
use arcane_journal::Journal;
use arcane_protocol::KickReason;
use arcane_protocol::saved::SavedPlayer;
use arcane_service::CancellationToken;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;

use crate::journaling::{JournalSlot, TickJournal};
use crate::metrics::Metrics;
use crate::net::inbound::Inbound;
use crate::net::outbox::Dispatcher;
use crate::net::ws::poller::Poller;
use crate::persist::PersistHandle;
use crate::status::TickStatus;
use router::Router;

/// Most session messages applied in one tick (about four per player at capacity).
pub const MAX_INBOUND_PER_TICK: usize = 16 * 1024;

/// A gap of this many tick periods between two ticks is a stall (the process was
/// stopped, or starved of CPU), not a slow tick.
pub const STALL_TICKS: u32 = 10;

/// One zone's tick work: the zone, what comes in, and where its outputs go.
pub struct Ticker {
    zone: Zone,
    router: Router,
    inbox: mpsc::Receiver<Inbound>,
    status: Arc<TickStatus>,
    dispatcher: Arc<Dispatcher>,
    last_counters: ZoneCounters,
    journal: TickJournal,
    dilation: dilation::Dilation,
    /// Busy work added to each tick (`--extra-tick-work`).
    extra_work: Duration,
    /// Plain-TCP WebSocket connections the tick thread reads before each tick and
    /// writes after it.
    poller: Option<Poller>,
}

impl Ticker {
    pub fn new(
        zone: Zone,
        inbox: mpsc::Receiver<Inbound>,
        metrics: Arc<Metrics>,
        status: Arc<TickStatus>,
        dispatcher: Arc<Dispatcher>,
        persist: Option<PersistHandle>,
    ) -> Self {
        metrics.set_content_version(&zone.content_version().to_string());
        let period = period_of(&zone);
        Ticker {
            zone,
            router: Router::new(metrics, persist),
            inbox,
            status,
            dispatcher,
            last_counters: ZoneCounters::default(),
            journal: TickJournal::new(None, 0),
            dilation: dilation::Dilation::new(period),
            extra_work: Duration::ZERO,
            poller: None,
        }
    }

    /// Serves `poller`'s connections from the tick thread ([`spawn`]).
    pub fn set_poller(&mut self, poller: Poller) {
        self.poller = Some(poller);
    }

    /// Connects the tick to the social layer: chat leaving the zone, vitals for
    /// parties, what the orchestrator sends for players here.
    pub fn set_social(&mut self, social: Arc<crate::net::social::Social>) {
        self.router.max_hp = self.zone.settings().player_class().map_or(0, |c| c.max_hp);
        self.router.social = Some(social);
    }

    /// Journals every tick into `journal` (when given) and digests the state every
    /// `hash_every` ticks (0: only when the journal wants it). The journal is left in
    /// the returned slot when the tick stops, for the owner to end once the last
    /// saves are written ([`crate::journaling::end_parked`]).
    pub fn set_journal(&mut self, journal: Option<Journal>, hash_every: u32) -> JournalSlot {
        self.journal = TickJournal::new(journal, hash_every);
        self.journal.slot()
    }

    /// Takes what the inbox holds now (bounded: sessions refilling it cannot hold the
    /// tick back; the rest waits for the next tick). False once every sender is gone.
    pub fn take_inbox(&mut self) -> bool {
        for _ in 0..MAX_INBOUND_PER_TICK {
            match self.inbox.try_recv() {
                Ok(m) => self.router.handle(m),
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
        true
    }

    /// Runs one tick at `host_us` (the host's clock, µs: what input waits are measured
    /// against): applies content waiting for the boundary, steps the zone, routes its
    /// outputs and hands the tick's writer wakes over. Returns how long the step took.
    pub fn step(&mut self, host_us: u64) -> Duration {
        if let Some((content, files)) = self.router.reload.take() {
            let m = &self.router.metrics;
            let version = content.version;
            let chat = content.chat.clone();
            match self.zone.reload(*content) {
                Ok(()) => {
                    if let Some(s) = &self.router.social {
                        s.set_content(&chat);
                    }
                    self.journal.reload(self.zone.tick(), files);
                    m.content_reload("applied");
                    m.set_content_version(&version.to_string());
                    tracing::info!(%version, tick = self.zone.tick(), "content reloaded");
                }
                Err(e) => {
                    m.content_reload("rejected");
                    tracing::warn!("content reload refused: {e}");
                }
            }
        }
        let t0 = Instant::now();
        let tick = self.zone.tick();
        self.router.tick = tick as u32;
        self.router.now_us = host_us;
        self.journal.tick(
            tick,
            host_us,
            &self.router.commands,
            &mut self.router.joined_epochs,
        );
        self.zone.step_at(self.router.commands.drain(..), host_us);
        // Nothing of this tick leaves before its journal record is written; when it
        // is late, the events wait for a later tick's (records are written in order).
        let journaled = self.journal.written(tick, &self.router.metrics);
        for out in self.zone.drain_outputs() {
            self.router.route(out);
        }
        self.journal.digest(&mut self.zone, &self.router.metrics);
        if journaled {
            self.router.flush_events();
        }
        self.dispatcher.submit(&mut self.router.to_wake);
        for (focus, reply) in self.router.inspections.drain(..) {
            let view = arcane_engine::viewer::world_view(self.zone.world_mut(), tick, focus);
            // The asker may have given up waiting.
            let _ = reply.send(Box::new(view));
        }
        if std::mem::take(&mut self.router.roster_changed) {
            let mut ids: Vec<u64> = self.router.sessions.keys().map(|p| p.0).collect();
            ids.sort_unstable();
            *self.status.roster.lock().unwrap_or_else(|e| e.into_inner()) = ids;
        }
        // Rehearsed overload: real CPU work, as a heavier simulation would take.
        while t0.elapsed() < self.extra_work {
            std::hint::spin_loop();
        }
        let elapsed = t0.elapsed();
        self.publish(elapsed);
        elapsed
    }

    /// Adds `work` of busy CPU time to every tick (`--extra-tick-work`).
    pub fn set_extra_work(&mut self, work: Duration) {
        self.extra_work = work;
    }

    /// What the rest of the process sees of the tick that just ran.
    fn publish(&mut self, elapsed: Duration) {
        let (zone, status, m) = (&self.zone, &self.status, &self.router.metrics);
        status.tick.store(zone.tick(), Ordering::Relaxed);
        if let Some(started) = status.started.get() {
            status
                .last_tick_at_ms
                .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        }
        m.ticks.inc();
        m.tick_duration.observe(elapsed.as_secs_f64());
        status
            .slowest_tick_us
            .fetch_max(elapsed.as_micros() as u64, Ordering::Relaxed);
        status
            .players
            .store(zone.player_count() as u64, Ordering::Relaxed);
        m.players.set(zone.player_count() as i64);
        m.entities.set(zone.entity_count() as i64);
        m.observe_engine(&self.last_counters, zone.counters());
        self.last_counters.clone_from(zone.counters());
        if zone.tick().is_multiple_of(20) {
            m.set_creature_population(&zone.creature_population());
            self.journal.publish(m);
        }
    }

    /// The zone stops: everyone still here is saved as a logout, then their
    /// connections close with `ServerShutdown`. A player frozen in a transfer that
    /// has not gone through (the orchestrator may be unreachable) is saved too, as it
    /// stands here: if the transfer commits later the database refuses this save (the
    /// epoch moved on), and if it is aborted the player's captures and items since the
    /// last checkpoint are not lost with this process.
    pub fn finish(mut self) {
        let mut leaving: Vec<PlayerId> = self.router.sessions.keys().copied().collect();
        leaving.sort_unstable();
        let mut states: HashMap<PlayerId, SavedPlayer> = self
            .zone
            .player_states()
            .into_iter()
            .filter(|(p, _)| leaving.binary_search(p).is_ok())
            .collect();
        let leaving: Vec<ZoneCommand> = leaving
            .into_iter()
            .map(|player| ZoneCommand::Leave { player })
            .collect();
        let tick = self.zone.tick();
        self.journal
            .tick(tick, 0, &leaving, &mut self.router.joined_epochs);
        self.zone.step(leaving);
        self.journal.written(tick, &self.router.metrics);
        self.journal.digest(&mut self.zone, &self.router.metrics);
        self.journal.publish(&self.router.metrics);
        self.journal.park(self.zone.tick());
        for out in self.zone.drain_outputs() {
            if let ZoneOutput::Logout { player, .. } = &out {
                states.remove(player);
                self.router.route(out);
            }
        }
        let mut frozen: Vec<(PlayerId, SavedPlayer)> = states.into_iter().collect();
        frozen.sort_unstable_by_key(|(p, _)| *p);
        for (player, state) in frozen {
            self.router.route(ZoneOutput::Logout { player, state });
        }
        for (_, c) in self.router.sessions.drain() {
            c.outbox
                .close(KickReason::ServerShutdown, "the zone is shutting down");
        }
    }

    /// The tick thread missed `missed_ticks` ticks (the process was stopped or starved):
    /// the zone is told before the backlog of inputs is applied, so clients whose inputs
    /// queued up meanwhile are not taken for flooders.
    pub fn resumed(&mut self, missed_ticks: u32) {
        self.router.metrics.stalls.inc();
        tracing::warn!(missed_ticks, "tick thread resumed after a stall");
        self.router
            .commands
            .push(ZoneCommand::Resumed { missed_ticks });
    }

    /// The zone itself (tests).
    #[cfg(test)]
    pub(crate) fn zone_mut(&mut self) -> &mut Zone {
        &mut self.zone
    }

    /// Feeds time dilation with the work of the tick that just ran (see
    /// [`dilation`]); returns the real time from that tick's start to the next one's.
    /// While the zone dilates, snapshots carry its rate and the zone is told (so floods
    /// from clients still sending at the full rate are not held against them).
    pub fn pace(&mut self, work: Duration) -> Duration {
        let period = self.tick_period();
        if self.dilation.nominal() != period {
            // A content reload changed the tick rate: start again at full speed on it.
            self.dilation = dilation::Dilation::new(period);
        }
        let change = self.dilation.on_tick(work);
        let rate = self.dilation.rate();
        let tick = self.zone.tick();
        match change {
            Some(dilation::Change::Slowed(r)) => tracing::warn!(
                tick,
                time_rate_pct = r,
                tick_ms = self.dilation.load() * period.as_secs_f64() * 1e3,
                period_ms = period.as_secs_f64() * 1e3,
                "time dilation: ticks run over budget, the zone slows its time to {r} % of real time"
            ),
            Some(dilation::Change::Restored) => {
                tracing::info!(
                    tick,
                    "time dilation over: the zone runs at full speed again"
                );
            }
            None => {}
        }
        self.zone.set_time_rate(rate);
        let m = &self.router.metrics;
        m.time_rate.set(f64::from(rate) / 100.0);
        self.status
            .time_rate_pct
            .store(u64::from(rate), Ordering::Relaxed);
        if rate < 100 {
            m.dilated_ticks.inc();
            if change.is_some() || tick.is_multiple_of(10) {
                self.router
                    .commands
                    .push(ZoneCommand::Dilated { time_rate: rate });
            }
            let now_ms = self.status.host_us(Instant::now()) / 1000;
            let _ = self.status.dilated_since_ms.compare_exchange(
                0,
                now_ms.max(1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        } else {
            self.status.dilated_since_ms.store(0, Ordering::Relaxed);
        }
        self.dilation.period()
    }

    pub fn tick_period(&self) -> Duration {
        period_of(&self.zone)
    }
}

/// The nominal tick period of `zone`'s content.
fn period_of(zone: &Zone) -> Duration {
    let rate = f64::from(zone.settings().netcode.tick_rate_hz.max(1));
    Duration::from_secs_f64(1.0 / rate)
}

/// Marks the tick thread stopped when dropped, which also happens when it panics, so
/// the process can notice and exit instead of serving clients a frozen zone.
struct StopGuard {
    status: Arc<TickStatus>,
    stopped: CancellationToken,
}

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.status.running.store(false, Ordering::Relaxed);
        self.stopped.cancel();
    }
}

/// Starts the tick thread. It runs until `shutdown` is cancelled or every sender of
/// the inbox is gone, then saves everyone and closes their connections with
/// `ServerShutdown`. `stopped` is cancelled when the thread ends for any reason,
/// panics included.
pub fn spawn(
    mut ticker: Ticker,
    shutdown: CancellationToken,
    stopped: CancellationToken,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let zone_id = ticker.zone.settings().zone.id.clone();
    std::thread::Builder::new()
        .name(format!("tick-{zone_id}"))
        .spawn(move || {
            let status = ticker.status.clone();
            status.started.get_or_init(Instant::now);
            status.running.store(true, Ordering::Relaxed);
            let _guard = StopGuard {
                status: status.clone(),
                stopped,
            };
            let mut period = ticker.tick_period();
            let metrics = ticker.router.metrics.clone();
            let mut next = Instant::now();
            let mut last_start = next;
            let _span = tracing::info_span!("tick", zone = %zone_id).entered();
            let mut paused = false;
            loop {
                let start = Instant::now();
                // Tick only while the zone's lease is surely held: a process that was
                // stopped past it, or cut off from the database, may have been
                // replaced, and must not move anyone until it renews.
                if !status.holds_lease(start) {
                    if shutdown.is_cancelled() {
                        break;
                    }
                    if !std::mem::replace(&mut paused, true) {
                        tracing::warn!(
                            "the zone lease may have expired; ticks pause until it is renewed"
                        );
                    }
                    metrics.lease_pauses.inc();
                    std::thread::sleep(period);
                    continue;
                }
                if std::mem::take(&mut paused) {
                    tracing::info!("zone lease renewed; ticking again");
                }
                let gap = start - last_start;
                last_start = start;
                if gap >= period * STALL_TICKS {
                    ticker.resumed((gap.as_secs_f64() / period.as_secs_f64()) as u32);
                }
                // The tick's start for input waits: what is in the inbox now is in
                // time for this tick; what arrives from here on waits for the next.
                let host_us = status.host_us(start);
                if let Some(p) = &mut ticker.poller {
                    p.read();
                }
                let stopping = shutdown.is_cancelled();
                // Taken even when stopping: a join in it is closed properly below.
                let open = ticker.take_inbox();
                if stopping || !open {
                    break;
                }
                ticker.step(host_us);
                if let Some(p) = &mut ticker.poller {
                    p.write();
                }
                // The tick thread's whole work: the inbox and its connections' read
                // and write passes as well as the step.
                let elapsed = start.elapsed();
                if elapsed > period {
                    metrics.tick_overruns.inc();
                    tracing::debug!(
                        tick = ticker.zone.tick(),
                        took_ms = elapsed.as_secs_f64() * 1e3,
                        "tick over budget"
                    );
                }
                // Under sustained overload the period stretches (time dilation).
                period = ticker.pace(elapsed);
                next += period;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else if now - next > period {
                    // Fell more than a tick behind: resynchronise instead of bursting.
                    next = now;
                }
            }
            let poller = ticker.poller.take();
            ticker.finish();
            // Their tasks send the kicks `finish` queued.
            if let Some(p) = poller {
                p.finish();
            }
            tracing::info!("tick thread stopped");
        })
}
