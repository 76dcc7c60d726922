//! The swarm: spawns bots on the current (single-threaded) runtime, ramps them up,
//! prints a live line each second and builds the final report.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arcane_protocol::ClientTier;
use hdrhistogram::Histogram;

use crate::behaviour::BehaviourMix;
use crate::client::Transport;
use crate::lossy::{Impairment, LossyLink};
use crate::report::{
    DatagramFigures, GameplayFigures, LatencyMs, Report, ServerFigures, TransferFigures,
    quantile_ms,
};
use crate::scrape::{self, ServerSample};

mod bot;

use bot::{BOTS_PER_ENDPOINT, Carriers, run_bot};

#[derive(Debug, Clone)]
pub struct SwarmConfig {
    /// `ws://host:port`
    pub target: String,
    pub bots: usize,
    pub duration: Duration,
    pub ramp: Duration,
    /// `http://host:port/metrics` of the zone, for server figures.
    pub metrics: Option<String>,
    pub zone: String,
    pub ticket_secret: String,
    /// First player id; bot i is `first_player + i`.
    pub first_player: u64,
    pub tier: ClientTier,
    /// Input rate (the zone's tick rate).
    pub input_hz: u32,
    /// Print a one-line summary every second.
    pub live: bool,
    /// How long before the zone's next tick a bot sends its input. Bots time inputs
    /// from snapshot arrivals, as a client with tick synchronisation does, so an input
    /// waits `lead` for its tick instead of a random part of a whole tick.
    pub input_lead: Duration,
    /// Tune each bot's lead from the zone's input receipts so its inputs arrive about
    /// this long before their tick (`input_lead` is then the starting lead); `None`
    /// keeps `input_lead` fixed.
    pub input_margin: Option<Duration>,
    /// What the bots do besides walking.
    pub behaviour: BehaviourMix,
    /// Log in through this orchestrator (`http://host:port`) for a ticket and an
    /// endpoint instead of minting tickets for `target`.
    pub orchestrator: Option<String>,
    /// Which of a zone's endpoints bots use (with minted tickets, `target`'s scheme
    /// decides).
    pub transport: Transport,
    /// Put a lossy link (a UDP proxy on loopback) between the bots and QUIC zones.
    pub impairment: Option<Impairment>,
    /// Sign an HS256 identity token per bot with this secret, for an orchestrator that
    /// verifies logins (`--jwt-secret` there); development names otherwise.
    pub idp_secret: Option<String>,
    /// How often a social bot sends a chat message.
    pub chat_every: Duration,
    /// WebSocket bots each in a task of their own, as before the poller (for
    /// comparison); by default they all run on the poller's thread
    /// ([`crate::ws_poll::WsPoller`]).
    pub ws_tasks: bool,
}

/// A login request for `name`: with an identity token signed by `idp_secret` (the
/// bot plays the identity provider's part) or, without one, the development name.
pub fn login_body(
    name: &str,
    idp_secret: Option<&str>,
) -> anyhow::Result<arcane_control_api::LoginRequest> {
    let Some(secret) = idp_secret else {
        return Ok(arcane_control_api::LoginRequest {
            name: name.to_string(),
            ..Default::default()
        });
    };
    let exp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 3600;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({ "sub": name, "exp": exp }),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )?;
    Ok(arcane_control_api::LoginRequest {
        token: Some(token),
        ..Default::default()
    })
}

/// The lossy links of a run, one per QUIC zone address, made on first use.
#[derive(Default)]
struct Links {
    by_zone: RefCell<std::collections::HashMap<std::net::SocketAddr, LossyLink>>,
}

