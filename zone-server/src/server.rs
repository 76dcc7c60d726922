//! Wires a zone process together: content, tick thread, WebSocket and admin listeners.
//! Usable in-process (tests, `arcane demo`) as well as from the `zone-server` binary.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use arcane_engine::Zone;
use arcane_engine::content::ZoneContent;
use arcane_protocol::ticket::TicketKey;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{DEV_TICKET_SECRET, ZoneServerConfig};
use crate::metrics::Metrics;
use crate::outbox::Dispatcher;
use crate::session::SessionContext;
use crate::tick::{self, TickShared};

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
    pub ws_addr: SocketAddr,
    /// The QUIC endpoint clients use (`quic://…?sha256=…`), when QUIC is on.
    pub quic_endpoint: Option<String>,
    pub admin_addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    pub shared: Arc<TickShared>,
    shutdown: watch::Sender<bool>,
    tick_thread: Option<std::thread::JoinHandle<()>>,
    tick_stopped: watch::Receiver<bool>,
    /// Turns true when the zone closed itself (empty for its close-after time).
    closing: watch::Receiver<bool>,
    draining: watch::Sender<bool>,
    inbox: mpsc::Sender<tick::Inbound>,
    /// The content zone (map) this runs, where a drain sends players.
    template: String,
    /// Players can be handed to other zones (an orchestrator and a database).
    can_hand_off: bool,
    /// An instance: a drain does not move its party into some other zone of its map.
    is_instance: bool,
    tasks: Vec<JoinHandle<()>>,
    /// Watches the content folder while the zone runs (none when disabled).
    _content_watcher: Option<crate::reload::ContentWatcher>,
}

/// Loads content, binds the listeners and starts the tick thread and servers on the
/// current tokio runtime.
pub async fn start(config: ZoneServerConfig) -> anyhow::Result<RunningZone> {
    let run_as = config
        .zone_id
        .clone()
        .unwrap_or_else(|| config.zone.clone());
    let content = ZoneContent::load_as(&config.content, &config.zone, &run_as)
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
    let store = match &config.database_url {
        Some(url) => Some(
            arcane_store::Store::connect(url)
                .await
                .with_context(|| format!("cannot open the player database {url}"))?,
        ),
        None => None,
    };
    let zone = Zone::new(content, config.seed);
    let ws = TcpListener::bind(config.ws_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.ws_addr))?;
    let admin = TcpListener::bind(config.admin_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.admin_addr))?;
    let ws_addr = ws.local_addr()?;
    let quic = if config.quic {
        Some(crate::quic::bind(&config)?)
    } else {
        None
    };
    let quic_endpoint = quic.as_ref().map(|q| q.public_endpoint.clone());
    let admin_addr = admin.local_addr()?;

    let metrics = Arc::new(Metrics::new(&zone_id));
    let shared = Arc::new(TickShared::default());
    shared
        .registered
        .store(config.orchestrator.is_none(), Ordering::Relaxed);
    let (draining, draining_rx) = watch::channel(false);
    let can_hand_off = config.orchestrator.is_some() && store.is_some();
    let (inbox_tx, inbox_rx) = mpsc::channel(INBOX_CAPACITY);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (tick_stopped_tx, tick_stopped) = watch::channel(false);
    let dispatcher = Arc::new(Dispatcher::default());
    let mut tasks = vec![];
    let persist = store.clone().map(|store| {
        let (handle, task) = crate::persist::spawn(
            crate::persist::Persister {
                store,
                zone_id: zone_id.clone(),
                orchestrator: config.orchestrator.clone(),
                inbox: inbox_tx.clone(),
                metrics: metrics.clone(),
            },
            shutdown_rx.clone(),
        );
        tasks.push(task);
        handle
    });
    let tick_thread = tick::spawn(
        zone,
        inbox_rx,
        metrics.clone(),
        shared.clone(),
        tick_stopped_tx,
        dispatcher.clone(),
        persist,
    )
    .context("cannot start the tick thread")?;

    let content_watcher = if config.watch_content {
        let watcher = crate::reload::watch(
            config.content.clone(),
            (config.zone.clone(), zone_id.clone()),
            version,
            inbox_tx.clone(),
            metrics.clone(),
        );
        match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                // The zone can run without hot reload; say so loudly.
                tracing::warn!(
                    "cannot watch {} for content changes: {e:#}",
                    config.content.display()
                );
                None
            }
        }
    } else {
        None
    };
    let ctx = Arc::new(SessionContext::new(
        zone_id.clone(),
        TicketKey::new(&config.ticket_secret),
        inbox_tx.clone(),
        metrics.clone(),
        shared.clone(),
        store,
        config.max_frames_per_second,
    ));
    let config = Arc::new(config);
    let close_after_empty = instance
        .as_ref()
        .map(|i| Duration::from_secs_f32(i.close_after_empty_s.max(0.0)))
        .or(config.close_after_empty);
    let (closing, closing_rx) = watch::channel(false);
    if config.orchestrator.is_some() || close_after_empty.is_some() {
        let endpoint = config
            .public_endpoint
            .clone()
            .unwrap_or_else(|| format!("ws://{ws_addr}"));
        let me = arcane_control_api::ZoneInfo {
            zone_id: zone_id.clone(),
            endpoint,
            capacity,
            template: config.zone.clone(),
            overflow_at,
            instance: instance.is_some(),
            admin_endpoint: format!("http://{admin_addr}"),
            quic_endpoint: quic_endpoint.clone().unwrap_or_default(),
        };
        tasks.push(tokio::spawn(crate::control::run(
            config.orchestrator.clone(),
            me,
            close_after_empty,
            shared.clone(),
            closing,
            draining_rx,
            shutdown_rx.clone(),
        )));
    }
    // One pool of connection slots for both transports.
    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections));
    if let Some(q) = quic {
        tasks.push(tokio::spawn(crate::quic::serve(
            q,
            ctx.clone(),
            config.clone(),
            slots.clone(),
            shutdown_rx.clone(),
        )));
    }
    tasks.extend([
        tokio::spawn(dispatcher.run(shutdown_rx.clone())),
        tokio::spawn(crate::ws::serve(
            ws,
            ctx,
            config.clone(),
            slots,
            shutdown_rx.clone(),
        )),
        tokio::spawn(crate::admin::serve(
            admin,
            crate::admin::AdminState {
                metrics: metrics.clone(),
                shared: shared.clone(),
                endpoints: crate::admin::Endpoints {
                    zone_id: zone_id.clone(),
                    ws: config
                        .public_endpoint
                        .clone()
                        .unwrap_or_else(|| format!("ws://{ws_addr}")),
                    quic: quic_endpoint.clone(),
                },
            },
            shutdown_rx,
        )),
    ]);
    tracing::info!(zone = %zone_id, %ws_addr, quic = quic_endpoint.as_deref().unwrap_or("off"), %admin_addr, content = %version, "zone server listening");
    Ok(RunningZone {
        ws_addr,
        quic_endpoint,
        admin_addr,
        metrics,
        shared,
        shutdown,
        tick_thread: Some(tick_thread),
        tick_stopped,
        closing: closing_rx,
        draining,
        inbox: inbox_tx,
        template: config.zone.clone(),
        can_hand_off,
        is_instance: instance.is_some(),
        tasks,
        _content_watcher: content_watcher,
    })
}

