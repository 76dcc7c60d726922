//! Wires a zone process together: content, tick thread, transports, persistence,
//! control plane and the ops listener, on the current tokio runtime. Usable in-process
//! (tests, `arcane demo`) as well as from the `zone-server` binary.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use arcane_engine::Zone;
use arcane_engine::content::{ContentSources, ExitTarget};
use arcane_protocol::ticket::{DEV_TICKET_SECRET, TicketKey};
use arcane_service::control_auth::ControlKey;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::ZoneServerConfig;
use crate::control::ControlPlane;
use crate::metrics::{Metrics, ResultLabel};
use crate::net::inbound::Inbound;
use crate::net::io_pause::IoPause;
use crate::net::outbox::Dispatcher;
use crate::net::session::SessionContext;
use crate::ops_http::{Endpoints, OpsState};
use crate::persist::Persister;
use crate::reload::ContentWatcher;
use crate::status::{Lifecycle, TickStatus};
use crate::tick::Ticker;

/// Capacity of the session → tick inbox: about two ticks of input from 4,000 players.
const INBOX_CAPACITY: usize = 16 * 1024;

/// What a drain achieved: players at its start, and those still here at its end (to
/// be saved and disconnected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainOutcome {
    pub players: u64,
    pub remaining: u64,
}

/// A started zone. Dropping it does not stop it; call [`RunningZone::shutdown`].
pub struct RunningZone {
    /// The id it runs as (a copy's or an instance's own).
    pub zone_id: String,
    pub ws_addr: SocketAddr,
    /// The QUIC endpoint clients use (`quic://…?sha256=…`), when QUIC is on.
    pub quic_endpoint: Option<String>,
    /// The ops listener (`/metrics`, probes, `/players`).
    pub admin_addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    pub status: Arc<TickStatus>,
    /// What this start recovered from a killed predecessor's journal, if anything.
    pub recovered: Option<crate::recovery::Recovered>,
    lifecycle: Lifecycle,
    tick_thread: Option<std::thread::JoinHandle<()>>,
    inbox: mpsc::Sender<Inbound>,
    /// The content zone (map) this runs, where a drain sends players.
    template: String,
    /// Players can be handed to other zones (an orchestrator and a database).
    can_hand_off: bool,
    /// An instance: a drain does not move its party into some other zone of its map.
    is_instance: bool,
    tasks: Vec<JoinHandle<()>>,
    /// The store and the zone's lease, released once the last save is done.
    lease: Option<(arcane_store::Store, arcane_store::ZoneLease)>,
    /// The journal, once the tick thread stopped; ended after the last saves.
    journal: crate::journaling::JournalSlot,
    /// Watches the content folder while the zone runs (none when disabled).
    _content_watcher: Option<ContentWatcher>,
}

/// Loads content, binds the listeners and starts the tick thread and servers on the
/// current tokio runtime.
pub async fn start(config: ZoneServerConfig) -> anyhow::Result<RunningZone> {
    start_with_pause(config, Arc::new(IoPause::new())).await
}