impl Links {
    /// `endpoint`, rewritten to go through the link in front of its zone.
    async fn route(&self, endpoint: String, how: Option<Impairment>) -> anyhow::Result<String> {
        let Some(how) = how else { return Ok(endpoint) };
        if !endpoint.starts_with("quic://") {
            return Ok(endpoint);
        }
        let authority = crate::client::host_port(&endpoint)?.to_string();
        let zone: std::net::SocketAddr = authority.parse()?;
        let known = self.by_zone.borrow().get(&zone).map(|l| l.addr);
        let via = match known {
            Some(a) => a,
            None => {
                let link = LossyLink::start(zone, how).await?;
                let a = link.addr;
                self.by_zone.borrow_mut().entry(zone).or_insert(link);
                a
            }
        };
        Ok(endpoint.replacen(&authority, &via.to_string(), 1))
    }

    /// Share of datagrams the links dropped.
    fn dropped_share(&self) -> f64 {
        use std::sync::atomic::Ordering::Relaxed;
        let links = self.by_zone.borrow();
        let dropped = links.values().map(|l| l.counts.dropped.load(Relaxed)).sum();
        let forwarded = links
            .values()
            .map(|l| l.counts.forwarded.load(Relaxed))
            .sum();
        crate::lossy::share(dropped, forwarded)
    }
}

/// Counters all bots add to (see [`lock`]).
struct Stats {
    latency_us: Histogram<u64>,
    /// Snapshot read off the socket → its bot got to it (µs): the load generator's
    /// own queue, not part of `latency_us`.
    bot_queue_us: Histogram<u64>,
    /// Input due → its bot got to send it (µs): the same queue on the way out. The
    /// latency counts from the send, but a late send may miss its tick.
    send_delay_us: Histogram<u64>,
    connected: usize,
    errors: u64,
    /// Bots that never joined, and why the first of them could not: a swarm whose
    /// bots all fail the same way (a wrong pin, a wrong secret) says so once.
    connect_errors: u64,
    first_connect_error: Option<String>,
    decode_errors: u64,
    apply_errors: u64,
    disconnects: u64,
    bytes: u64,
    snapshots: u64,
    inputs: u64,
    /// Inputs whose tick ran without them (its snapshot did not acknowledge them).
    inputs_late: u64,
    /// Each bot's input lead at the end (µs).
    leads_us: Vec<u64>,
    kicks: BTreeMap<String, u64>,
    view_sizes: Vec<usize>,
    gameplay: GameplayFigures,
    transfers: TransferFigures,
    /// Redirect received → welcomed by the next zone, in microseconds.
    rejoin_us: Histogram<u64>,
    /// Snapshot datagrams received and seen lost (QUIC).
    datagrams: crate::quic::DatagramCount,
    /// Social bots' chat, deliveries and parties.
    social: crate::social::SocialStats,
}

impl Stats {
    fn new() -> anyhow::Result<Self> {
        // Auto-resizing, 3 significant figures, values in microseconds.
        let latency_us = Histogram::new(3)?;
        Ok(Stats {
            latency_us,
            bot_queue_us: Histogram::new(3)?,
            send_delay_us: Histogram::new(3)?,
            connected: 0,
            errors: 0,
            connect_errors: 0,
            first_connect_error: None,
            decode_errors: 0,
            apply_errors: 0,
            disconnects: 0,
            bytes: 0,
            snapshots: 0,
            inputs: 0,
            inputs_late: 0,
            leads_us: Vec::new(),
            kicks: BTreeMap::new(),
            view_sizes: Vec::new(),
            gameplay: GameplayFigures::default(),
            transfers: TransferFigures::default(),
            rejoin_us: Histogram::new(3)?,
            datagrams: Default::default(),
            social: Default::default(),
        })
    }
}

/// The swarm's counters. One thread runs every bot, so the lock is never contended;
/// it is a mutex only because QUIC bots run inside their endpoint's task, which may
/// move between threads.
fn lock(stats: &Mutex<Stats>) -> std::sync::MutexGuard<'_, Stats> {
    // A bot that panicked mid-update leaves counts that are still worth reporting.
    stats
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs the swarm to completion on the calling thread: its own single-threaded
/// runtime and `LocalSet`, as one bot process drives it (blocks; in async code call it
/// from `spawn_blocking`).
pub fn run_swarm_blocking(cfg: SwarmConfig) -> anyhow::Result<Report> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(tokio::task::LocalSet::new().run_until(run_swarm(cfg)))
}

