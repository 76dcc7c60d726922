//! One bot: its ticket, its connections (following redirects and logging in again),
//! and its play on one connection ([`Session`]), which has no I/O of its own.

use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arcane_protocol::ticket::{Role, TicketClaims, TicketKey};
use arcane_protocol::view::{ApplyError, ClientView};
use arcane_protocol::{
    BreedOutcome, BreedRefusal, CaptureOutcome, CastIntent, ClientMessage, EventKind, InputReceipt,
    MoveInput, NetId, ServerMessage,
};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::behaviour::{Behaviour, Slots, Walk, decide};
use crate::client::{Client, Incoming};
use crate::frame::Flow;
use crate::report::GameplayFigures;
use crate::schedule::InputSchedule;
use crate::social::SocialBot;
use crate::tamer::TamerRoster;

use super::{Links, Stats, SwarmConfig, lock, login_body};

/// QUIC bots per shared client endpoint. One task then runs every bot of a swarm (up
/// to this many), so it can put any bot's due input ahead of any snapshot still to
/// handle; fifty per endpoint left a due input waiting behind the other endpoints'
/// tasks when the host was slow (BENCHMARKS, "QUIC bots run inside their endpoint's
/// task").
pub(super) const BOTS_PER_ENDPOINT: usize = 1000;

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
pub(super) struct BotState {
    rng: ChaCha8Rng,
    /// A traveller's heading along x: +1 east, -1 west; flips at every transfer.
    heading: i8,
    /// Zone transfers this bot went through.
    crossed: u32,
    welcomed_once: bool,
    /// When the last redirect arrived, until the next zone welcomes the bot.
    transfer_started: Option<Instant>,
    /// A tamer's creatures, as the zone reported them.
    roster: TamerRoster,
    /// A social bot's chat plan and party.
    social: Option<SocialBot>,
}

/// What a bot's connections run on: its group's shared QUIC endpoint, or the swarm's
/// WebSocket poller (neither: a task of its own).
#[derive(Clone)]
pub(super) struct Carriers {
    pub(super) quic: Option<crate::quic::QuicEndpoint>,
    pub(super) ws_poller: Option<crate::ws_poll::WsPoller>,
}

/// Longest a bot keeps trying to get back into a zone after a transfer or re-login.
const REJOIN_FOR: Duration = Duration::from_secs(30);

