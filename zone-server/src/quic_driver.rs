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

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, IoSliceMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arcane_protocol::{DATAGRAM_HEADER, KickReason, MAX_CLIENT_FRAME};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use quinn_proto::{
    ConnectionHandle, DatagramEvent, Dir, EcnCodepoint, Endpoint, EndpointConfig, Event, ReadError,
    SendDatagramError, StreamEvent, StreamId, Transmit, VarInt,
};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

use crate::config::ZoneServerConfig;
use crate::metrics::{Metrics, kick_label};
use crate::outbox::{DirectSend, DirectSnapshots};
use crate::quic::{QuicListener, stream_codec};
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
/// Receive buffer per batch slot: a GRO batch is at most 64 KiB.
const RECV_SLOT: usize = 64 * 1024;
/// Receive batches per wake before the loop sends what they produced.
const RECV_BATCHES_PER_TURN: usize = 16;
/// Packets held while the socket's send buffer is full; beyond it they are dropped
/// (QUIC's loss recovery resends what matters).
const MAX_BACKLOG: usize = 8192;

/// Which connection, across the reuse of quinn-proto's connection slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ConnKey {
    slot: usize,
    id: u64,
}

/// Work for the endpoint task from the dispatcher and the tick thread.
enum Work {
    /// A snapshot to send as a datagram.
    Snapshot(ConnKey, Bytes),
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
}

impl DirectSnapshots for Link {
    fn max_len(&self) -> usize {
        self.max_len.load(Ordering::Relaxed)
    }

    fn send(&self, snapshot: Bytes) -> DirectSend {
        self.mail.post(Work::Snapshot(self.key, snapshot));
        DirectSend::Sent
    }

