//! The zone's QUIC endpoint loop: one task owns the UDP socket, quinn-proto's endpoint
//! and every connection's state machine, and runs the sessions on them.
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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arcane_protocol::{DATAGRAM_HEADER, KickReason, MAX_CLIENT_FRAME};
use arcane_quic_io::{Alarm, ConnKey, Conns, Datagram, Driven, UdpIo, earliest, stream_codec};
use bytes::{BufMut, Bytes, BytesMut};
use quinn_proto::{
    ConnectionHandle, Dir, Endpoint, EndpointConfig, Event, SendDatagramError, StreamEvent,
    StreamId, Transmit, VarInt,
};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio_util::codec::{Decoder, LengthDelimitedCodec};

use crate::config::ZoneServerConfig;
use crate::metrics::{Metrics, kick_label};
use crate::outbox::{DirectSend, DirectSnapshots};
use crate::quic::QuicListener;
use crate::session::{Refusal, Session, SessionContext, kick_frame};

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
/// Receive batches per wake before the loop sends what they produced.
const RECV_BATCHES_PER_TURN: usize = 16;

/// Work for the endpoint task from the dispatcher and the tick thread. Each names a
/// connection whose [`Link`] has something; a link has at most one of each kind in
/// the mailbox, so a stalled endpoint task leaves a bounded mailbox behind (two items
/// per connection), never a queue of stale snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    /// The link holds a snapshot to send as a datagram.
    Snapshot(ConnKey),
    /// The outbox has reliable frames, a close, or a snapshot too big for a datagram.
    Wake(ConnKey),
}

#[derive(Default)]
struct Mailbox {
    work: Mutex<Vec<Work>>,
    notify: Notify,
}

impl Mailbox {
    fn post(&self, work: Work) {
        let first = {
            let mut q = self.work.lock().unwrap_or_else(|e| e.into_inner());
            q.push(work);
            q.len() == 1
        };
        // Later posts find the endpoint task already woken and not yet drained.
        if first {
            self.notify.notify_one();
        }
    }

    fn take(&self, into: &mut Vec<Work>) {
        std::mem::swap(
            into,
            &mut *self.work.lock().unwrap_or_else(|e| e.into_inner()),
        );
    }
}

/// A connection's side of its outbox: the dispatcher's snapshots and the writer
/// wakes go to the endpoint task's mailbox.
struct Link {
    key: ConnKey,
    mail: Arc<Mailbox>,
    /// The largest snapshot a datagram carries now (after the sequence header).
    max_len: AtomicUsize,
    /// The snapshot handed over and not yet taken by the endpoint task (one at most:
    /// the outbox keeps any newer one, and its stale count kicks a client whose
    /// snapshots stop leaving, as over WebSocket).
    snapshot: Mutex<Option<Bytes>>,
    /// A `Work::Wake` for this link is in the mailbox and not yet taken.
    wake_posted: AtomicBool,
}

impl Link {
    fn new(key: ConnKey, mail: Arc<Mailbox>) -> Self {
        Link {
            key,
            mail,
            max_len: AtomicUsize::new(0),
            snapshot: Mutex::new(None),
            wake_posted: AtomicBool::new(false),
        }
    }

    /// The endpoint task takes the snapshot a `Work::Snapshot` announced.
    fn take_snapshot(&self) -> Option<Bytes> {
        self.snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// The endpoint task takes a `Work::Wake`: later wakes post a new one. Cleared
    /// before the outbox is read, so a frame queued meanwhile is never left unwoken.
    fn wake_taken(&self) {
        self.wake_posted.store(false, Ordering::Release);
    }
}

impl DirectSnapshots for Link {
    fn max_len(&self) -> usize {
        self.max_len.load(Ordering::Relaxed)
    }

    fn send(&self, snapshot: Bytes) -> DirectSend {
        {
            let mut slot = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_some() {
                // The endpoint task has not sent the last one: the outbox keeps this
                // one (replacing it with the next) and counts the client as behind.
                return DirectSend::Refused(snapshot);
            }
            *slot = Some(snapshot);
        }
        self.mail.post(Work::Snapshot(self.key));
        DirectSend::Sent
    }

    fn wake_writer(&self) -> bool {
        if !self.wake_posted.swap(true, Ordering::AcqRel) {
            self.mail.post(Work::Wake(self.key));
        }
        true
    }
}

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
}

