//! What an endpoint that drives quinn-proto's connections by hand needs around them:
//! one UDP socket's batched receives and sends, with a backlog for when its send
//! buffer is full ([`UdpIo`]); the connections by handle, which of them have work, and
//! one timer heap for all of them ([`Conns`]); and the stream reads and writes both
//! ends do alike. A crate of its own beside
//! `arcane-protocol`, which stays free of sockets and tokio. The
//! zone's endpoint task (`zone-server/src/quic_driver.rs`) and the bot swarm's client
//! endpoint (`loadtest/src/quic.rs`) are built on it: a task per endpoint instead of
//! quinn's task, lock and timer per connection.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use quinn_proto::{
    Connection, ConnectionHandle, DatagramEvent, EcnCodepoint, Endpoint, Incoming, ReadError,
    StreamId, Transmit, WriteError,
};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio_util::codec::{Encoder as _, LengthDelimitedCodec};

/// Receive buffer per batch slot: a GRO batch is at most 64 KiB.
const RECV_SLOT: usize = 64 * 1024;
/// Packets held while the socket's send buffer is full; beyond it they are dropped
/// (QUIC's loss recovery resends what matters).
const MAX_BACKLOG: usize = 8192;

/// One received UDP datagram, as `quinn_proto::Endpoint::handle` takes it.
pub struct Datagram {
    pub remote: SocketAddr,
    pub local_ip: Option<IpAddr>,
    pub ecn: Option<EcnCodepoint>,
    pub data: BytesMut,
}

/// A UDP socket with quinn-udp's batched receives (GRO), segmented sends (GSO) and
/// ECN, and a backlog of packets the socket refused for now.
pub struct UdpIo {
    socket: UdpSocket,
    state: quinn_udp::UdpSocketState,
    recv_buf: Box<[u8]>,
    send_buf: Vec<u8>,
    backlog: VecDeque<(Transmit, Vec<u8>)>,
}