    fn wake_writer(&self) -> bool {
        self.mail.post(Work::Wake(self.key));
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
    /// The earliest time this connection has in the timer heap.
    armed: Option<Instant>,
    dirty: bool,
    link: Arc<Link>,
    seq: u32,
    stats: StatsSeen,
}

impl Conn {
    /// The earliest of the state machine's timers and the session's own deadline.
    fn next_deadline(&mut self) -> Option<Instant> {
        let own = match &self.phase {
            Phase::Opening { deadline } | Phase::Kicking { deadline, .. } => Some(*deadline),
            Phase::Live(_) => self.blocked_since.map(|t| t + WRITE_TIMEOUT),
            Phase::Joining | Phase::Closed => None,
        };
        match (self.proto.poll_timeout(), own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

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
        socket,
        udp,
        server_config,
        ..
    } = listener;
    let endpoint = Endpoint::new(
        Arc::new(EndpointConfig::default()),
        Some(server_config),
        !udp.may_fragment(),
        None,
    );
    let (joined_tx, joined_rx) = mpsc::unbounded_channel();
    let driver = Driver {
        endpoint,
        max_segments: udp.max_gso_segments(),
        socket,
        udp,
        conns: Vec::new(),
        timers: BinaryHeap::new(),
        dirty: Vec::new(),
        next_id: 0,
        mail: Arc::new(Mailbox::default()),
        joined_tx,
        joined_rx,
        metrics: ctx.metrics.clone(),
        ctx,
        config,
        slots,
        accepting: true,
        send_buf: Vec::new(),
        response_buf: Vec::new(),
        recv_buf: vec![0; RECV_SLOT * quinn_udp::BATCH_SIZE].into_boxed_slice(),
        backlog: VecDeque::new(),
        work: Vec::new(),
    };
    driver.run(shutdown).await;
}

struct Driver {
    endpoint: Endpoint,
    socket: UdpSocket,
    udp: quinn_udp::UdpSocketState,
    max_segments: usize,
    /// By quinn-proto's connection handle. Boxed: a connection's state machine is
    /// kilobytes, and a connection is taken out of its slot for every pass.
    conns: Vec<Option<Box<Conn>>>,
    /// (when, slot, connection id); stale entries are skipped when they come up.
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    dirty: Vec<usize>,
    next_id: u64,
    mail: Arc<Mailbox>,
    joined_tx: mpsc::UnboundedSender<Joined>,
    joined_rx: mpsc::UnboundedReceiver<Joined>,
    ctx: Arc<SessionContext>,
    metrics: Arc<Metrics>,
    config: Arc<ZoneServerConfig>,
    slots: Arc<Semaphore>,
    accepting: bool,
    send_buf: Vec<u8>,
    response_buf: Vec<u8>,
    recv_buf: Box<[u8]>,
    /// Packets the socket refused for now (its send buffer was full).
    backlog: VecDeque<(Transmit, Vec<u8>)>,
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
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut timer_at: Option<Instant> = None;
        // Shutdown: when the sessions' own closes are done waiting, and whether the
        // rest have been closed.
        let mut stop_at: Option<Instant> = None;
        let mut closed_all = false;
        loop {
            let next = match (self.timers.peek().map(|Reverse((t, ..))| *t), stop_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if next != timer_at {
                if let Some(t) = next {
                    timer.as_mut().reset(t.into());
                }
                timer_at = next;
            }
            let wake = tokio::select! {
                biased;
                _ = shutdown.wait_for(|s| *s), if stop_at.is_none() => Wake::Shutdown,
                r = self.socket.readable() => match r {
                    Ok(()) => Wake::Readable,
                    Err(e) => {
                        tracing::error!("the QUIC socket failed: {e}");
                        break;
                    }
                },
                _ = self.mail.notify.notified() => Wake::Mail,
                Some(j) = self.joined_rx.recv() => Wake::Joined(j),
                _ = &mut timer, if timer_at.is_some() => Wake::Timer,
                _ = stats.tick() => Wake::Stats,
                r = self.socket.writable(), if !self.backlog.is_empty() => match r {
                    Ok(()) => Wake::Writable,
                    Err(_) => Wake::Writable,
                },
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
                Wake::Timer => {
                    timer_at = None;
                    self.expire(now);
                }
                Wake::Stats => {
                    for c in self.conns.iter_mut().flatten() {
                        c.stats.fold(&c.proto, &self.metrics);
                    }
                }
                Wake::Writable => self.send_backlog(),
            }
            self.flush(now);
            if let Some(at) = stop_at {
                if self.conns.iter().all(Option::is_none) {
                    break;
                }
                if now >= at {
                    if closed_all {
                        break;
                    }
                    for slot in 0..self.conns.len() {
                        if let Some(mut c) = self.conns[slot].take() {
                            if !matches!(c.phase, Phase::Closed) {
                                self.close_now(&mut c, now, KICK_CODE, "server_shutdown");
                            }
                            self.put(slot, c);
                        }
                    }
                    self.flush(now);
                    closed_all = true;
                    stop_at = Some(now + CLOSE_FLUSH);
                }
            }
        }
        // Whoever is still in the zone leaves it.
        for slot in 0..self.conns.len() {
            if let Some(mut c) = self.conns[slot].take() {
                self.end_session(&mut c);
            }
        }
    }

    fn new_key(&mut self, slot: usize) -> ConnKey {
        self.next_id += 1;
        ConnKey {
            slot,
            id: self.next_id,
        }
    }

    /// Takes the connection `key` names out of its slot, if it is still there.
    fn take(&mut self, key: ConnKey) -> Option<Box<Conn>> {
        let slot = self.conns.get_mut(key.slot)?;
        if slot.as_ref().is_some_and(|c| c.key == key) {
            slot.take()
        } else {
            None
        }
    }

    /// Puts a connection back and queues it for a pass of [`Driver::process`].
    fn put(&mut self, slot: usize, mut c: Box<Conn>) {
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(slot);
        }
        self.conns[slot] = Some(c);
    }