/// [`start`] on a runtime whose I/O threads pause on `pause` when idle (the zone's
/// ticks cut it short).
pub(crate) async fn start_with_pause(
    config: ZoneServerConfig,
    pause: Arc<IoPause>,
) -> anyhow::Result<RunningZone> {
    let run_as = config
        .zone_id
        .clone()
        .unwrap_or_else(|| config.zone.clone());
    let sources = ContentSources::read_dir(&config.content)
        .and_then(|s| Ok((s.zone_as(&config.zone, &run_as)?, s)));
    let (content, sources) = sources
        .map_err(|e| anyhow::anyhow!("content in {} is invalid:\n{e}", config.content.display()))?;
    if config.ticket_secret == DEV_TICKET_SECRET {
        tracing::warn!(
            "using the development ticket secret; set ARCANE_TICKET_SECRET in production"
        );
    }
    let zone_id = content.zone.id.clone();
    let capacity = content.zone.max_players;
    let overflow_at = content.zone.overflow_at.unwrap_or(capacity);
    let instance = content.zone.instance.clone();
    let version = content.version;
    let chat = content.chat.clone();
    let status = Arc::new(TickStatus::default());
    // The zone's lease before anything is served: a second process of this zone waits
    // here until the first one is gone.
    let store = match &config.database_url {
        Some(url) => {
            let store = arcane_store::Store::connect(url)
                .await
                .with_context(|| format!("cannot open the player database {url}"))?;
            let asked = std::time::Instant::now();
            let lease =
                crate::lease::acquire(&store, &zone_id, &crate::lease::holder_name()).await?;
            status.hold_lease_until(asked + crate::lease::LEASE_TTL - crate::lease::CLOCK_MARGIN);
            Some((store, lease))
        }
        None => {
            crate::lease::unleased(&status);
            None
        }
    };
    // A killed predecessor's players, from its journal, before anyone can join.
    let recovered = match (&config.journal_dir, &store) {
        (Some(dir), Some((store, lease))) => {
            crate::recovery::recover(dir, &zone_id, store, lease).await?
        }
        _ => None,
    };
    // From here this process may take players in: the next one recovers this one's
    // journal, not a predecessor's (which is recovered above, or was not this zone's
    // to recover).
    if let Some((store, lease)) = &store {
        store
            .mark_serving(lease)
            .await
            .context("cannot record that this process serves the zone")?;
    }
    let ws = TcpListener::bind(config.ws_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.ws_addr))?;
    let ops = TcpListener::bind(config.admin_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.admin_addr))?;
    let ws_addr = ws.local_addr()?;
    let admin_addr = ops.local_addr()?;
    let quic = match config.quic {
        true => Some(crate::net::quic::bind(&config)?),
        false => None,
    };
    let quic_endpoint = quic.as_ref().map(|q| q.public_endpoint.clone());
    // With a certificate the WebSocket listener speaks TLS (`wss://`), as browsers on
    // https pages require.
    let tls = crate::net::ws::tls_acceptor(&config)?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let ws_endpoint = config
        .public_endpoint
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{ws_addr}"));

    let metrics = Arc::new(Metrics::new(&zone_id));
    if let Some(r) = &recovered {
        metrics.recoveries.inc();
        metrics.recovered_players.inc_by(r.saved as u64);
    }
    status
        .registered
        .store(config.orchestrator.is_none(), Ordering::Relaxed);
    let lifecycle = Lifecycle::default();
    let shutdown = &lifecycle.shutdown;
    let (inbox_tx, inbox_rx) = mpsc::channel(INBOX_CAPACITY);
    let dispatcher = Arc::new(Dispatcher::new(pause));
    let mut tasks = vec![];
    if let Some((store, lease)) = &store {
        tasks.push(tokio::spawn(crate::lease::keep(
            store.clone(),
            lease.clone(),
            status.clone(),
            metrics.clone(),
            lifecycle.superseded.clone(),
            shutdown.child_token(),
        )));
    }
    let persist = store.clone().map(|(store, lease)| {
        let persister = Persister {
            store,
            lease,
            superseded: lifecycle.superseded.clone(),
            orchestrator: config.orchestrator.clone(),
            key: ControlKey::new(&config.control_secret),
            inbox: inbox_tx.clone(),
            metrics: metrics.clone(),
        };
        let (handle, task) = crate::persist::spawn(persister, shutdown.child_token());
        tasks.push(task);
        handle
    });
    let can_hand_off = config.orchestrator.is_some() && persist.is_some();
    let mut zone = Zone::new(content, config.seed);
    let mut creature_ids = None;
    if let Some((store, _)) = &store {
        // Ids for the creatures this process creates, unique across zones and restarts.
        let start = store
            .reserve_creature_ids()
            .await
            .context("cannot reserve creature ids")?;
        zone.grant_creature_ids(start, arcane_store::CREATURE_ID_BLOCK);
        creature_ids = Some((start, arcane_store::CREATURE_ID_BLOCK));
    }
    let journal = crate::journaling::start(
        &config,
        &zone,
        &sources,
        creature_ids,
        store.as_ref().map(|(_, l)| l.generation),
    );
    let journal_run = journal.as_ref().map(|j| j.run_dir().to_path_buf());
    let mut ticker = Ticker::new(
        zone,
        inbox_rx,
        metrics.clone(),
        status.clone(),
        dispatcher.clone(),
        persist,
    );
    let journal_slot = ticker.set_journal(journal, config.state_hash_every);
    ticker.set_extra_work(config.extra_tick_work);
    let (social, social_rx) =
        crate::net::social::Social::new(&chat, status.clone(), metrics.clone());
    let social = Arc::new(social);
    ticker.set_social(social.clone());
    if let Some(base) = &config.orchestrator {
        let link = crate::net::social::LinkConfig {
            orchestrator: base.clone(),
            key: ControlKey::new(&config.control_secret),
            zone_id: zone_id.clone(),
            lease_generation: store.as_ref().map_or(0, |(_, l)| l.generation),
        };
        tasks.push(tokio::spawn(crate::net::social::run_link(
            social.clone(),
            social_rx,
            link,
            inbox_tx.clone(),
            metrics.clone(),
            shutdown.child_token(),
        )));
    }
    let ctx = Arc::new(SessionContext {
        zone_id: zone_id.clone(),
        key: TicketKey::new(&config.ticket_secret),
        inbox: inbox_tx.clone(),
        metrics: metrics.clone(),
        status: status.clone(),
        draining: lifecycle.draining.clone(),
        store: store.clone(),
        max_frames_per_second: config.max_frames_per_second,
        next_conn: AtomicU64::new(1),
        social: social.clone(),
    });
    // Plain-TCP WebSocket connections are read and written by the tick thread.
    let poller = (!config.ws_tasks).then(|| {
        let (poller, link) =
            crate::net::ws::poller::Poller::new(ctx.clone(), config.heartbeat_timeout);
        ticker.set_poller(poller);
        link
    });
    let tick_thread = crate::tick::spawn(
        ticker,
        shutdown.child_token(),
        lifecycle.tick_stopped.clone(),
    )
    .context("cannot start the tick thread")?;

    let content_watcher = config
        .watch_content
        .then(|| {
            let watched = crate::reload::watch(
                config.content.clone(),
                (config.zone.clone(), zone_id.clone()),
                version,
                inbox_tx.clone(),
                metrics.clone(),
            );
            // The zone can run without hot reload; say so loudly.
            watched
                .inspect_err(|e| {
                    tracing::warn!(
                        "cannot watch {} for content changes: {e:#}",
                        config.content.display()
                    );
                })
                .ok()
        })
        .flatten();
    let config = Arc::new(config);
    let close_after_empty = instance
        .as_ref()
        .map(|i| Duration::from_secs_f32(i.close_after_empty_s.max(0.0)))
        .or(config.close_after_empty);
    if config.orchestrator.is_some() || close_after_empty.is_some() {
        let me = arcane_control_api::ZoneInfo {
            zone_id: zone_id.clone(),
            endpoint: ws_endpoint.clone(),
            capacity,
            template: config.zone.clone(),
            overflow_at,
            instance: instance.is_some(),
            admin_endpoint: format!("http://{admin_addr}"),
            quic_endpoint: quic_endpoint.clone().unwrap_or_default(),
            lease_generation: store.as_ref().map_or(0, |(_, l)| l.generation),
        };
        tasks.push(tokio::spawn(crate::control::run(ControlPlane {
            orchestrator: config.orchestrator.clone(),
            me,
            key: ControlKey::new(&config.control_secret),
            close_after_empty,
            status: status.clone(),
            lifecycle: lifecycle.clone(),
        })));
    }
    // One pool of connection slots for both transports.
    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections));
    if let Some(q) = quic {
        tasks.push(tokio::spawn(crate::net::quic::serve(
            q,
            ctx.clone(),
            config.clone(),
            slots.clone(),
            shutdown.child_token(),
        )));
    }
    let ops_state = OpsState {
        metrics: metrics.clone(),
        status: status.clone(),
        draining: lifecycle.draining.clone(),
        endpoints: Endpoints {
            zone_id: zone_id.clone(),
            ws: ws_endpoint,
            quic: quic_endpoint.clone(),
        },
        journal_run,
        inbox: Some(inbox_tx.clone()),
        inspecting: Arc::new(tokio::sync::Semaphore::new(2)),
    };
    tasks.extend([
        tokio::spawn(dispatcher.run(shutdown.child_token())),
        tokio::spawn(crate::net::ws::serve(
            ws,
            ctx,
            config.clone(),
            slots,
            shutdown.child_token(),
            tls,
            poller,
        )),
        tokio::spawn(crate::ops_http::serve(
            ops,
            ops_state,
            shutdown.child_token(),
        )),
    ]);
    tracing::info!(zone = %zone_id, %ws_addr, quic = quic_endpoint.as_deref().unwrap_or("off"), %admin_addr, content = %version, "zone server listening");
    Ok(RunningZone {
        zone_id: zone_id.clone(),
        ws_addr,
        quic_endpoint,
        admin_addr,
        metrics,
        status,
        recovered,
        lifecycle,
        tick_thread: Some(tick_thread),
        inbox: inbox_tx,
        template: config.zone.clone(),
        can_hand_off,
        is_instance: instance.is_some(),
        tasks,
        lease: store,
        journal: journal_slot,
        _content_watcher: content_watcher,
    })
}

