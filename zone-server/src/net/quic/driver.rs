//! The zone's QUIC endpoint: a [`Driver`] of `arcane_quic_io`'s endpoint loop that runs
//! the sessions on the connections.
//!
//! Why not quinn's own endpoint: it gives each connection a driver task, a mutex, a
//! timer and channels, and every packet in or out crosses them (a wake of the
//! connection's driver, then of the session task). With a thousand clients that was
//! most of the zone's QUIC time, and it made the tick's burst of snapshot datagrams
//! slow enough to delay the inputs that arrive behind it (`BENCHMARKS.md`). Here a
//! snapshot from the dispatcher goes into its connection's state machine and out of
//! the socket in one pass, an input datagram goes from the socket to the session's
//! frame handler without a task switch, and one heap holds every connection's next
//! timeout.
//!
//! Per connection: the QUIC handshake, then the client opens the one stream and sends
//! `Hello` (both within the handshake timeout); the join runs as its own task (it may
//! load the player from the database) and reports back; then the session runs until
//! either side closes. A kick is written on the stream and the connection closed once
//! the client has read it or a grace period passed, as over WebSocket.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arcane_protocol::{DATAGRAM_HEADER, KickReason, MAX_CLIENT_FRAME};
use arcane_quic_io::{ConnKey, Core, Driven, Driver, LoopConfig, earliest, stream_codec};
use arcane_service::CancellationToken;
use bytes::{BufMut, Bytes, BytesMut};
use quinn_proto::{
    Dir, Endpoint, EndpointConfig, Event, Incoming, SendDatagramError, StreamEvent, StreamId,
    VarInt,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::codec::{Decoder, LengthDelimitedCodec};

use super::link::{Link, Mailbox, Work};
use super::listener::QuicListener;
use crate::config::ZoneServerConfig;
use crate::metrics::{Metrics, kick_label};
use crate::net::outbox::DirectSnapshots as _;
use crate::net::session::{Refusal, Session, SessionContext, kick_frame};

/// Longest the reliable stream may stay blocked before the client counts as slow.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the connections' QUIC loss statistics are folded into the metrics.
const STATS_EVERY: Duration = Duration::from_secs(1);
/// How long a kicked client gets to read the kick before the connection is closed.
const KICK_READ_GRACE: Duration = Duration::from_secs(1);
/// Application close code (every kick uses it; the reason label says which).
const KICK_CODE: u32 = 1;
/// On shutdown, how long sessions get to deliver their own kicks before the rest are
/// closed, and how long the closes then get to leave.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
const CLOSE_FLUSH: Duration = Duration::from_millis(200);
/// How the endpoint loop paces the zone: up to 16 receive batches per wake before
/// their datagrams are handled; timeouts only when the timer rings.
pub const PACE: LoopConfig = LoopConfig {
    recv_batches: 16,
    serve_due_every: None,
};

/// A join that finished, for the endpoint task.
struct Joined {
    key: ConnKey,
    result: Result<Session, Refusal>,
}

struct Live {
    session: Session,
    span: tracing::Span,
}

enum Phase {
    /// The QUIC handshake, then the stream and `Hello`, until `deadline`.
    Opening {
        deadline: Instant,
    },
    /// `Hello` checked; the join task runs.
    Joining,
    Live(Box<Live>),
    /// A kick is on the stream; closed when the client closes or at `deadline`.
    Kicking {
        deadline: Instant,
        reason: &'static str,
        live: Option<Box<Live>>,
    },
    /// Closed (or lost); the state machine drains.
    Closed,
}

/// Folds a connection's QUIC statistics into the metrics as deltas.
#[derive(Default)]
struct StatsSeen {
    sent_packets: u64,
    lost_packets: u64,
    received_datagrams: u64,
}

impl StatsSeen {
    fn fold(&mut self, conn: &quinn_proto::Connection, metrics: &Metrics) {
        let stats = conn.stats();
        let (path, rx) = (stats.path, stats.udp_rx.datagrams);
        metrics
            .quic_packets_sent
            .inc_by(path.sent_packets.saturating_sub(self.sent_packets));
        metrics
            .quic_datagrams_received
            .inc_by(rx.saturating_sub(self.received_datagrams));
        self.received_datagrams = self.received_datagrams.max(rx);
        metrics
            .quic_packets_lost
            .inc_by(path.lost_packets.saturating_sub(self.lost_packets));
        self.sent_packets = self.sent_packets.max(path.sent_packets);
        self.lost_packets = self.lost_packets.max(path.lost_packets);
    }
}

struct Conn {
    key: ConnKey,
    proto: quinn_proto::Connection,
    phase: Phase,
    /// The QUIC handshake completed.
    connected: bool,
    /// A connection slot; `None` when the zone was full at the first packet (the
    /// client is told so once the handshake lets it read a reason).
    permit: Option<OwnedSemaphorePermit>,
    stream: Option<StreamId>,
    /// Stream bytes read and not yet taken as frames.
    inbuf: BytesMut,
    reader: LengthDelimitedCodec,
    /// Framed bytes waiting for room on the stream.
    out: VecDeque<Bytes>,
    blocked_since: Option<Instant>,
    link: Arc<Link>,
    seq: u32,
    stats: StatsSeen,
}

impl Driven for Conn {
    fn key(&self) -> ConnKey {
        self.key
    }

    fn proto(&mut self) -> &mut quinn_proto::Connection {
        &mut self.proto
    }

    /// The earliest of the state machine's timers and the session's own deadline.
    fn next_deadline(&mut self) -> Option<Instant> {
        let own = match &self.phase {
            Phase::Opening { deadline } | Phase::Kicking { deadline, .. } => Some(*deadline),
            Phase::Live(_) => self.blocked_since.map(|t| t + WRITE_TIMEOUT),
            Phase::Joining | Phase::Closed => None,
        };
        earliest(self.proto.poll_timeout(), own)
    }
}

impl Conn {
    fn live(&mut self) -> Option<&mut Live> {
        match &mut self.phase {
            Phase::Live(l) => Some(l),
            _ => None,
        }
    }
}

/// Accepts and serves QUIC connections until `shutdown` is cancelled, then closes them.
pub async fn serve(
    listener: QuicListener,
    ctx: Arc<SessionContext>,
    config: Arc<ZoneServerConfig>,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
) {
    let QuicListener {
        io, server_config, ..
    } = listener;
    let endpoint = Endpoint::new(
        Arc::new(EndpointConfig::default()),
        Some(server_config),
        !io.may_fragment(),
        None,
    );
    let (joined_tx, joined_rx) = mpsc::unbounded_channel();
    let mut stats = tokio::time::interval(STATS_EVERY);
    stats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let driver = ZoneDriver {
        mail: Arc::new(Mailbox::default()),
        joined_tx,
        joined_rx,
        metrics: ctx.metrics.clone(),
        ctx,
        config,
        slots,
        accepting: true,
        shutdown,
        stats,
        stop_at: None,
        closed_all: false,
        work: Vec::new(),
    };
    arcane_quic_io::run(Core::new(endpoint, io, PACE), driver).await;
}

struct ZoneDriver {
    mail: Arc<Mailbox>,
    joined_tx: mpsc::UnboundedSender<Joined>,
    joined_rx: mpsc::UnboundedReceiver<Joined>,
    ctx: Arc<SessionContext>,
    metrics: Arc<Metrics>,
    config: Arc<ZoneServerConfig>,
    slots: Arc<Semaphore>,
    accepting: bool,
    shutdown: CancellationToken,
    stats: tokio::time::Interval,
    /// Shutdown: when the sessions' own closes are done waiting.
    stop_at: Option<Instant>,
    /// The connections left at `stop_at` have been closed; the loop ends once those
    /// closes had their time.
    closed_all: bool,
    /// Scratch for the mail.
    work: Vec<Work>,
}

/// What woke the endpoint task besides the socket and the timers.
enum Wake {
    Shutdown,
    Mail,
    /// Boxed: a joined session is far larger than the other wakes.
    Joined(Box<Joined>),
    Stats,
}

impl Driver for ZoneDriver {
    type Conn = Conn;
    type Wake = Wake;

    async fn wait(&mut self) -> Wake {
        let stopping = self.stop_at.is_some();
        tokio::select! {
            biased;
            _ = self.shutdown.cancelled(), if !stopping => Wake::Shutdown,
            _ = self.mail.notify.notified() => Wake::Mail,
            Some(j) = self.joined_rx.recv() => Wake::Joined(Box::new(j)),
            _ = self.stats.tick() => Wake::Stats,
        }
    }

    fn on_wake(&mut self, core: &mut Core<Conn>, wake: Wake, now: Instant) {
        match wake {
            Wake::Shutdown => {
                // No new connections; sessions get their shutdown kicks from the
                // zone and close themselves meanwhile.
                self.accepting = false;
                core.endpoint.set_server_config(None);
                self.stop_at = Some(now + SHUTDOWN_GRACE);
            }
            Wake::Mail => self.take_mail(core, now),
            Wake::Joined(j) => self.on_joined(core, *j, now),
            Wake::Stats => {
                for c in core.conns.iter_mut() {
                    c.stats.fold(&c.proto, &self.metrics);
                }
            }
        }
    }

    fn on_incoming(&mut self, core: &mut Core<Conn>, incoming: Incoming, now: Instant) {
        if !self.accepting {
            core.refuse(incoming);
            return;
        }
        let permit = self.slots.clone().try_acquire_owned().ok();
        match core.accept(incoming, now) {
            Ok((h, proto)) => {
                let key = core.conns.new_key(h);
                core.conns.insert(Conn {
                    key,
                    proto,
                    phase: Phase::Opening {
                        deadline: now + self.config.handshake_timeout,
                    },
                    connected: false,
                    permit,
                    stream: None,
                    inbuf: BytesMut::new(),
                    reader: stream_codec(MAX_CLIENT_FRAME),
                    out: VecDeque::new(),
                    blocked_since: None,
                    link: Arc::new(Link::new(key, self.mail.clone())),
                    seq: 0,
                    stats: StatsSeen::default(),
                });
            }
            Err(cause) => {
                self.metrics.handshake_failure("tls");
                tracing::debug!("quic handshake refused: {cause}");
            }
        }
    }

    fn on_event(&mut self, c: &mut Conn, event: Event, now: Instant) {
        match event {
            Event::Connected => {
                c.connected = true;
                if c.permit.is_none() {
                    let reason = kick_label(KickReason::ZoneFull);
                    self.metrics.handshake_failure(reason);
                    self.close_now(c, now, KICK_CODE, reason);
                } else if let Phase::Opening { deadline } = &mut c.phase {
                    // A fresh allowance for the stream and Hello.
                    *deadline = now + self.config.handshake_timeout;
                }
            }
            Event::ConnectionLost { reason } => {
                if !c.connected {
                    self.metrics.handshake_failure("tls");
                    tracing::debug!("quic handshake failed: {reason}");
                }
                self.end_session(c);
            }
            Event::Stream(StreamEvent::Opened { dir: Dir::Bi }) => {
                if c.stream.is_none() {
                    c.stream = c.proto.streams().accept(Dir::Bi);
                    self.read_stream(c, now);
                }
            }
            Event::Stream(StreamEvent::Readable { .. }) => self.read_stream(c, now),
            Event::Stream(StreamEvent::Stopped { .. }) => {
                // The client stopped reading the stream: nothing reliable can reach it.
                self.close_now(c, now, 0, "closed");
            }
            Event::DatagramReceived => self.read_datagrams(c, now),
            Event::HandshakeDataReady
            | Event::DatagramsUnblocked
            | Event::Stream(
                StreamEvent::Opened { dir: Dir::Uni }
                | StreamEvent::Writable { .. }
                | StreamEvent::Finished { .. }
                | StreamEvent::Available { .. },
            ) => {}
        }
    }

    fn after_events(&mut self, c: &mut Conn, now: Instant) {
        self.write_stream(c, now);
    }

    fn after_pass(&mut self, c: &mut Conn, _now: Instant) {
        let max = c
            .proto
            .datagrams()
            .max_size()
            .unwrap_or(0)
            .saturating_sub(DATAGRAM_HEADER);
        c.link.max_len.store(max, Ordering::Relaxed);
    }

    /// The session's own deadlines: the handshake, the kick's grace, a stalled stream.
    fn on_timeout(&mut self, c: &mut Conn, now: Instant) {
        match &mut c.phase {
            Phase::Opening { deadline } if *deadline <= now => {
                if c.stream.is_some() {
                    let refusal = (
                        KickReason::Timeout,
                        "no Hello within the handshake timeout".to_string(),
                    );
                    self.ctx.refused_handshake(&refusal);
                    self.kick(c, now, refusal);
                } else {
                    self.metrics.handshake_failure("timeout");
                    self.close_now(c, now, KICK_CODE, "timeout");
                }
            }
            Phase::Kicking {
                deadline, reason, ..
            } if *deadline <= now => {
                let reason = *reason;
                self.close_now(c, now, KICK_CODE, reason);
            }
            Phase::Live(live) if c.blocked_since.is_some_and(|t| t + WRITE_TIMEOUT <= now) => {
                // The kick could not get through a stalled stream either. Counted
                // unless the tick already closed the session (and counted that).
                tracing::debug!("closing: the reliable stream stalled");
                let closed_now = live
                    .session
                    .outbox
                    .close(KickReason::SlowClient, "the connection stopped taking data");
                if closed_now {
                    self.metrics.kick(KickReason::SlowClient);
                }
                self.close_now(c, now, KICK_CODE, kick_label(KickReason::SlowClient));
            }
            _ => {}
        }
    }

    fn on_drained(&mut self, mut c: Box<Conn>) {
        self.end_session(&mut c);
    }

    fn deadline(&self) -> Option<Instant> {
        self.stop_at
    }

    /// The shutdown grace is over: close whoever is left, then give the closes a moment.
    fn on_deadline(&mut self, core: &mut Core<Conn>, now: Instant) {
        if self.closed_all {
            return;
        }
        for key in core.conns.keys() {
            if let Some(mut c) = core.conns.take(key) {
                if !matches!(c.phase, Phase::Closed) {
                    self.close_now(&mut c, now, KICK_CODE, "server_shutdown");
                }
                core.conns.put(c);
            }
        }
        self.closed_all = true;
        self.stop_at = Some(now + CLOSE_FLUSH);
    }

    fn finished(&self, core: &Core<Conn>, now: Instant) -> bool {
        let Some(at) = self.stop_at else {
            return false;
        };
        core.conns.is_empty() || (self.closed_all && now >= at)
    }

    /// Whoever is still in the zone leaves it.
    fn finish(&mut self, core: &mut Core<Conn>) {
        for key in core.conns.keys() {
            if let Some(mut c) = core.conns.take(key) {
                self.end_session(&mut c);
            }
        }
    }
}

impl ZoneDriver {
    fn take_mail(&mut self, core: &mut Core<Conn>, now: Instant) {
        let mut work = std::mem::take(&mut self.work);
        self.mail.take(&mut work);
        for w in work.drain(..) {
            match w {
                Work::Snapshot(key) => {
                    if let Some(mut c) = core.conns.take(key) {
                        if let Some(snapshot) = c.link.take_snapshot() {
                            self.send_snapshot(&mut c, snapshot);
                        }
                        core.conns.put(c);
                    }
                }
                Work::Wake(key) => {
                    if let Some(mut c) = core.conns.take(key) {
                        c.link.wake_taken();
                        self.drain_outbox(&mut c, now);
                        core.conns.put(c);
                    }
                }
            }
        }
        self.work = work;
    }

    /// Sends a snapshot as a datagram with its sequence header, or on the stream when
    /// it no longer fits one.
    fn send_snapshot(&mut self, c: &mut Conn, snapshot: Bytes) {
        if c.live().is_none() {
            return;
        }
        let m = &self.metrics;
        c.seq = c.seq.wrapping_add(1);
        let mut d = BytesMut::with_capacity(DATAGRAM_HEADER + snapshot.len());
        d.put_u32(c.seq);
        d.put_slice(&snapshot);
        m.snapshot_size.observe(snapshot.len() as f64);
        match c.proto.datagrams().send(d.freeze(), true) {
            Ok(()) => {
                m.quic.bytes_sent.inc_by(snapshot.len() as u64);
                m.quic.messages_sent.inc();
                m.snapshot_datagrams.inc();
            }
            Err(SendDatagramError::TooLarge) => {
                m.snapshot_stream_fallbacks.inc();
                self.queue_on_stream(c, snapshot);
            }
            // The client takes no datagrams: it cannot be served snapshots.
            Err(_) => {}
        }
    }

    fn queue_on_stream(&self, c: &mut Conn, frame: Bytes) {
        self.metrics.quic.bytes_sent.inc_by(frame.len() as u64);
        self.metrics.quic.messages_sent.inc();
        if let Some(framed) = arcane_quic_io::framed(frame, arcane_protocol::MAX_SERVER_FRAME) {
            c.out.push_back(framed);
        }
    }

    /// Everything the session's outbox holds: reliable frames on the stream, the
    /// snapshot as a datagram (or on the stream when too big), then a close.
    fn drain_outbox(&mut self, c: &mut Conn, now: Instant) {
        let Some(live) = c.live() else { return };
        let batch = live.session.outbox.take();
        for frame in batch.reliable {
            self.queue_on_stream(c, frame);
        }
        if let Some(s) = batch.snapshot {
            if s.len() <= c.link.max_len() {
                self.send_snapshot(c, s);
            } else {
                self.metrics.snapshot_stream_fallbacks.inc();
                self.metrics.snapshot_size.observe(s.len() as f64);
                self.queue_on_stream(c, s);
            }
        }
        if let Some(close) = batch.close {
            self.kick(c, now, close);
        }
    }

    fn on_joined(&mut self, core: &mut Core<Conn>, j: Joined, now: Instant) {
        let mut conn = core.conns.take(j.key);
        if let Some(c) = conn.take_if(|c| !matches!(c.phase, Phase::Joining)) {
            // Closed while the player joined: it drains as it was.
            core.conns.put(c);
        }
        match (conn, j.result) {
            (Some(mut c), Ok(session)) => {
                self.metrics.connections.inc();
                session.outbox.set_direct(c.link.clone());
                let span = tracing::info_span!(
                    "session",
                    zone = %self.ctx.zone_id,
                    player = session.player.0,
                    conn = session.conn,
                    transport = "quic"
                );
                c.phase = Phase::Live(Box::new(Live { session, span }));
                // What came while the player joined: the Welcome the zone queued,
                // the frames after Hello, the datagrams.
                self.drain_outbox(&mut c, now);
                self.read_stream(&mut c, now);
                self.read_datagrams(&mut c, now);
                core.conns.put(c);
            }
            (Some(mut c), Err(refusal)) => {
                self.ctx.refused_handshake(&refusal);
                self.kick(&mut c, now, refusal);
                core.conns.put(c);
            }
            (None, Ok(session)) => {
                // The connection went away while the player joined.
                let ctx = self.ctx.clone();
                tokio::spawn(async move { ctx.leave(&session).await });
            }
            (None, Err(_)) => {}
        }
    }

    /// Reads the stream while a frame can be used: the Hello, or a live session's
    /// frames. While the player joins the bytes stay in quinn-proto, within the
    /// stream's receive window.
    fn read_stream(&mut self, c: &mut Conn, now: Instant) {
        let Some(id) = c.stream else { return };
        let mut ended = false;
        while matches!(c.phase, Phase::Opening { .. } | Phase::Live(_)) {
            // Frames already read first; then at most a frame's worth more.
            self.take_frames(c, now);
            if !matches!(c.phase, Phase::Opening { .. } | Phase::Live(_)) {
                return;
            }
            let read =
                arcane_quic_io::read_stream(&mut c.proto, id, &mut c.inbuf, MAX_CLIENT_FRAME);
            ended |= read.ended;
            if !read.got {
                break;
            }
        }
        self.take_frames(c, now);
        if ended && matches!(c.phase, Phase::Opening { .. } | Phase::Live(_)) {
            // The client ended its stream: the session is over.
            self.close_now(c, now, 0, "closed");
        }
    }

    /// Handles the complete frames in `inbuf` while the phase takes them.
    fn take_frames(&mut self, c: &mut Conn, now: Instant) {
        loop {
            let opening = match c.phase {
                Phase::Opening { .. } => true,
                Phase::Live(_) => false,
                _ => return,
            };
            let frame = match c.reader.decode(&mut c.inbuf) {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(e) => {
                    let what = if opening { "first" } else { "stream" };
                    let refusal = (
                        KickReason::MalformedPackets,
                        format!("{what} frame refused: {e}"),
                    );
                    if opening {
                        self.ctx.refused_handshake(&refusal);
                        self.kick(c, now, refusal);
                    } else {
                        self.refuse(c, now, refusal);
                    }
                    return;
                }
            };
            self.metrics.quic.bytes_received.inc_by(frame.len() as u64);
            self.metrics.quic.messages_received.inc();
            if opening {
                self.on_hello(c, &frame, now);
                continue;
            }
            let Some(live) = c.live() else { return };
            let r = live
                .span
                .in_scope(|| self.ctx.on_frame(&mut live.session, &frame));
            if let Err(r) = r {
                self.refuse(c, now, r);
                return;
            }
        }
    }

    fn on_hello(&mut self, c: &mut Conn, frame: &[u8], now: Instant) {
        match self.ctx.check_hello(frame) {
            Ok((player, tier, role)) => {
                c.phase = Phase::Joining;
                let (ctx, tx, key) = (self.ctx.clone(), self.joined_tx.clone(), c.key);
                tokio::spawn(async move {
                    let result = ctx.join(player, tier, role).await;
                    if let Err(mpsc::error::SendError(Joined {
                        result: Ok(session),
                        ..
                    })) = tx.send(Joined { key, result })
                    {
                        // The endpoint task is gone: the player leaves again.
                        ctx.leave(&session).await;
                    }
                });
            }
            Err(refusal) => {
                self.ctx.refused_handshake(&refusal);
                self.kick(c, now, refusal);
            }
        }
    }

    fn read_datagrams(&mut self, c: &mut Conn, now: Instant) {
        let Phase::Live(live) = &mut c.phase else {
            // Kept (within the datagram receive buffer) until the session is live.
            return;
        };
        let Live { session, span } = &mut **live;
        let _entered = span.enter();
        let mut refused = None;
        while let Some(frame) = c.proto.datagrams().recv() {
            self.metrics.quic.bytes_received.inc_by(frame.len() as u64);
            self.metrics.quic.messages_received.inc();
            let r = if frame.len() > MAX_CLIENT_FRAME {
                self.ctx.on_malformed(session)
            } else {
                self.ctx.on_frame(session, &frame)
            };
            if let Err(r) = r {
                refused = Some(r);
                break;
            }
        }
        drop(_entered);
        if let Some(r) = refused {
            self.refuse(c, now, r);
        }
    }

    /// A live session broke a rule: count it and kick.
    fn refuse(&mut self, c: &mut Conn, now: Instant, r: Refusal) {
        tracing::debug!(reason = kick_label(r.0), "closing: {}", r.1);
        self.metrics.kick(r.0);
        self.kick(c, now, r);
    }

    /// Writes a kick on the stream (when there is one) and closes the connection once
    /// the client has read it (it closes its side) or after a grace period.
    fn kick(&mut self, c: &mut Conn, now: Instant, (reason, detail): Refusal) {
        let label = kick_label(reason);
        let Some(id) = c.stream else {
            self.close_now(c, now, KICK_CODE, label);
            return;
        };
        if matches!(c.phase, Phase::Kicking { .. } | Phase::Closed) {
            return;
        }
        self.queue_on_stream(c, kick_frame(reason, &detail));
        self.write_stream(c, now);
        let _ = c.proto.send_stream(id).finish();
        let live = match std::mem::replace(&mut c.phase, Phase::Closed) {
            Phase::Live(live) => Some(live),
            _ => None,
        };
        c.phase = Phase::Kicking {
            deadline: now + KICK_READ_GRACE,
            reason: label,
            live,
        };
    }

    /// Closes the connection now with `code` and `reason`, and ends its session.
    fn close_now(&mut self, c: &mut Conn, now: Instant, code: u32, reason: &'static str) {
        if !c.proto.is_closed() {
            c.proto.close(
                now,
                VarInt::from_u32(code),
                Bytes::from_static(reason.as_bytes()),
            );
        }
        self.end_session(c);
    }

    /// The connection is over: the player leaves the zone and the slot is free.
    fn end_session(&mut self, c: &mut Conn) {
        let live = match std::mem::replace(&mut c.phase, Phase::Closed) {
            Phase::Live(live) => Some(live),
            Phase::Kicking { live, .. } => live,
            _ => None,
        };
        c.permit = None;
        c.out.clear();
        c.blocked_since = None;
        c.stats.fold(&c.proto, &self.metrics);
        if let Some(live) = live {
            let (ctx, metrics) = (self.ctx.clone(), self.metrics.clone());
            tokio::spawn(async move {
                ctx.leave(&live.session).await;
                metrics.connections.dec();
            });
        }
    }

    /// Moves queued frames into the stream as far as its flow control allows, and
    /// notes since when it has been blocked.
    fn write_stream(&mut self, c: &mut Conn, now: Instant) {
        match c.stream {
            Some(id) => {
                arcane_quic_io::write_stream(&mut c.proto, id, &mut c.out);
            }
            None => c.out.clear(),
        }
        if c.out.is_empty() {
            c.blocked_since = None;
        } else if c.blocked_since.is_none() {
            c.blocked_since = Some(now);
        }
    }
}