    fn mark(&mut self, slot: usize) {
        if let Some(c) = self.conns[slot].as_mut()
            && !c.dirty
        {
            c.dirty = true;
            self.dirty.push(slot);
        }
    }

    /// Reads every datagram waiting on the socket (a bounded number of batches).
    fn receive(&mut self, now: Instant) {
        let mut buf = std::mem::take(&mut self.recv_buf);
        let mut metas = [quinn_udp::RecvMeta::default(); quinn_udp::BATCH_SIZE];
        let mut iovs: Vec<IoSliceMut> = buf.chunks_mut(RECV_SLOT).map(IoSliceMut::new).collect();
        for _ in 0..RECV_BATCHES_PER_TURN {
            let (socket, udp) = (&self.socket, &self.udp);
            let got = socket.try_io(Interest::READABLE, || {
                udp.recv(socket.into(), &mut iovs, &mut metas)
            });
            let n = match got {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // An ICMP error from a gone client, and the like: not fatal.
                    tracing::debug!("QUIC receive: {e}");
                    continue;
                }
            };
            for (meta, iov) in metas.iter().zip(iovs.iter()).take(n) {
                let mut data = BytesMut::from(&iov[..meta.len]);
                while !data.is_empty() {
                    let one = data.split_to(meta.stride.min(data.len()));
                    self.on_datagram(now, meta, one);
                }
            }
        }
        self.recv_buf = buf;
    }