impl RunningZone {
    /// Stops accepting, closes every connection with `ServerShutdown` and stops ticking.
    pub fn shutdown(&self) {
        self.lifecycle.shutdown.cancel();
    }

    /// Drains the zone (SIGTERM): `/readyz` turns false, new players are refused, the
    /// zone leaves the orchestrator's registry and hands every player to another copy
    /// of its map through the usual transfer path (the orchestrator opens one when it
    /// supervises zones), waiting up to `grace`. Whoever is left then (no other copy:
    /// their transfers were refused) is saved and disconnected with
    /// `ServerShutdown` by [`RunningZone::shutdown`], which the caller runs next.
    pub async fn drain(&self, grace: Duration) -> DrainOutcome {
        let started = tokio::time::Instant::now();
        self.lifecycle.draining.cancel();
        let before = self.status.players.load(Ordering::Relaxed);
        // An instance's party has nowhere else to go on its map: it is saved here and
        // logs in again (to the start zone, once this instance is gone).
        if !self.can_hand_off || self.is_instance || before == 0 {
            return DrainOutcome {
                players: before,
                remaining: before,
            };
        }
        // Let the deregistration land first, so the orchestrator picks another copy.
        let settle = Duration::from_millis(300).min(grace / 4);
        tokio::time::sleep(settle).await;
        let refused = || {
            self.metrics
                .transfers
                .get_or_create(&ResultLabel { result: "aborted" })
                .get()
        };
        let refused_before = refused();
        let to = ExitTarget::Zone(self.template.clone());
        let _ = self.inbox.send(Inbound::Evacuate(to)).await;
        let deadline = started + grace.saturating_sub(Duration::from_millis(500));
        loop {
            let left = self.status.players.load(Ordering::Relaxed);
            // Done when everyone left, when every player still here had their transfer
            // refused (no other copy can take them), or when time is up.
            let all_refused = refused() - refused_before >= left;
            if left == 0 || all_refused || tokio::time::Instant::now() >= deadline {
                // Handed-over players leave the tick before their connection has sent
                // the redirect; let those writers finish before the shutdown.
                while left == 0
                    && self.metrics.connections.get() > 0
                    && tokio::time::Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                tracing::info!(players = before, remaining = left, "drain finished");
                return DrainOutcome {
                    players: before,
                    remaining: left,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Resolves when the tick thread has ended, whether through `shutdown` or a
    /// failure (a panic in a system); a zone without a tick must not keep serving.
    pub async fn tick_stopped(&self) {
        self.lifecycle.tick_stopped.cancelled().await;
    }

    /// Resolves when the zone decided to close (it stayed empty for its close-after
    /// time and deregistered); the owner should then shut it down and exit cleanly.
    pub async fn closed(&self) {
        self.lifecycle.closing.cancelled().await;
    }

    /// Resolves when another process took this zone over (its lease, or its place
    /// in the orchestrator's registry): the owner must stop it at once and exit with
    /// `SUPERSEDED_EXIT`, writing nothing more.
    pub async fn superseded(&self) {
        self.lifecycle.superseded.cancelled().await;
    }

    /// Waits until the tick thread and the listeners have stopped, then gives the
    /// zone's lease up (the last saves are written by then), so a successor starts at
    /// once.
    pub async fn wait(mut self) {
        if let Some(t) = self.tick_thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        // The last saves are written: the journal's run ends cleanly (a process
        // killed before this point is recovered from it by its successor).
        let slot = self.journal.clone();
        let _ = tokio::task::spawn_blocking(move || crate::journaling::end_parked(&slot)).await;
        if let Some((store, lease)) = &self.lease
            && !self.lifecycle.superseded.is_cancelled()
        {
            match store.release_lease(lease).await {
                Ok(()) => tracing::info!(generation = lease.generation, "zone lease released"),
                Err(e) => tracing::warn!("cannot release the zone lease (it expires): {e}"),
            }
        }
        // Give writers a moment to deliver the shutdown kicks.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
