//! The swarm: spawns bots on the current (single-threaded) runtime, ramps them up,
//! prints a live line each second and builds the final report.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arcane_protocol::ticket::{Role, TicketClaims, TicketKey};
use arcane_protocol::view::{ApplyError, ClientView};
use arcane_protocol::{
    CastIntent, ClientMessage, ClientTier, EventKind, InputReceipt, MoveInput, NetId, ServerMessage,
};
use hdrhistogram::Histogram;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::behaviour::{Behaviour, BehaviourMix, Slots, Walk, decide};
use crate::client::{Client, Incoming, Transport};
use crate::lossy::{Impairment, LossyLink};
use crate::quic::Flow;
use crate::report::{
    DatagramFigures, GameplayFigures, LatencyMs, Report, ServerFigures, TransferFigures,
    quantile_ms,
};
use crate::schedule::InputSchedule;
use crate::scrape::{self, ServerSample};

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
        })
    }
}

/// QUIC bots per shared client endpoint. One task then runs every bot of a swarm (up
/// to this many), so it can put any bot's due input ahead of any snapshot still to
/// handle; fifty per endpoint left a due input waiting behind the other endpoints'
/// tasks when the host was slow (BENCHMARKS, "QUIC bots run inside their endpoint's
/// task").
const BOTS_PER_ENDPOINT: usize = 1000;

/// How many in-flight inputs a bot remembers send times for.
const SENT_RING: usize = 256;

/// Where bot `i` connects and with which ticket: from the orchestrator's login when
/// one is configured (as a real client does), else minted locally for `cfg.target`.
async fn bot_ticket(
    i: usize,
    cfg: &SwarmConfig,
    http: &reqwest::Client,
) -> anyhow::Result<(String, String)> {
    let player_id = cfg.first_player + i as u64;
    if let Some(base) = &cfg.orchestrator {
        let r = http
            .post(format!(
                "{}{}",
                base.trim_end_matches('/'),
                arcane_control_api::paths::LOGIN
            ))
            .json(&login_body(
                &format!("bot{player_id}"),
                cfg.idp_secret.as_deref(),
            )?)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "login refused: {}", r.status());
        let login: arcane_control_api::LoginResponse = r.json().await?;
        let endpoint = cfg.transport.pick(login.endpoint, login.quic_endpoint)?;
        return Ok((endpoint, login.ticket));
    }
    let now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let ticket = TicketKey::new(&cfg.ticket_secret).mint(&TicketClaims {
        player_id,
        zone_id: cfg.zone.clone(),
        role: Role::Player,
        expires_unix: now_unix + 600,
    });
    Ok((cfg.target.clone(), ticket))
}

/// How one connection of a bot ended.
enum Ended {
    /// The run is over.
    Deadline,
    /// The zone handed the bot to another zone.
    Redirect(arcane_protocol::Redirect),
    /// The zone said it does not own the player: log in again.
    NotOwner,
    /// Closed or failed otherwise (counted as a disconnect).
    Lost,
}

/// What a bot keeps across connections (zone transfers and re-logins).
struct BotState {
    rng: ChaCha8Rng,
    /// A traveller's heading along x: +1 east, -1 west; flips at every transfer.
    heading: i8,
    welcomed_once: bool,
    /// When the last redirect arrived, until the next zone welcomes the bot.
    transfer_started: Option<Instant>,
}

/// Longest a bot keeps trying to get back into a zone after a transfer or re-login.
const REJOIN_FOR: Duration = Duration::from_secs(30);