    fn on_datagram(&mut self, now: Instant, meta: &quinn_udp::RecvMeta, data: BytesMut) {
        self.response_buf.clear();
        let ecn = meta.ecn.map(|e| match e {
            quinn_udp::EcnCodepoint::Ect0 => EcnCodepoint::Ect0,
            quinn_udp::EcnCodepoint::Ect1 => EcnCodepoint::Ect1,
            quinn_udp::EcnCodepoint::Ce => EcnCodepoint::Ce,
        });
        let event = self.endpoint.handle(
            now,
            meta.addr,
            meta.dst_ip,
            ecn,
            data,
            &mut self.response_buf,
        );
        match event {
            Some(DatagramEvent::ConnectionEvent(h, event)) => {
                if let Some(Some(c)) = self.conns.get_mut(h.0) {
                    c.proto.handle_event(event);
                    self.mark(h.0);
                }
            }
            Some(DatagramEvent::NewConnection(incoming)) => {
                if !self.accepting {
                    self.response_buf.clear();
                    let t = self.endpoint.refuse(incoming, &mut self.response_buf);
                    self.send_response(&t);
                    return;
                }
                let permit = self.slots.clone().try_acquire_owned().ok();
                self.response_buf.clear();
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
            Some(DatagramEvent::Response(t)) => self.send_response(&t),
            None => {}
        }
    }

    fn add(
        &mut self,
        h: ConnectionHandle,
        proto: quinn_proto::Connection,
        permit: Option<OwnedSemaphorePermit>,
        now: Instant,
    ) {
        let key = self.new_key(h.0);
        if self.conns.len() <= h.0 {
            self.conns.resize_with(h.0 + 1, || None);
        }
        let c = Box::new(Conn {
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
            armed: None,
            dirty: false,
            link: Arc::new(Link {
                key,
                mail: self.mail.clone(),
                max_len: AtomicUsize::new(0),
            }),
            seq: 0,
            stats: StatsSeen::default(),
        });
        self.put(h.0, c);
    }

    fn take_mail(&mut self, now: Instant) {
        let mut work = std::mem::take(&mut self.work);
        self.mail.take(&mut work);
        for w in work.drain(..) {
            match w {
                Work::Snapshot(key, snapshot) => {
                    if let Some(mut c) = self.take(key) {
                        self.send_snapshot(&mut c, snapshot);
                        self.put(key.slot, c);
                    }
                }
                Work::Wake(key) => {
                    if let Some(mut c) = self.take(key) {
                        self.drain_outbox(&mut c, now);
                        self.put(key.slot, c);
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
        let mut framed = BytesMut::with_capacity(4 + frame.len());
        if stream_codec(arcane_protocol::MAX_SERVER_FRAME)
            .encode(frame, &mut framed)
            .is_ok()
        {
            c.out.push_back(framed.freeze());
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
        let mut conn = self.take(j.key);
        if let Some(c) = conn.take_if(|c| !matches!(c.phase, Phase::Joining)) {
            // Closed while the player joined: it drains as it was.
            self.put(j.key.slot, c);
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
                self.put(j.key.slot, c);
            }
            (Some(mut c), Err(refusal)) => {
                self.ctx.refused_handshake(&refusal);
                self.kick(&mut c, now, refusal);
                self.put(j.key.slot, c);
            }
            (None, Ok(session)) => {
                // The connection went away while the player joined.
                let ctx = self.ctx.clone();
                tokio::spawn(async move { ctx.leave(&session).await });
            }
            (None, Err(_)) => {}
        }
    }

    /// Runs the timers that are due.
    fn expire(&mut self, now: Instant) {
        while let Some(&Reverse((at, slot, id))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let key = ConnKey { slot, id };
            let Some(mut c) = self.take(key) else {
                continue;
            };
            if c.armed == Some(at) {
                c.armed = None;
                c.proto.handle_timeout(now);
                self.on_deadline(&mut c, now);
            }
            self.put(slot, c);
        }
        // Stale entries (a connection's timer moved earlier) go when they come up;
        // when they pile up, rebuild from the armed ones.
        if self.timers.len() > 4 * self.conns.len() + 4096 {
            self.timers = self
                .conns
                .iter()
                .flatten()
                .filter_map(|c| c.armed.map(|t| Reverse((t, c.key.slot, c.key.id))))
                .collect();
        }
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
        while let Some(slot) = self.dirty.pop() {
            let Some(mut c) = self.conns[slot].take() else {
                continue;
            };
            c.dirty = false;
            self.process(&mut c, now);
            if c.proto.is_drained() {
                // quinn-proto has let go of the handle too (its Drained event was
                // forwarded in `process`).
                self.end_session(&mut c);
                continue;
            }
            self.conns[slot] = Some(c);
        }
    }

    /// One pass over a connection: its events, its stream, its packets out, its
    /// endpoint events, and its next timeout.
    fn process(&mut self, c: &mut Conn, now: Instant) {
        let handle = ConnectionHandle(c.key.slot);
        loop {
            while let Some(event) = c.proto.poll() {
                self.on_event(c, event, now);
            }
            self.write_stream(c, now);
            self.transmit(c, now);
            let mut again = false;
            while let Some(event) = c.proto.poll_endpoint_events() {
                if let Some(back) = self.endpoint.handle_event(handle, event) {
                    c.proto.handle_event(back);
                    again = true;
                }
            }
            if !again {
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
        if let Some(at) = c.next_deadline()
            && c.armed.is_none_or(|armed| at < armed)
        {
            c.armed = Some(at);
            self.timers.push(Reverse((at, c.key.slot, c.key.id)));
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

    /// Reads the stream while a frame can be used: the Hello, or a live session's
    /// frames. While the player joins the bytes stay in quinn-proto, within the
    /// stream's receive window.
    fn read_stream(&mut self, c: &mut Conn, now: Instant) {
        let Some(id) = c.stream else { return };
        let mut ended = false;
        while matches!(c.phase, Phase::Opening { .. } | Phase::Live(_)) {
            // Frames already read first.
            self.take_frames(c, now);
            if !matches!(c.phase, Phase::Opening { .. } | Phase::Live(_)) {
                return;
            }
            let mut got = false;
            let mut recv = c.proto.recv_stream(id);
            match recv.read(true) {
                Ok(mut chunks) => {
                    loop {
                        match chunks.next(MAX_CLIENT_FRAME) {
                            Ok(Some(chunk)) => {
                                c.inbuf.extend_from_slice(&chunk.bytes);
                                got = true;
                                if c.inbuf.len() >= MAX_CLIENT_FRAME {
                                    break;
                                }
                            }
                            Ok(None) | Err(ReadError::Reset(_)) => {
                                ended = true;
                                break;
                            }
                            Err(ReadError::Blocked) => break,
                        }
                    }
                    let _ = chunks.finalize();
                }
                Err(_) => ended = true,
            }
            if !got {
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

    /// Moves queued frames into the stream as far as its flow control allows.
    fn write_stream(&mut self, c: &mut Conn, now: Instant) {
        let Some(id) = c.stream else {
            c.out.clear();
            return;
        };
        let mut gone = false;
        while let Some(front) = c.out.front_mut() {
            match c.proto.send_stream(id).write(front) {
                Ok(n) if n == front.len() => {
                    c.out.pop_front();
                }
                Ok(n) => {
                    front.advance(n);
                    break;
                }
                Err(quinn_proto::WriteError::Blocked) => break,
                Err(_) => {
                    gone = true;
                    break;
                }
            }
        }
        if gone {
            c.out.clear();
        }
        if c.out.is_empty() {
            c.blocked_since = None;
        } else if c.blocked_since.is_none() {
            c.blocked_since = Some(now);
        }
    }

    /// Sends every packet the connection has ready.
    fn transmit(&mut self, c: &mut Conn, now: Instant) {
        loop {
            self.send_buf.clear();
            let Some(t) = c
                .proto
                .poll_transmit(now, self.max_segments, &mut self.send_buf)
            else {
                break;
            };
            let buf = std::mem::take(&mut self.send_buf);
            self.send(&t, &buf[..t.size]);
            self.send_buf = buf;
        }
    }

    fn send_response(&mut self, t: &Transmit) {
        let buf = std::mem::take(&mut self.response_buf);
        self.send(t, &buf[..t.size]);
        self.response_buf = buf;
    }

    fn send(&mut self, t: &Transmit, contents: &[u8]) {
        if self.backlog.is_empty() {
            let (socket, udp) = (&self.socket, &self.udp);
            let sent = socket.try_io(Interest::WRITABLE, || {
                udp.send(socket.into(), &udp_transmit(t, contents))
            });
            match sent {
                Ok(()) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    // quinn-udp already logs (rate-limited) what the OS refused.
                    tracing::trace!("QUIC send: {e}");
                    return;
                }
            }
        }
        if self.backlog.len() < MAX_BACKLOG {
            let t = Transmit {
                destination: t.destination,
                ecn: t.ecn,
                size: contents.len(),
                segment_size: t.segment_size,
                src_ip: t.src_ip,
            };
            self.backlog.push_back((t, contents.to_vec()));
        }
    }

    /// Sends what the full socket refused, until it refuses again.
    fn send_backlog(&mut self) {
        while let Some((t, contents)) = self.backlog.front() {
            let (socket, udp) = (&self.socket, &self.udp);
            let transmit = udp_transmit(t, contents);
            let sent = socket.try_io(Interest::WRITABLE, || udp.send(socket.into(), &transmit));
            match sent {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                _ => {
                    self.backlog.pop_front();
                }
            }
        }
    }
}

/// quinn-proto's transmit as quinn-udp sends it.
fn udp_transmit<'a>(t: &Transmit, contents: &'a [u8]) -> quinn_udp::Transmit<'a> {
    quinn_udp::Transmit {
        destination: t.destination,
        ecn: t.ecn.map(|e| match e {
            EcnCodepoint::Ect0 => quinn_udp::EcnCodepoint::Ect0,
            EcnCodepoint::Ect1 => quinn_udp::EcnCodepoint::Ect1,
            EcnCodepoint::Ce => quinn_udp::EcnCodepoint::Ce,
        }),
        contents,
        segment_size: t.segment_size,
        src_ip: t.src_ip,
    }
}