impl RunningZone {
    /// Stops accepting, closes every connection with `ServerShutdown` and stops ticking.
    pub fn shutdown(&self) {
        self.shared.shutdown.store(true, Ordering::Relaxed);
        let _ = self.shutdown.send(true);
    }

    /// Drains the zone (SIGTERM): `/readyz` turns false, new players are refused, the
    /// zone leaves the orchestrator's registry and hands every player to another copy
    /// of its map through the usual transfer path (the orchestrator opens one when it
    /// supervises zones), waiting up to `grace`. Whoever is left then (no other copy:
    /// their transfers were refused) is saved and disconnected with
    /// `ServerShutdown` by [`RunningZone::shutdown`], which the caller runs next.
    pub async fn drain(&self, grace: Duration) -> DrainOutcome {
        let started = tokio::time::Instant::now();
        self.shared.draining.store(true, Ordering::Relaxed);
        let _ = self.draining.send(true);
        let before = self.shared.players.load(Ordering::Relaxed);
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
                .get_or_create(&crate::metrics::ResultLabel { result: "aborted" })
                .get()
        };
        let refused_before = refused();
        let to = arcane_engine::content::ExitTarget::Zone(self.template.clone());
        let _ = self.inbox.send(tick::Inbound::Evacuate(to)).await;
        let deadline = started + grace.saturating_sub(Duration::from_millis(500));
        loop {
            let left = self.shared.players.load(Ordering::Relaxed);
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
        let mut rx = self.tick_stopped.clone();
        let _ = rx.wait_for(|stopped| *stopped).await;
    }

    /// Resolves when the zone decided to close (it stayed empty for its close-after
    /// time and deregistered); the owner should then shut it down and exit cleanly.
    pub async fn closed(&self) {
        let mut rx = self.closing.clone();
        if rx.wait_for(|c| *c).await.is_err() {
            // The control task is gone without closing: never resolve.
            std::future::pending::<()>().await;
        }
    }

    /// Waits until the tick thread and the listeners have stopped.
    pub async fn wait(mut self) {
        if let Some(t) = self.tick_thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        // Give writers a moment to deliver the shutdown kicks.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