/// Runs the swarm to completion. Must be called inside a `tokio::task::LocalSet`.
pub async fn run_swarm(cfg: SwarmConfig) -> anyhow::Result<Report> {
    let cfg = Arc::new(cfg);
    let stats = Arc::new(Mutex::new(Stats::new()?));
    let links = Rc::new(Links::default());
    // QUIC bots share UDP endpoints, up to a thousand connections each: one socket
    // and one driver per group rather than per bot (as many real clients on one host
    // behind NAT would not, but the swarm measures the server, not the bots' kernel).
    let quic = cfg.transport == Transport::Quic || cfg.target.starts_with("quic://");
    let groups = if quic {
        cfg.bots.div_ceil(BOTS_PER_ENDPOINT)
    } else {
        0
    };
    let endpoints: Vec<crate::quic::QuicEndpoint> = (0..groups)
        .map(|_| crate::quic::shared_endpoint())
        .collect::<anyhow::Result<_>>()?;
    // WebSocket bots, once joined, run on one poller thread.
    let ws_poller = if quic || cfg.ws_tasks {
        None
    } else {
        Some(crate::ws_poll::WsPoller::new()?)
    };
    let start = Instant::now();
    let deadline = start + cfg.ramp + cfg.duration;
    let mut handles = Vec::with_capacity(cfg.bots);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let step = if cfg.bots > 0 {
        cfg.ramp / cfg.bots as u32
    } else {
        Duration::ZERO
    };
    let live = {
        let stats = stats.clone();
        let cfg = cfg.clone();
        tokio::task::spawn_local(async move {
            if !cfg.live {
                return;
            }
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.tick().await;
            let (mut last_bytes, mut last_snaps) = (0u64, 0u64);
            loop {
                every.tick().await;
                let st = lock(&stats);
                let n = st.connected.max(1) as f64;
                // The counters restart at the end of the ramp (the measured window):
                // then the whole count is this second's.
                let since = |now: u64, last: u64| if now >= last { now - last } else { now };
                println!(
                    "t={:>4.0}s bots={}/{} snaps/s/client={:.1} kB/s/client={:.2} p99={:.1}ms errors={} disconnects={}",
                    start.elapsed().as_secs_f64(),
                    st.connected,
                    cfg.bots,
                    since(st.snapshots, last_snaps) as f64 / n,
                    since(st.bytes, last_bytes) as f64 / n / 1e3,
                    quantile_ms(&st.latency_us, 0.99),
                    st.errors,
                    st.disconnects,
                );
                last_bytes = st.bytes;
                last_snaps = st.snapshots;
            }
        })
    };
    for i in 0..cfg.bots {
        handles.push(tokio::task::spawn_local(run_bot(
            i,
            cfg.clone(),
            http.clone(),
            stats.clone(),
            links.clone(),
            Carriers {
                quic: endpoints.get(i / BOTS_PER_ENDPOINT).cloned(),
                ws_poller: ws_poller.clone(),
            },
            deadline,
        )));
        if !step.is_zero() {
            tokio::time::sleep(step).await;
        }
    }
    // Server figures over the steady state: from the end of the ramp to the end.
    let before = match &cfg.metrics {
        Some(url) => scrape_with_timeout(url).await,
        None => None,
    };
    let measured_from = Instant::now();
    // Reset the client-side figures too, so both cover the same window.
    {
        let mut st = lock(&stats);
        st.latency_us.reset();
        st.bot_queue_us.reset();
        st.send_delay_us.reset();
        st.bytes = 0;
        st.snapshots = 0;
        st.social.reset_latency();
    }
    tokio::time::sleep_until((deadline - Duration::from_millis(200)).into()).await;
    let after = match (&cfg.metrics, &before) {
        (Some(url), Some(_)) => scrape_with_timeout(url).await,
        _ => None,
    };
    let window = measured_from.elapsed().as_secs_f64().max(1e-3);
    for h in handles {
        let _ = h.await;
    }
    live.abort();
    let st = lock(&stats);
    let connected = st.connected;
    let server = match (before, after) {
        (Some(b), Some(a)) => Some(server_figures(&b, &a, window, connected)),
        _ => None,
    };
    let n = connected.max(1) as f64;
    Ok(Report {
        target: cfg.target.clone(),
        bots: cfg.bots,
        connected,
        errors: st.errors,
        disconnects: st.disconnects,
        duration_s: window,
        latency_ms: LatencyMs::of(&st.latency_us),
        bot_queue_ms: LatencyMs::of(&st.bot_queue_us),
        bot_send_delay_ms: LatencyMs::of(&st.send_delay_us),
        bytes_per_client_per_s: st.bytes as f64 / n / window,
        snapshots_per_client_per_s: st.snapshots as f64 / n / window,
        inputs_sent: st.inputs,
        inputs_late: st.inputs_late,
        input_lead_ms_mean: if st.leads_us.is_empty() {
            0.0
        } else {
            st.leads_us.iter().sum::<u64>() as f64 / st.leads_us.len() as f64 / 1e3
        },
        input_lead_ms_max: st.leads_us.iter().max().copied().unwrap_or(0) as f64 / 1e3,
        snapshots_received: st.snapshots,
        connect_errors: st.connect_errors,
        first_connect_error: st.first_connect_error.clone(),
        decode_errors: st.decode_errors,
        apply_errors: st.apply_errors,
        kicks: st.kicks.clone(),
        gameplay: st.gameplay.clone(),
        social: st.social.report(),
        transfers: TransferFigures {
            rejoin_ms_p50: quantile_ms(&st.rejoin_us, 0.50),
            rejoin_ms_p99: quantile_ms(&st.rejoin_us, 0.99),
            ..st.transfers.clone()
        },
        mean_view_size: if st.view_sizes.is_empty() {
            0.0
        } else {
            st.view_sizes.iter().sum::<usize>() as f64 / st.view_sizes.len() as f64
        },
        server,
        transport: match cfg.target.starts_with("quic://") {
            true => Transport::Quic,
            false => cfg.transport,
        },
        datagrams: DatagramFigures {
            received: st.datagrams.received,
            lost: st.datagrams.lost,
            loss_pct: crate::lossy::share(st.datagrams.lost, st.datagrams.received) * 100.0,
            link_dropped_pct: cfg.impairment.map(|_| links.dropped_share() * 100.0),
        },
    })
}

/// Longest a metrics scrape may take before it is given up on.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

async fn scrape_with_timeout(url: &str) -> Option<ServerSample> {
    match tokio::time::timeout(SCRAPE_TIMEOUT, scrape::sample(url)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::warn!("metrics scrape of {url} failed: {e:#}");
            None
        }
        Err(_) => {
            tracing::warn!("metrics scrape of {url} timed out");
            None
        }
    }
}

fn server_figures(
    before: &ServerSample,
    after: &ServerSample,
    window: f64,
    clients: usize,
) -> ServerFigures {
    let ticks = after.ticks - before.ticks;
    let cpu = after.cpu_seconds - before.cpu_seconds;
    ServerFigures {
        ticks_per_s: ticks / window,
        tick_ms_p99: after.tick_quantile_ms(before, 0.99),
        cpu_pct: cpu / window * 100.0,
        cpu_us_per_client_tick: if ticks > 0.0 && clients > 0 {
            cpu * 1e6 / ticks / clients as f64
        } else {
            0.0
        },
    }
}