impl UdpIo {
    /// Takes a bound socket and asks the kernel for `buffer` bytes of socket buffers
    /// each way (it caps them at `net.core.*mem_max`). Must run inside a tokio runtime.
    pub fn new(socket: std::net::UdpSocket, buffer: usize) -> io::Result<UdpIo> {
        let state = quinn_udp::UdpSocketState::new((&socket).into())?;
        // Larger buffers only help a burst; a smaller one is no error.
        let _ = state.set_send_buffer_size((&socket).into(), buffer);
        let _ = state.set_recv_buffer_size((&socket).into(), buffer);
        socket.set_nonblocking(true)?;
        Ok(UdpIo {
            socket: UdpSocket::from_std(socket)?,
            state,
            recv_buf: vec![0; RECV_SLOT * quinn_udp::BATCH_SIZE].into_boxed_slice(),
            send_buf: Vec::new(),
            backlog: VecDeque::new(),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Whether sent datagrams may be fragmented (then path MTU discovery stays off).
    pub fn may_fragment(&self) -> bool {
        self.state.may_fragment()
    }

    /// Waits until a datagram may be waiting.
    pub async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Waits until the socket takes packets again; pending while nothing is held.
    pub async fn writable(&self) {
        if self.backlog.is_empty() {
            std::future::pending::<()>().await;
        }
        let _ = self.socket.writable().await;
    }

    /// Reads up to `batches` batches of datagrams into `into`; stops early when none
    /// is waiting.
    pub fn receive(&mut self, batches: usize, into: &mut Vec<Datagram>) {
        let mut metas = [quinn_udp::RecvMeta::default(); quinn_udp::BATCH_SIZE];
        let mut iovs: Vec<IoSliceMut> = self
            .recv_buf
            .chunks_mut(RECV_SLOT)
            .map(IoSliceMut::new)
            .collect();
        for _ in 0..batches {
            let (socket, state) = (&self.socket, &self.state);
            let got = socket.try_io(Interest::READABLE, || {
                state.recv(socket.into(), &mut iovs, &mut metas)
            });
            let n = match got {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    // An ICMP error about a gone peer, and the like: not fatal.
                    tracing::debug!("UDP receive: {e}");
                    continue;
                }
            };
            for (meta, iov) in metas.iter().zip(iovs.iter()).take(n) {
                let mut data = BytesMut::from(&iov[..meta.len]);
                let ecn = meta.ecn.map(|e| match e {
                    quinn_udp::EcnCodepoint::Ect0 => EcnCodepoint::Ect0,
                    quinn_udp::EcnCodepoint::Ect1 => EcnCodepoint::Ect1,
                    quinn_udp::EcnCodepoint::Ce => EcnCodepoint::Ce,
                });
                // A GRO batch holds datagrams of `stride` bytes (the last may be
                // shorter).
                while !data.is_empty() {
                    let one = data.split_to(meta.stride.min(data.len()));
                    into.push(Datagram {
                        remote: meta.addr,
                        local_ip: meta.dst_ip,
                        ecn,
                        data: one,
                    });
                }
            }
        }
    }

    /// Sends every packet `conn` has ready.
    pub fn transmit(&mut self, conn: &mut Connection, now: Instant) {
        let segments = self.state.max_gso_segments();
        loop {
            let mut buf = std::mem::take(&mut self.send_buf);
            buf.clear();
            let Some(t) = conn.poll_transmit(now, segments, &mut buf) else {
                self.send_buf = buf;
                return;
            };
            self.send(&t, &buf[..t.size]);
            self.send_buf = buf;
        }
    }

    /// Sends one packet (of one or more GSO segments), or holds it while the socket's
    /// send buffer is full.
    pub fn send(&mut self, t: &Transmit, contents: &[u8]) {
        if self.backlog.is_empty() {
            let (socket, state) = (&self.socket, &self.state);
            let sent = socket.try_io(Interest::WRITABLE, || {
                state.send(socket.into(), &udp_transmit(t, contents))
            });
            match sent {
                Ok(()) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    // quinn-udp already logs (rate-limited) what the OS refused.
                    tracing::trace!("UDP send: {e}");
                    return;
                }
            }
        }
        if self.backlog.len() < MAX_BACKLOG {
            let held = Transmit {
                destination: t.destination,
                ecn: t.ecn,
                size: contents.len(),
                segment_size: t.segment_size,
                src_ip: t.src_ip,
            };
            self.backlog.push_back((held, contents.to_vec()));
        }
    }

    /// Sends what the full socket refused, until it refuses again.
    pub fn send_backlog(&mut self) {
        while let Some((t, contents)) = self.backlog.front() {
            let (socket, state) = (&self.socket, &self.state);
            let transmit = udp_transmit(t, contents);
            let sent = socket.try_io(Interest::WRITABLE, || state.send(socket.into(), &transmit));
            match sent {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // Sent, or refused for good (logged by quinn-udp).
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

/// Every connection's next timeout in one heap. A connection keeps the earliest time
/// it has in the heap (`armed`); an entry that no longer matches when it comes up is
/// stale (the connection's timeout moved earlier since) and skipped.
pub struct Timers<K> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord + Copy> Default for Timers<K> {
    fn default() -> Self {
        Timers {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord + Copy> Timers<K> {
    /// Makes sure `key` comes up by `at`: an entry is added when `at` is earlier than
    /// what the connection has in the heap (`armed`, updated).
    pub fn arm(&mut self, key: K, armed: &mut Option<Instant>, at: Option<Instant>) {
        if let Some(at) = at
            && armed.is_none_or(|a| at < a)
        {
            *armed = Some(at);
            self.heap.push(Reverse((at, key)));
        }
    }

    /// The earliest entry's time.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Takes the next entry due by `now`: its time and key. The caller checks it
    /// against the connection's `armed` (equal: due; clear `armed` and handle it).
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, K)> {
        if self.next()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(e)| e)
    }

    /// Stale entries go when they come up; when they pile up past `limit`, the heap
    /// is rebuilt from the live ones (`(armed, key)` of every connection).
    pub fn compact(&mut self, limit: usize, live: impl Iterator<Item = (Instant, K)>) {
        if self.heap.len() > limit {
            self.heap = live.map(Reverse).collect();
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// Which connection of an endpoint, across the reuse of quinn-proto's slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConnKey {
    pub slot: usize,
    pub id: u64,
}

impl ConnKey {
    pub fn handle(self) -> ConnectionHandle {
        ConnectionHandle(self.slot)
    }
}

/// What an endpoint keeps per connection, as [`Conns`] needs it.
pub trait Driven {
    fn key(&self) -> ConnKey;
    fn proto(&mut self) -> &mut Connection;
    /// The earliest of the state machine's timeout and the connection's own deadlines.
    fn next_deadline(&mut self) -> Option<Instant>;
}

struct Slot<C> {
    key: ConnKey,
    /// Out of its slot while the endpoint works on it.
    conn: Option<Box<C>>,
    /// The earliest time this connection has in the timer heap.
    armed: Option<Instant>,
    dirty: bool,
}

/// An endpoint's connections by quinn-proto's handle, which of them have work, and
/// their timers. A connection is taken out of its slot for a pass and put back; it is
/// boxed, as a state machine is kilobytes.
pub struct Conns<C> {
    slots: Vec<Option<Slot<C>>>,
    dirty: Vec<usize>,
    timers: Timers<ConnKey>,
    next_id: u64,
}

impl<C> Default for Conns<C> {
    fn default() -> Self {
        Conns {
            slots: Vec::new(),
            dirty: Vec::new(),
            timers: Timers::default(),
            next_id: 0,
        }
    }
}

impl<C: Driven> Conns<C> {
    /// A key for the connection quinn-proto just gave `handle`.
    pub fn new_key(&mut self, handle: ConnectionHandle) -> ConnKey {
        self.next_id += 1;
        ConnKey {
            slot: handle.0,
            id: self.next_id,
        }
    }

    /// Adds a connection (made with [`Conns::new_key`]) with work to do.
    pub fn insert(&mut self, conn: C) {
        let key = conn.key();
        if self.slots.len() <= key.slot {
            self.slots.resize_with(key.slot + 1, || None);
        }
        self.slots[key.slot] = Some(Slot {
            key,
            conn: None,
            armed: None,
            dirty: false,
        });
        self.put(Box::new(conn));
    }

    fn slot(&mut self, key: ConnKey) -> Option<&mut Slot<C>> {
        self.slots
            .get_mut(key.slot)
            .and_then(Option::as_mut)
            .filter(|s| s.key == key)
    }

    /// The connection quinn-proto's `handle` names, when it is in its slot.
    pub fn by_handle(&mut self, handle: ConnectionHandle) -> Option<&mut C> {
        let s = self.slots.get_mut(handle.0)?.as_mut()?;
        s.conn.as_deref_mut()
    }

    pub fn get_mut(&mut self, key: ConnKey) -> Option<&mut C> {
        self.slot(key)?.conn.as_deref_mut()
    }

    /// Hands a received datagram to quinn-proto's `endpoint`: a connection's packet
    /// goes to it (queued for a pass), a stateless answer goes out through `io`, and
    /// the first packet of a new connection comes back to the caller to accept or
    /// refuse. `buf` is scratch for the answer.
    pub fn route(
        &mut self,
        endpoint: &mut Endpoint,
        io: &mut UdpIo,
        d: Datagram,
        now: Instant,
        buf: &mut Vec<u8>,
    ) -> Option<Incoming> {
        buf.clear();
        match endpoint.handle(now, d.remote, d.local_ip, d.ecn, d.data, buf)? {
            DatagramEvent::ConnectionEvent(h, event) => {
                if let Some(c) = self.by_handle(h) {
                    c.proto().handle_event(event);
                    self.mark(h.0);
                }
                None
            }
            DatagramEvent::Response(t) => {
                io.send(&t, &buf[..t.size]);
                None
            }
            DatagramEvent::NewConnection(incoming) => Some(incoming),
        }
    }

    /// Queues the connection in `slot` for a pass.
    pub fn mark(&mut self, slot: usize) {
        if let Some(Some(s)) = self.slots.get_mut(slot)
            && !s.dirty
        {
            s.dirty = true;
            self.dirty.push(slot);
        }
    }

    /// Takes a connection out of its slot to work on it; [`Conns::put`] returns it.
    pub fn take(&mut self, key: ConnKey) -> Option<Box<C>> {
        self.slot(key)?.conn.take()
    }

    /// Returns a connection to its slot and queues it for a pass.
    pub fn put(&mut self, conn: Box<C>) {
        let key = conn.key();
        if let Some(s) = self.slot(key) {
            s.conn = Some(conn);
            self.mark(key.slot);
        }
    }

    /// Takes out the next connection queued for a pass.
    pub fn next_dirty(&mut self) -> Option<Box<C>> {
        while let Some(slot) = self.dirty.pop() {
            if let Some(Some(s)) = self.slots.get_mut(slot) {
                s.dirty = false;
                if let Some(c) = s.conn.take() {
                    return Some(c);
                }
            }
        }
        None
    }

    /// Ends a pass: a drained connection leaves (quinn-proto let go of its handle when
    /// its Drained event was forwarded) and is handed back; any other goes back to its
    /// slot with its next timeout armed.
    pub fn done(&mut self, mut conn: Box<C>) -> Option<Box<C>> {
        let key = conn.key();
        if conn.proto().is_drained() {
            if self.slot(key).is_some() {
                self.slots[key.slot] = None;
            }
            return Some(conn);
        }
        let next = conn.next_deadline();
        let Some(s) = self
            .slots
            .get_mut(key.slot)
            .and_then(Option::as_mut)
            .filter(|s| s.key == key)
        else {
            return Some(conn);
        };
        s.conn = Some(conn);
        self.timers.arm(key, &mut s.armed, next);
        None
    }

    /// When the next timeout is due.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Collects into `due` the connections whose timeout is due at `now`; one whose
    /// timeout moved later since it was armed (an ACK cleared the loss timer) is only
    /// armed again.
    pub fn expire(&mut self, now: Instant, due: &mut Vec<ConnKey>) {
        while let Some((at, key)) = self.timers.pop_due(now) {
            let Some(s) = self
                .slots
                .get_mut(key.slot)
                .and_then(Option::as_mut)
                .filter(|s| s.key == key && s.armed == Some(at))
            else {
                continue;
            };
            s.armed = None;
            let Some(c) = s.conn.as_deref_mut() else {
                continue;
            };
            let next = c.next_deadline();
            if next.is_none_or(|t| t > now) {
                self.timers.arm(key, &mut s.armed, next);
            } else {
                due.push(key);
            }
        }
        let live = self
            .slots
            .iter()
            .flatten()
            .filter_map(|s| s.armed.map(|t| (t, s.key)));
        self.timers.compact(4 * self.slots.len() + 4096, live);
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut C> {
        self.slots
            .iter_mut()
            .flatten()
            .filter_map(|s| s.conn.as_deref_mut())
    }

    pub fn keys(&self) -> Vec<ConnKey> {
        self.slots.iter().flatten().map(|s| s.key).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }
}

/// Hands quinn-proto's endpoint what the connection told it; true when the endpoint
/// answered (the connection then has more to do).
pub fn forward_endpoint_events(
    endpoint: &mut Endpoint,
    key: ConnKey,
    conn: &mut Connection,
) -> bool {
    let mut answered = false;
    while let Some(event) = conn.poll_endpoint_events() {
        if let Some(back) = endpoint.handle_event(key.handle(), event) {
            conn.handle_event(back);
            answered = true;
        }
    }
    answered
}

/// Moves queued bytes into stream `id` as far as its flow control allows. False when
/// the stream is gone (stopped or closed: the queue is dropped).
pub fn write_stream(conn: &mut Connection, id: StreamId, out: &mut VecDeque<Bytes>) -> bool {
    while let Some(front) = out.front_mut() {
        match conn.send_stream(id).write(front) {
            Ok(n) if n == front.len() => {
                out.pop_front();
            }
            Ok(n) => {
                let _ = front.split_to(n);
                return true;
            }
            Err(WriteError::Blocked) => return true,
            Err(_) => {
                out.clear();
                return false;
            }
        }
    }
    true
}

/// What [`read_stream`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamRead {
    /// Bytes were appended.
    pub got: bool,
    /// The peer ended or reset the stream.
    pub ended: bool,
}

/// Appends what stream `id` has to `into`, stopping once `into` holds `limit` bytes
/// (the rest waits in quinn-proto, within the stream's window).
pub fn read_stream(
    conn: &mut Connection,
    id: StreamId,
    into: &mut BytesMut,
    limit: usize,
) -> StreamRead {
    let mut read = StreamRead {
        got: false,
        ended: false,
    };
    let mut stream = conn.recv_stream(id);
    let Ok(mut chunks) = stream.read(true) else {
        read.ended = true;
        return read;
    };
    while into.len() < limit {
        match chunks.next(limit - into.len()) {
            Ok(Some(chunk)) => {
                into.extend_from_slice(&chunk.bytes);
                read.got = true;
            }
            Ok(None) | Err(ReadError::Reset(_)) => {
                read.ended = true;
                break;
            }
            Err(ReadError::Blocked) => break,
        }
    }
    // Returns the read bytes' flow control credit (sent with the next packet).
    let _ = chunks.finalize();
    read
}

/// The framing of the reliable stream, either direction (`PROTOCOL.md`): a 4-byte
/// big-endian length, then the frame. `max` bounds what a reader accepts before
/// anything is buffered.
pub fn stream_codec(max: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .big_endian()
        .max_frame_length(max)
        .new_codec()
}

/// `frame` with its stream framing in front, ready to write; `None` when it is over
/// `max` bytes.
pub fn framed(frame: Bytes, max: usize) -> Option<Bytes> {
    let mut out = BytesMut::with_capacity(4 + frame.len());
    stream_codec(max).encode(frame, &mut out).ok()?;
    Some(out.freeze())
}

/// The earlier of two optional deadlines.
pub fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// An endpoint task's one tokio timer, moved to its next deadline (and reset only when
/// that changes).
pub struct Alarm {
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    at: Option<Instant>,
}

impl Default for Alarm {
    fn default() -> Self {
        Alarm {
            sleep: Box::pin(tokio::time::sleep(std::time::Duration::ZERO)),
            at: None,
        }
    }
}

impl Alarm {
    pub fn set(&mut self, at: Option<Instant>) {
        if at != self.at {
            if let Some(t) = at {
                self.sleep.as_mut().reset(t.into());
            }
            self.at = at;
        }
    }

    /// Resolves at the time set; pending while none is.
    pub async fn ring(&mut self) {
        if self.at.is_none() {
            std::future::pending::<()>().await;
        }
        self.sleep.as_mut().await;
        self.at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_timer_comes_up_once_at_its_earliest_time_and_stale_entries_are_told_apart() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut timers = Timers::default();
        let mut armed = None;
        timers.arm(1u32, &mut armed, Some(ms(30)));
        // Later: nothing new, the 30 ms entry comes first anyway.
        timers.arm(1, &mut armed, Some(ms(40)));
        assert_eq!(timers.len(), 1);
        // Earlier: a new entry; the 30 ms one is now stale.
        timers.arm(1, &mut armed, Some(ms(10)));
        assert_eq!((timers.len(), armed), (2, Some(ms(10))));
        assert_eq!(timers.pop_due(ms(5)), None, "nothing is due yet");
        let (at, key) = timers.pop_due(ms(35)).unwrap();
        assert_eq!((at, key), (ms(10), 1));
        assert_eq!(Some(at), armed, "the live entry");
        armed = None;
        let (at, _) = timers.pop_due(ms(35)).unwrap();
        assert_ne!(Some(at), armed, "the stale one");
        assert!(timers.is_empty());
        // Compacting keeps only what the connections have armed.
        for n in 0..10 {
            timers.arm(2, &mut None, Some(ms(100 - n)));
        }
        timers.compact(4, [(ms(91), 2u32)].into_iter());
        assert_eq!((timers.len(), timers.next()), (1, Some(ms(91))));
    }

    #[test]
    fn a_framed_frame_reads_back_and_an_oversized_one_is_refused() {
        let out = framed(Bytes::from_static(b"hello"), 16).unwrap();
        assert_eq!(&out[..], b"\0\0\0\x05hello");
        let mut buf = BytesMut::from(&out[..]);
        let back = tokio_util::codec::Decoder::decode(&mut stream_codec(16), &mut buf);
        assert_eq!(back.unwrap().unwrap(), &b"hello"[..]);
        assert_eq!(framed(Bytes::from(vec![0; 17]), 16), None);
    }
}