pub(super) async fn run_bot(
    i: usize,
    cfg: Arc<SwarmConfig>,
    http: reqwest::Client,
    stats: Arc<Mutex<Stats>>,
    links: Rc<Links>,
    carriers: Carriers,
    deadline: Instant,
) {
    let mut bot = BotState {
        rng: ChaCha8Rng::seed_from_u64(i as u64),
        heading: 1,
        crossed: 0,
        welcomed_once: false,
        transfer_started: None,
        roster: TamerRoster::default(),
        social: (cfg.behaviour.for_bot(i) == Behaviour::Social && !cfg.chat_every.is_zero()).then(
            || {
                let peers: Vec<usize> = (0..cfg.bots)
                    .filter(|&j| cfg.behaviour.for_bot(j) == Behaviour::Social)
                    .collect();
                SocialBot::new(i, cfg.first_player, &peers, cfg.chat_every)
            },
        ),
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
                Ok(endpoint) => {
                    Client::join_via(&endpoint, &ticket, cfg.tier, carriers.quic.as_ref()).await
                }
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
        let Some((back, ended)) = play(&mut client, session, carriers.ws_poller.as_ref()).await
        else {
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
                bot.crossed += 1;
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
/// the zone, and which input it sends when. A WebSocket bot hands it to the swarm's
/// poller thread (`crate::ws_poll`), or with `ws_tasks` drives it from its own task
/// ([`play_ws`]); a QUIC bot hands it to its endpoint's task ([`play_quic`]). Both
/// run it between reads, so an input due while thousands of snapshots wait on the
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
    /// A tamer's capture and breed intents: their sequence, the zone tick before
    /// which it sends no other (the capture cooldown), whether it asked for its
    /// roster here, and the pair of its last breed intent.
    creature_seq: u32,
    next_creature_tick: u32,
    roster_asked: bool,
    breeding: Option<(u64, u64)>,
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
            creature_seq: 0,
            next_creature_tick: 0,
            roster_asked: false,
            breeding: None,
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
        let stats = self.stats.clone();
        let mut st = lock(&stats);
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
            // Social bots settle: odd ones cross into the next zone once, even ones
            // stay, so the swarm lives in two zones without crossing all the time.
            Walk::Travel
                if self.behaviour == Behaviour::Social
                    && (self.i.is_multiple_of(2) || bot.crossed > 0) =>
            {
                self.dir
            }
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
        if self.behaviour == Behaviour::Tamer {
            self.tame(decision.capture, &mut msgs, &mut st.gameplay);
        }
        if let Some(social) = &mut self.bot.social {
            msgs.extend(social.due(now, &mut st.social.figures));
        }
        msgs
    }

    /// A tamer's creature intents: its roster once per zone, then a capture when the
    /// decision names a target, else a breed of two ready creatures, one intent per
    /// capture cooldown (2 s).
    fn tame(
        &mut self,
        capture: Option<NetId>,
        msgs: &mut Vec<ClientMessage>,
        g: &mut GameplayFigures,
    ) {
        if !self.roster_asked {
            self.roster_asked = true;
            msgs.push(ClientMessage::RosterRequest);
            return;
        }
        let tick = self.view.tick;
        if tick < self.next_creature_tick {
            return;
        }
        if let Some(target) = capture {
            self.creature_seq += 1;
            msgs.push(ClientMessage::Capture {
                seq: self.creature_seq,
                target,
            });
            g.captures_sent += 1;
        } else if let Some((first, second)) = self.bot.roster.pick_pair(tick) {
            self.creature_seq += 1;
            msgs.push(ClientMessage::Breed {
                seq: self.creature_seq,
                first,
                second,
            });
            self.breeding = Some((first, second));
            g.breeds_sent += 1;
        } else {
            return;
        }
        self.next_creature_tick = tick + 40;
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
                self.bot.roster.reset();
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
                let hatched = self.bot.roster.hatched;
                for e in events {
                    count_event(&mut st.gameplay, self.me, &e.kind);
                    if let Some(social) = &mut self.bot.social {
                        social.on_event(&e.kind, received.at, &mut st.social);
                    }
                    self.bot.roster.on_event(&e.kind);
                    if let EventKind::BreedResult {
                        outcome:
                            BreedOutcome::Refused(BreedRefusal::Incompatible | BreedRefusal::Lineage),
                        ..
                    } = e.kind
                        && let Some(pair) = self.breeding
                    {
                        self.bot.roster.refuse(pair);
                    }
                }
                st.gameplay.hatches += self.bot.roster.hatched - hatched;
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
                    self.schedule.set_time_rate(self.view.time_rate);
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

/// Plays one connection until the deadline, a redirect or a close; hands back the
/// bot's state with how it ended (`None`: the QUIC endpoint's task or the WebSocket
/// poller stopped, and the bot's state went with it).
async fn play(
    client: &mut Client,
    session: Session,
    ws_poller: Option<&crate::ws_poll::WsPoller>,
) -> Option<(BotState, Ended)> {
    let session = if let Some(link) = client.quic_link() {
        play_quic(link, session).await?
    } else if let Some(poller) = ws_poller
        && let Some(ws) = client.take_ws()
    {
        let i = session.i;
        match poller.drive(ws, session).await {
            Ok(session) => session,
            Err(e) => {
                tracing::debug!(bot = i, "the WebSocket poller stopped: {e:#}");
                return None;
            }
        }
    } else {
        play_ws(client, session).await
    };
    let ended = session.ended.unwrap_or(Ended::Lost);
    Some((session.bot, ended))
}

/// A WebSocket bot: its own task waits for the next message, its input's due time
/// or the deadline. One input timer, moved only when the due time changes: a timer
/// made afresh per message (a timer-wheel insert and removal each) cost the swarm 4 %.
async fn play_ws(client: &mut Client, mut session: Session) -> Session {
    let end = tokio::time::sleep_until(session.deadline.into());
    tokio::pin!(end);
    let input = tokio::time::sleep_until(session.deadline.into());
    tokio::pin!(input);
    let mut armed = None;
    loop {
        let due = session.input_due();
        if due != armed {
            if let Some(at) = due {
                input.as_mut().reset(at.into());
            }
            armed = due;
        }
        tokio::select! {
            _ = &mut end => {
                session.finish();
                return session;
            }
            _ = input.as_mut(), if due.is_some() => {
                // Fired: whatever the next due time is, arm the timer for it.
                armed = None;
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

/// How the QUIC endpoint's task and the WebSocket poller run a bot.
impl crate::frame::Handler for Session {
    fn on_incoming(&mut self, incoming: Incoming, _: &mut crate::frame::Outbox) -> Flow {
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

    fn on_wake(&mut self, now: Instant, out: &mut crate::frame::Outbox) -> Flow {
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
/// respawns, refused casts, and its captures and breeds with their refusals. Events about others nearby are ignored.
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
        EventKind::CaptureResult { outcome, .. } => match outcome {
            CaptureOutcome::Captured { .. } => g.captures += 1,
            CaptureOutcome::Escaped => g.capture_escapes += 1,
            CaptureOutcome::Refused(r) => {
                *g.capture_refusals
                    .entry(r.as_str().to_string())
                    .or_default() += 1;
            }
        },
        EventKind::BreedResult { outcome, .. } => match outcome {
            BreedOutcome::EggLaid { .. } => g.breeds += 1,
            BreedOutcome::Refused(r) => {
                *g.breed_refusals.entry(r.as_str().to_string()).or_default() += 1;
            }
        },
        _ => {}
    }
}