async fn run_bot(
    i: usize,
    cfg: Arc<SwarmConfig>,
    http: reqwest::Client,
    stats: Arc<Mutex<Stats>>,
    links: Rc<Links>,
    quic: Option<crate::quic::QuicEndpoint>,
    deadline: Instant,
) {
    let mut bot = BotState {
        rng: ChaCha8Rng::seed_from_u64(i as u64),
        heading: 1,
        welcomed_once: false,
        transfer_started: None,
    };
    // Where to connect next: the redirect's endpoint and ticket, or a fresh login.
    let mut next: Option<(String, String)> = None;
    // Set while the bot is trying to get back in; it gives up after `REJOIN_FOR`.
    let mut rejoining_since: Option<Instant> = None;
    loop {
        let target = match next.take() {
            Some(t) => Ok(t),
            None => bot_ticket(i, &cfg, &http).await,
        };
        let joined = match target {
            Ok((endpoint, ticket)) => match links.route(endpoint, cfg.impairment).await {
                Ok(endpoint) => Client::join_via(&endpoint, &ticket, cfg.tier, quic.as_ref()).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let mut client = match joined {
            Ok(c) => c,
            Err(e) => {
                let since = *rejoining_since.get_or_insert_with(Instant::now);
                if cfg.orchestrator.is_some()
                    && bot.welcomed_once
                    && since.elapsed() < REJOIN_FOR
                    && Instant::now() + Duration::from_millis(500) < deadline
                {
                    // The zone may be restarting; log in again shortly.
                    tracing::debug!(bot = i, "rejoin failed, retrying: {e:#}");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    lock(&stats).transfers.relogins += 1;
                    continue;
                }
                let mut st = lock(&stats);
                st.errors += 1;
                st.connect_errors += 1;
                if st.first_connect_error.is_none() {
                    tracing::warn!(bot = i, "connect failed: {e:#}");
                    st.first_connect_error = Some(format!("{e:#}"));
                } else {
                    tracing::debug!(bot = i, "connect failed: {e:#}");
                }
                return;
            }
        };
        let session = Session::new(i, &cfg, stats.clone(), bot, deadline);
        let Some((back, ended)) = play(&mut client, session).await else {
            lock(&stats).disconnects += 1;
            return;
        };
        bot = back;
        let d = client.datagrams();
        {
            let mut st = lock(&stats);
            st.datagrams.received += d.received;
            st.datagrams.lost += d.lost;
        }
        match ended {
            Ended::Deadline => {
                client.close().await;
                return;
            }
            Ended::Redirect(r) => {
                rejoining_since = None;
                bot.heading = -bot.heading;
                if !r.endpoint.is_empty() {
                    match cfg.transport.pick(r.endpoint, r.quic_endpoint) {
                        Ok(endpoint) => next = Some((endpoint, r.ticket)),
                        Err(e) => tracing::debug!(bot = i, "cannot follow the redirect: {e}"),
                    }
                }
            }
            Ended::NotOwner if cfg.orchestrator.is_some() => {
                rejoining_since.get_or_insert_with(Instant::now);
                lock(&stats).transfers.relogins += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Ended::NotOwner | Ended::Lost => {
                lock(&stats).disconnects += 1;
                return;
            }
        }
    }
}

/// One bot's play on one connection, without I/O: what it makes of each message from
/// the zone, and which input it sends when. A WebSocket bot drives it from its own task
/// ([`play_ws`]); a QUIC bot hands it to its endpoint's task ([`play_quic`]), which
/// runs it between datagrams, so an input due while a thousand snapshots wait on the
/// bot thread goes out when it is due rather than after them.
struct Session {
    i: usize,
    stats: Arc<Mutex<Stats>>,
    bot: BotState,
    deadline: Instant,
    behaviour: Behaviour,
    view: ClientView,
    welcomed: bool,
    me: NetId,
    slots: Slots,
    cast_seq: u32,
    /// Zone tick of the last respawn request, so a dead bot asks once a second.
    respawn_asked: u32,
    seq: u32,
    observed: u32,
    sent_at: Vec<Option<Instant>>,
    dir: (i8, i8),
    leg_left: u32,
    schedule: InputSchedule,
    /// When the next input is due. One input per zone tick, `lead` before the tick
    /// (see `InputSchedule`); before any snapshot, a plain period so the stream starts.
    next_send: Instant,
    ended: Option<Ended>,
}

impl Session {
    fn new(
        i: usize,
        cfg: &SwarmConfig,
        stats: Arc<Mutex<Stats>>,
        bot: BotState,
        deadline: Instant,
    ) -> Session {
        let period = Duration::from_secs_f64(1.0 / f64::from(cfg.input_hz.max(1)));
        Session {
            i,
            behaviour: cfg.behaviour.for_bot(i),
            schedule: InputSchedule::new(period, cfg.input_lead, cfg.input_margin),
            stats,
            bot,
            deadline,
            view: ClientView::new(),
            welcomed: false,
            me: NetId(0),
            slots: Slots::default(),
            cast_seq: 0,
            respawn_asked: 0,
            seq: 0,
            observed: 0,
            sent_at: vec![None; SENT_RING],
            dir: (0, 0),
            leg_left: 0,
            next_send: Instant::now() + period,
            ended: None,
        }
    }

    /// When the next input is due: none before the zone's welcome.
    fn input_due(&self) -> Option<Instant> {
        self.welcomed.then_some(self.next_send)
    }

    /// The input (with the ack of the newest snapshot, and a cast or a respawn
    /// request when the bot's behaviour wants one) sent at `now`.
    fn input(&mut self, now: Instant) -> Vec<ClientMessage> {
        let mut st = lock(&self.stats);
        // The first input's due time ran out while the bot was still joining: no
        // due time to be late for.
        if self.seq > 0 {
            let behind = now.saturating_duration_since(self.next_send).as_micros() as u64;
            let _ = st.send_delay_us.record(behind.max(1));
        }
        self.seq += 1;
        let seq = self.seq;
        let (_, at) = self.schedule.on_sent(now, seq);
        self.next_send = at;
        let bot = &mut self.bot;
        if self.leg_left == 0 {
            self.leg_left = 20 + bot.rng.next_u32() % 60;
            let a = (bot.rng.next_u32() % 3600) as f32 / 3600.0 * std::f32::consts::TAU;
            self.dir = MoveInput::quantize_direction(a.cos(), a.sin());
        }
        self.leg_left -= 1;
        let decision = decide(self.behaviour, &self.view, self.me, self.slots);
        let step = match decision.walk {
            Walk::Wander => self.dir,
            Walk::Stand => (0, 0),
            Walk::Toward(x, y) => MoveInput::quantize_direction(x, y),
            Walk::Travel => MoveInput::quantize_direction(f32::from(bot.heading), 0.0),
        };
        self.sent_at[seq as usize % SENT_RING] = Some(now);
        let mut msgs = vec![
            ClientMessage::Input(MoveInput {
                seq,
                dir_x: step.0,
                dir_y: step.1,
            }),
            ClientMessage::Ack {
                snapshot_id: self.view.current_id(),
            },
        ];
        st.inputs += 1;
        if let Some((slot, target)) = decision.cast {
            self.cast_seq += 1;
            msgs.push(ClientMessage::Cast(CastIntent {
                seq: self.cast_seq,
                slot,
                target,
            }));
            st.gameplay.casts_sent += 1;
        }
        if decision.respawn && self.view.tick >= self.respawn_asked + 20 {
            self.respawn_asked = self.view.tick;
            msgs.push(ClientMessage::Respawn);
        }
        msgs
    }

    /// Takes one message from the zone; `Some` when the connection is over for this
    /// bot (redirected, refused or closed).
    fn on_message(&mut self, incoming: Incoming) -> Option<Ended> {
        let i = self.i;
        let mut guard = lock(&self.stats);
        let st = &mut *guard;
        let (msg, received) = match incoming {
            Incoming::Message(msg, received) => (msg, received),
            Incoming::Malformed(e) => {
                tracing::debug!(bot = i, "malformed frame: {e}");
                st.decode_errors += 1;
                st.errors += 1;
                return None;
            }
            Incoming::Closed(_) => return Some(Ended::Lost),
        };
        st.bytes += received.bytes as u64;
        match msg {
            ServerMessage::Welcome(w) => {
                self.welcomed = true;
                self.me = w.player;
                self.slots = Slots::from_welcome(&w.skills);
                if !self.bot.welcomed_once {
                    self.bot.welcomed_once = true;
                    st.connected += 1;
                }
                if let Some(at) = self.bot.transfer_started.take() {
                    st.transfers.completed += 1;
                    let us = at.elapsed().as_micros().max(1) as u64;
                    let _ = st.rejoin_us.record(us);
                }
            }
            ServerMessage::Events(events) => {
                for e in events {
                    count_event(&mut st.gameplay, self.me, &e.kind);
                }
            }
            ServerMessage::Snapshot(snap) => match self.view.apply(&snap) {
                Ok(()) => {
                    st.snapshots += 1;
                    // A snapshot is observed when it reached this client's socket;
                    // the wait for the bot to get to it is the load generator's,
                    // reported apart (`bot_queue_ms`).
                    let read_at = received.at;
                    let queued = read_at.elapsed().as_micros() as u64;
                    let _ = st.bot_queue_us.record(queued.max(1));
                    let receipt = InputReceipt {
                        seq: snap.last_input_seq,
                        wait: snap.input_wait,
                    };
                    let verdict = self.schedule.on_snapshot(snap.tick, read_at, receipt);
                    st.inputs_late += u64::from(verdict.late == Some(true));
                    self.next_send = verdict.send_at;
                    while self.observed < self.view.last_input_seq {
                        self.observed += 1;
                        if let Some(t) = self.sent_at[self.observed as usize % SENT_RING].take() {
                            let us = read_at.duration_since(t).as_micros().max(1) as u64;
                            let _ = st.latency_us.record(us);
                        }
                    }
                }
                Err(ApplyError::Stale { .. }) => {}
                Err(e) => {
                    tracing::debug!(bot = i, "snapshot did not apply: {e}");
                    st.apply_errors += 1;
                    st.errors += 1;
                }
            },
            ServerMessage::Redirect(r) => {
                tracing::debug!(bot = i, zone = %r.zone_id, "redirected");
                st.transfers.redirects += 1;
                self.bot.transfer_started = Some(Instant::now());
                return Some(Ended::Redirect(r));
            }
            ServerMessage::Kick { reason, detail } => {
                tracing::debug!(bot = i, ?reason, "kicked: {detail}");
                *st.kicks.entry(format!("{reason:?}")).or_default() += 1;
                if reason == arcane_protocol::KickReason::NotOwner {
                    return Some(Ended::NotOwner);
                }
            }
            ServerMessage::Pong { .. } => {}
        }
        None
    }

    /// The run is over: the bot's view and lead go into the report.
    fn finish(&mut self) {
        let mut st = lock(&self.stats);
        st.view_sizes.push(self.view.entities().len());
        st.leads_us.push(self.schedule.lead().as_micros() as u64);
        self.ended = Some(Ended::Deadline);
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

/// Plays one connection until the deadline, a redirect or a close; hands back the
/// bot's state with how it ended (`None`: the QUIC endpoint's task stopped, and the
/// bot's state went with it).
async fn play(client: &mut Client, session: Session) -> Option<(BotState, Ended)> {
    let session = match client.quic_link() {
        Some(link) => play_quic(link, session).await?,
        None => play_ws(client, session).await,
    };
    let ended = session.ended.unwrap_or(Ended::Lost);
    Some((session.bot, ended))
}

/// A WebSocket bot: its own task waits for the next message, its input's due time
/// or the deadline.
async fn play_ws(client: &mut Client, mut session: Session) -> Session {
    let end = tokio::time::sleep_until(session.deadline.into());
    tokio::pin!(end);
    loop {
        let due = session.input_due();
        let input = async {
            match due {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut end => {
                session.finish();
                return session;
            }
            _ = input => {
                let msgs = session.input(Instant::now());
                if client.send(&msgs).await.is_err() {
                    session.ended = Some(Ended::Lost);
                    return session;
                }
            }
            incoming = client.recv() => {
                if let Some(end) = session.on_message(incoming) {
                    session.ended = Some(end);
                    return session;
                }
            }
        }
    }
}

/// A QUIC bot: the session runs inside the endpoint's task (see [`Session`]).
async fn play_quic(link: &mut crate::quic::QuicLink, session: Session) -> Option<Session> {
    let i = session.i;
    match link.drive(session).await {
        Ok(session) => Some(session),
        Err(e) => {
            tracing::debug!(bot = i, "the QUIC endpoint stopped: {e:#}");
            None
        }
    }
}

impl crate::quic::Handler for Session {
    fn on_incoming(&mut self, incoming: Incoming, _: &mut crate::quic::Outbox) -> Flow {
        // A snapshot may move the next input's due time: the endpoint's task asks
        // `wake_at` again after this, and the input goes from `on_wake`.
        match self.on_message(incoming) {
            Some(end) => {
                self.ended = Some(end);
                Flow::Stop
            }
            None => Flow::Continue,
        }
    }

    fn wake_at(&self) -> Option<Instant> {
        Some(
            self.input_due()
                .map_or(self.deadline, |t| t.min(self.deadline)),
        )
    }

    fn on_wake(&mut self, now: Instant, out: &mut crate::quic::Outbox) -> Flow {
        if now >= self.deadline {
            self.finish();
            return Flow::Stop;
        }
        if self.input_due().is_some_and(|t| t <= now) {
            let msgs = self.input(now);
            if out.send(&msgs).is_err() {
                self.ended = Some(Ended::Lost);
                return Flow::Stop;
            }
        }
        Flow::Continue
    }
}

/// Counts what an event says about bot `me`: its casts, hits, kills, deaths,
/// respawns and refused casts. Events about others nearby are ignored.
fn count_event(g: &mut GameplayFigures, me: NetId, kind: &EventKind) {
    match *kind {
        EventKind::CastStarted { caster, .. } if caster == me => g.casts += 1,
        EventKind::Damage { source, .. } if source == me => g.hits += 1,
        EventKind::Died { entity, .. } if entity == me => g.deaths += 1,
        EventKind::Died {
            killer: Some(k), ..
        } if k == me => g.kills += 1,
        EventKind::Respawned { entity } if entity == me => g.respawns += 1,
        EventKind::CastRejected { reason, .. } => {
            *g.cast_rejections
                .entry(reason.as_str().to_string())
                .or_default() += 1;
        }
        _ => {}
    }
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
            endpoints.get(i / BOTS_PER_ENDPOINT).cloned(),
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