impl StatsSeen {
    fn fold(&mut self, conn: &quinn_proto::Connection, metrics: &Metrics) {
        let path = conn.stats().path;
        metrics
            .quic_packets_sent
            .inc_by(path.sent_packets.saturating_sub(self.sent_packets));
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

/// Accepts and serves QUIC connections until `shutdown` turns true, then closes them.
pub async fn serve(
    listener: QuicListener,
    ctx: Arc<SessionContext>,
    config: Arc<ZoneServerConfig>,
    slots: Arc<Semaphore>,
    shutdown: watch::Receiver<bool>,
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
    let driver = Driver {
        endpoint,
        io,
        conns: Conns::default(),
        due: Vec::new(),
        mail: Arc::new(Mailbox::default()),
        joined_tx,
        joined_rx,
        metrics: ctx.metrics.clone(),
        ctx,
        config,
        slots,
        accepting: true,
        response_buf: Vec::new(),
        received: Vec::new(),
        work: Vec::new(),
    };
    driver.run(shutdown).await;
}

struct Driver {
    endpoint: Endpoint,
    io: UdpIo,
    conns: Conns<Conn>,
    /// Connections whose timeout is due (scratch).
    due: Vec<ConnKey>,
    mail: Arc<Mailbox>,
    joined_tx: mpsc::UnboundedSender<Joined>,
    joined_rx: mpsc::UnboundedReceiver<Joined>,
    ctx: Arc<SessionContext>,
    metrics: Arc<Metrics>,
    config: Arc<ZoneServerConfig>,
    slots: Arc<Semaphore>,
    accepting: bool,
    response_buf: Vec<u8>,
    received: Vec<Datagram>,
    work: Vec<Work>,
}

/// What woke the endpoint task.
enum Wake {
    Shutdown,
    Readable,
    Mail,
    Joined(Joined),
    Timer,
    Stats,
    Writable,
}

impl Driver {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut stats = tokio::time::interval(STATS_EVERY);
        stats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut alarm = Alarm::default();
        // Shutdown: when the sessions' own closes are done waiting, and whether the
        // rest have been closed.
        let mut stop_at: Option<Instant> = None;
        let mut closed_all = false;
        loop {
            alarm.set(earliest(self.conns.next_timeout(), stop_at));
            let wake = tokio::select! {
                biased;
                _ = shutdown.wait_for(|s| *s), if stop_at.is_none() => Wake::Shutdown,
                r = self.io.readable() => match r {
                    Ok(()) => Wake::Readable,
                    Err(e) => {
                        tracing::error!("the QUIC socket failed: {e}");
                        break;
                    }
                },
                _ = self.mail.notify.notified() => Wake::Mail,
                Some(j) = self.joined_rx.recv() => Wake::Joined(j),
                _ = alarm.ring() => Wake::Timer,
                _ = stats.tick() => Wake::Stats,
                _ = self.io.writable() => Wake::Writable,
            };
            let now = Instant::now();
            match wake {
                Wake::Shutdown => {
                    // No new connections; sessions get their shutdown kicks from the
                    // zone and close themselves meanwhile.
                    self.accepting = false;
                    self.endpoint.set_server_config(None);
                    stop_at = Some(now + SHUTDOWN_GRACE);
                }
                Wake::Readable => self.receive(now),
                Wake::Mail => self.take_mail(now),
                Wake::Joined(j) => self.on_joined(j, now),
                Wake::Timer => self.expire(now),
                Wake::Stats => {
                    for c in self.conns.iter_mut() {
                        c.stats.fold(&c.proto, &self.metrics);
                    }
                }
                Wake::Writable => self.io.send_backlog(),
            }
            self.flush(now);
            if let Some(at) = stop_at {
                if self.conns.is_empty() {
                    break;
                }
                if now >= at {
                    if closed_all {
                        break;
                    }
                    for key in self.conns.keys() {
                        if let Some(mut c) = self.conns.take(key) {
                            if !matches!(c.phase, Phase::Closed) {
                                self.close_now(&mut c, now, KICK_CODE, "server_shutdown");
                            }
                            self.conns.put(c);
                        }
                    }
                    self.flush(now);
                    closed_all = true;
                    stop_at = Some(now + CLOSE_FLUSH);
                }
            }
        }
        // Whoever is still in the zone leaves it.
        for key in self.conns.keys() {
            if let Some(mut c) = self.conns.take(key) {
                self.end_session(&mut c);
            }
        }
    }

    /// Reads every datagram waiting on the socket (a bounded number of batches).
    fn receive(&mut self, now: Instant) {
        let mut received = std::mem::take(&mut self.received);
        self.io.receive(RECV_BATCHES_PER_TURN, &mut received);
        for d in received.drain(..) {
            self.on_datagram(now, d);
        }
        self.received = received;
    }

    fn on_datagram(&mut self, now: Instant, d: Datagram) {
        let routed = self.conns.route(
            &mut self.endpoint,
            &mut self.io,
            d,
            now,
            &mut self.response_buf,
        );
        let Some(incoming) = routed else { return };
        self.response_buf.clear();
        if !self.accepting {
            let t = self.endpoint.refuse(incoming, &mut self.response_buf);
            self.send_response(&t);
            return;
        }
        let permit = self.slots.clone().try_acquire_owned().ok();
        match self
            .endpoint
            .accept(incoming, now, &mut self.response_buf, None)
        {
            Ok((h, proto)) => self.add(h, proto, permit, now),
            Err(e) => {
                self.metrics.handshake_failure("tls");
                tracing::debug!("quic handshake refused: {}", e.cause);
                if let Some(t) = e.response {
                    self.send_response(&t);
                }
            }
        }
    }

    fn add(
        &mut self,
        h: ConnectionHandle,
        proto: quinn_proto::Connection,
        permit: Option<OwnedSemaphorePermit>,
        now: Instant,
    ) {
        let key = self.conns.new_key(h);
        self.conns.insert(Conn {
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

    fn take_mail(&mut self, now: Instant) {
        let mut work = std::mem::take(&mut self.work);
        self.mail.take(&mut work);
        for w in work.drain(..) {
            match w {
                Work::Snapshot(key) => {
                    if let Some(mut c) = self.conns.take(key) {
                        if let Some(snapshot) = c.link.take_snapshot() {
                            self.send_snapshot(&mut c, snapshot);
                        }
                        self.conns.put(c);
                    }
                }
                Work::Wake(key) => {
                    if let Some(mut c) = self.conns.take(key) {
                        c.link.wake_taken();
                        self.drain_outbox(&mut c, now);
                        self.conns.put(c);
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

    fn on_joined(&mut self, j: Joined, now: Instant) {
        let mut conn = self.conns.take(j.key);
        if let Some(c) = conn.take_if(|c| !matches!(c.phase, Phase::Joining)) {
            // Closed while the player joined: it drains as it was.
            self.conns.put(c);
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
                self.conns.put(c);
            }
            (Some(mut c), Err(refusal)) => {
                self.ctx.refused_handshake(&refusal);
                self.kick(&mut c, now, refusal);
                self.conns.put(c);
            }
            (None, Ok(session)) => {
                // The connection went away while the player joined.
                let ctx = self.ctx.clone();
                tokio::spawn(async move { ctx.leave(&session).await });
            }
            (None, Err(_)) => {}
        }
    }

    /// Runs the timeouts that are due.
    fn expire(&mut self, now: Instant) {
        let mut due = std::mem::take(&mut self.due);
        self.conns.expire(now, &mut due);
        for key in due.drain(..) {
            if let Some(mut c) = self.conns.take(key) {
                c.proto.handle_timeout(now);
                self.on_deadline(&mut c, now);
                self.conns.put(c);
            }
        }
        self.due = due;
    }

    /// The session's own deadlines: the handshake, the kick's grace, a stalled stream.
    fn on_deadline(&mut self, c: &mut Conn, now: Instant) {
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
            Phase::Live(_) if c.blocked_since.is_some_and(|t| t + WRITE_TIMEOUT <= now) => {
                // The kick could not get through a stalled stream either.
                tracing::debug!("closing: the reliable stream stalled");
                self.metrics.kick(KickReason::SlowClient);
                self.close_now(c, now, KICK_CODE, kick_label(KickReason::SlowClient));
            }
            _ => {}
        }
    }

    /// Processes the connections that had something happen.
    fn flush(&mut self, now: Instant) {
        while let Some(mut c) = self.conns.next_dirty() {
            self.process(&mut c, now);
            if let Some(mut drained) = self.conns.done(c) {
                self.end_session(&mut drained);
            }
        }
    }

    /// One pass over a connection: its events, its stream, its packets out and its
    /// endpoint events ([`Conns::done`] then arms its next timeout).
    fn process(&mut self, c: &mut Conn, now: Instant) {
        loop {
            while let Some(event) = c.proto.poll() {
                self.on_event(c, event, now);
            }
            self.write_stream(c, now);
            self.io.transmit(&mut c.proto, now);
            if !arcane_quic_io::forward_endpoint_events(&mut self.endpoint, c.key, &mut c.proto) {
                break;
            }
        }
        let max = c
            .proto
            .datagrams()
            .max_size()
            .unwrap_or(0)
            .saturating_sub(DATAGRAM_HEADER);
        c.link.max_len.store(max, Ordering::Relaxed);
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
                    if opening {
                        let refusal = (
                            KickReason::MalformedPackets,
                            format!("first frame refused: {e}"),
                        );
                        self.ctx.refused_handshake(&refusal);
                        self.kick(c, now, refusal);
                    } else {
                        let refusal = (
                            KickReason::MalformedPackets,
                            format!("stream frame refused: {e}"),
                        );
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

    fn send_response(&mut self, t: &Transmit) {
        self.io.send(t, &self.response_buf[..t.size]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::{MAX_STALE_SNAPSHOTS, Offer, Outbox};

    fn mail_len(mail: &Mailbox) -> usize {
        mail.work.lock().unwrap().len()
    }

    /// The endpoint task stalls (it takes no mail) while the tick goes on: the mailbox
    /// stays at one snapshot and one wake, the outbox keeps only the newest snapshot,
    /// and the client is closed as too slow, as a WebSocket client would be.
    #[test]
    fn a_stalled_endpoint_task_leaves_a_bounded_mailbox_and_a_slow_client_kick() {
        let mail = Arc::new(Mailbox::default());
        let key = ConnKey { slot: 3, id: 7 };
        let link = Arc::new(Link::new(key, mail.clone()));
        link.max_len.store(1200, Ordering::Relaxed);
        let outbox = Outbox::new();
        outbox.set_direct(link.clone());
        let snapshot = |tick: u8| Bytes::from(vec![tick; 16]);

        // Tick 1 goes to the link and is announced once.
        assert_eq!(outbox.offer_snapshot(snapshot(1)), Offer::Queued);
        outbox.dispatch();
        assert_eq!(*mail.work.lock().unwrap(), vec![Work::Snapshot(key)]);

        // The endpoint task does not run for a while.
        let mut offers = Vec::new();
        for tick in 2..=u8::try_from(MAX_STALE_SNAPSHOTS + 5).unwrap() {
            let offer = outbox.offer_snapshot(snapshot(tick));
            offers.push(offer);
            if offer == Offer::Queued {
                outbox.dispatch();
            }
            assert!(
                mail_len(&mail) <= 2,
                "tick {tick}: {} items",
                mail_len(&mail)
            );
        }
        assert!(
            offers.contains(&Offer::TooSlow),
            "never kicked as slow: {offers:?}"
        );

        // When it runs again it finds the oldest snapshot in the link and, behind the
        // wake, the newest in the outbox with the kick.
        let mut work = Vec::new();
        mail.take(&mut work);
        assert_eq!(work, vec![Work::Snapshot(key), Work::Wake(key)]);
        assert_eq!(link.take_snapshot(), Some(snapshot(1)));
        link.wake_taken();
        let batch = outbox.take();
        assert!(batch.snapshot.is_some_and(|s| s[0] > 2));
        assert_eq!(batch.close.map(|c| c.0), Some(KickReason::SlowClient));

        // Drained, the link takes the next snapshot straight away again.
        let fresh = Outbox::new();
        fresh.set_direct(link.clone());
        assert_eq!(fresh.offer_snapshot(snapshot(99)), Offer::Queued);
        fresh.dispatch();
        assert_eq!(*mail.work.lock().unwrap(), vec![Work::Snapshot(key)]);
        assert_eq!(link.take_snapshot(), Some(snapshot(99)));
    }
}
