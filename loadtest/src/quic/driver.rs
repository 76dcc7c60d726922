//! The client endpoint's task: a [`Driver`] of `arcane_quic_io`'s endpoint loop that
//! carries out what links ask ([`Command`]) and hands each connection's messages to
//! its link, or to the [`Handler`](super::Handler) running it inside the task.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use arcane_protocol::MAX_SERVER_FRAME;
use arcane_quic_io::{ConnKey, Core, Driven, Driver, LoopConfig, earliest, stream_codec};
use bytes::{Bytes, BytesMut};
use quinn_proto::{ClientConfig, Dir, Event, Incoming, StreamEvent, StreamId, VarInt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{Decoder, LengthDelimitedCodec};

use super::inbound::LinkEvent;
use super::{CLOSE_FLUSH, Driving, Flow};

/// How the endpoint loop paces a client: one receive batch per wake, so a message is
/// handled soon after it was read (its read time is its receive stamp) and an
/// endpoint taking a thousand bots' snapshots reads them as it goes; due timeouts and
/// handler wakes are looked for every 8 datagrams and between connections.
pub(super) const PACE: LoopConfig = LoopConfig {
    recv_batches: 1,
    serve_due_every: Some(8),
};
/// How long a client waits for the server's close (and its reason) once the server
/// ended the stream, as after a kick.
const CLOSE_REASON_WAIT: Duration = Duration::from_secs(2);

/// What a link asks of its endpoint's task.
pub(super) enum Command {
    Connect {
        addr: SocketAddr,
        host: String,
        config: ClientConfig,
        events: mpsc::Sender<LinkEvent>,
        reply: oneshot::Sender<Result<ConnKey, String>>,
    },
    /// A client frame: as a datagram when `unreliable` and it fits, else on the stream.
    Send {
        key: ConnKey,
        frame: Bytes,
        unreliable: bool,
    },
    /// Bytes on the stream as one frame, without the size check (fault injection).
    Raw { key: ConnKey, bytes: Bytes },
    /// Closes the connection; `done` is answered once the close has been sent.
    Close {
        key: ConnKey,
        done: Option<oneshot::Sender<()>>,
    },
    /// Runs a handler inside the task until it stops; `done` gets it back.
    Drive {
        key: ConnKey,
        driving: Box<Driving>,
        done: oneshot::Sender<Box<Driving>>,
    },
}

/// One connection in the endpoint's task.
pub(super) struct ClientConn {
    key: ConnKey,
    proto: quinn_proto::Connection,
    /// Answered once the handshake is done (or failed).
    connecting: Option<oneshot::Sender<Result<ConnKey, String>>>,
    /// To the link; `None` once the link has been told the connection closed.
    events: Option<mpsc::Sender<LinkEvent>>,
    stream: Option<StreamId>,
    inbuf: BytesMut,
    reader: LengthDelimitedCodec,
    /// Framed bytes waiting for room on the stream.
    out: VecDeque<Bytes>,
    /// The server ended the stream; the close (and its reason) should follow.
    stream_ended: Option<Instant>,
    closed_reply: Option<oneshot::Sender<()>>,
    /// The handler running this connection, if any, and where to give it back.
    driving: Option<(Box<Driving>, oneshot::Sender<Box<Driving>>)>,
}

impl ClientConn {
    fn tell(&mut self, event: LinkEvent) {
        if let Some((d, _)) = self.driving.as_mut() {
            let (handler, inbound, outbox) = d.parts();
            let flow = handler.on_incoming(inbound.decode(event), outbox);
            self.after_handler(flow);
            return;
        }
        let Some(tx) = self.events.as_ref() else {
            return;
        };
        // The last free place is kept for the close ([`ClientConn::closed`] sends it
        // past this check), so the link always learns why.
        if tx.capacity() <= 1 {
            if matches!(event, LinkEvent::Datagram(..)) {
                // Dropped as a full socket buffer would; the gap shows as datagram loss.
                return;
            }
            // A reliable frame cannot be dropped: the link stopped reading its stream.
            let reason = format!("the link left {} events unread", tx.max_capacity() - 1);
            self.proto.close(
                Instant::now(),
                VarInt::from_u32(0),
                Bytes::from_static(b"client stopped reading"),
            );
            self.closed(Some(reason));
            return;
        }
        // With a place to spare it cannot be full: a failure means the link was
        // dropped without closing, and nobody reads this connection.
        if tx.try_send(event).is_err() {
            self.events = None;
        }
    }

    /// Runs the handler's wake when it is due (and sends what it queued).
    fn wake_handler(&mut self) {
        let Some((d, _)) = self.driving.as_mut() else {
            return;
        };
        let now = Instant::now();
        let (handler, _, outbox) = d.parts();
        if handler.wake_at().is_some_and(|t| t <= now) {
            let flow = handler.on_wake(now, outbox);
            self.after_handler(flow);
        }
    }

    /// Sends what the handler queued; gives it back to its link when it stopped.
    fn after_handler(&mut self, flow: Flow) {
        let Some((d, _)) = self.driving.as_mut() else {
            return;
        };
        let mut frames = std::mem::take(&mut d.parts().2.frames);
        for (frame, unreliable) in frames.drain(..) {
            send_frame(self, frame, unreliable);
        }
        if let Some((d, _)) = self.driving.as_mut() {
            d.parts().2.frames = frames;
        }
        if flow == Flow::Stop {
            self.give_back();
        }
    }

    fn give_back(&mut self) {
        if let Some((d, done)) = self.driving.take() {
            // A link that stopped waiting dropped the handler with it.
            let _ = done.send(d);
        }
    }

    /// Tells the link the connection is closed (once).
    fn closed(&mut self, reason: Option<String>) {
        if self.driving.is_some() {
            self.tell(LinkEvent::Closed(reason.clone()));
            self.give_back();
        }
        if let Some(tx) = self.events.take() {
            let _ = tx.try_send(LinkEvent::Closed(reason));
        }
        if let Some(reply) = self.connecting.take() {
            let _ = reply.send(Err("the connection closed during the handshake".into()));
        }
    }
}

impl Driven for ClientConn {
    fn key(&self) -> ConnKey {
        self.key
    }

    fn proto(&mut self) -> &mut quinn_proto::Connection {
        &mut self.proto
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        let own = self.stream_ended.map(|t| t + CLOSE_REASON_WAIT);
        let handler = self
            .driving
            .as_mut()
            .and_then(|(d, _)| d.parts().0.wake_at());
        earliest(earliest(self.proto.poll_timeout(), own), handler)
    }
}

/// The endpoint task's own state: the links' commands, and the end once every
/// handle is gone.
pub(super) struct ClientDriver {
    pub(super) commands: mpsc::UnboundedReceiver<Command>,
    /// Once every handle is gone: when the last closes have had their time.
    pub(super) stop_at: Option<Instant>,
}

impl Driver for ClientDriver {
    type Conn = ClientConn;
    /// A link's command, or `None` once every handle is gone.
    type Wake = Option<Command>;

    async fn wait(&mut self) -> Option<Command> {
        if self.stop_at.is_some() {
            std::future::pending::<()>().await;
        }
        self.commands.recv().await
    }

    fn on_wake(&mut self, core: &mut Core<ClientConn>, wake: Option<Command>, now: Instant) {
        let Some(command) = wake else {
            for key in core.conns.keys() {
                if let Some(c) = core.conns.get_mut(key) {
                    c.proto
                        .close(now, VarInt::from_u32(0), Bytes::from_static(b"bye"));
                }
                core.conns.mark(key.slot);
            }
            self.stop_at = Some(now + CLOSE_FLUSH);
            return;
        };
        on_command(core, command, now);
        // Whatever else is queued, in the same pass.
        while let Ok(c) = self.commands.try_recv() {
            on_command(core, c, now);
        }
    }

    /// A client accepts no connections.
    fn on_incoming(&mut self, core: &mut Core<ClientConn>, incoming: Incoming, _now: Instant) {
        core.endpoint.ignore(incoming);
    }

    fn before_pass(&mut self, c: &mut ClientConn, _now: Instant) {
        c.wake_handler();
    }

    fn on_event(&mut self, c: &mut ClientConn, event: Event, now: Instant) {
        on_event(c, event, now);
    }

    fn after_events(&mut self, c: &mut ClientConn, _now: Instant) {
        if let Some(id) = c.stream {
            arcane_quic_io::write_stream(&mut c.proto, id, &mut c.out);
        }
    }

    fn after_pass(&mut self, c: &mut ClientConn, _now: Instant) {
        if c.proto.is_closed()
            && let Some(done) = c.closed_reply.take()
        {
            let _ = done.send(());
        }
    }

    fn on_timeout(&mut self, c: &mut ClientConn, now: Instant) {
        if c.stream_ended.is_some_and(|t| t + CLOSE_REASON_WAIT <= now) {
            // The server ended the stream but never closed: give up on a reason.
            c.stream_ended = None;
            c.closed(None);
            c.proto
                .close(now, VarInt::from_u32(0), Bytes::from_static(b"bye"));
        }
    }

    fn on_drained(&mut self, mut c: Box<ClientConn>) {
        c.closed(None);
    }

    fn deadline(&self) -> Option<Instant> {
        self.stop_at
    }

    fn finished(&self, core: &Core<ClientConn>, now: Instant) -> bool {
        self.stop_at
            .is_some_and(|at| now >= at || core.conns.is_empty())
    }
}

fn on_command(core: &mut Core<ClientConn>, command: Command, now: Instant) {
    match command {
        Command::Connect {
            addr,
            host,
            config,
            events,
            reply,
        } => {
            let (handle, proto) = match core.endpoint.connect(now, config, addr, &host) {
                Ok(c) => c,
                Err(e) => {
                    let _ = reply.send(Err(e.to_string()));
                    return;
                }
            };
            let key = core.conns.new_key(handle);
            core.conns.insert(ClientConn {
                key,
                proto,
                connecting: Some(reply),
                events: Some(events),
                stream: None,
                inbuf: BytesMut::new(),
                reader: stream_codec(MAX_SERVER_FRAME),
                out: VecDeque::new(),
                stream_ended: None,
                closed_reply: None,
                driving: None,
            });
        }
        Command::Send {
            key,
            frame,
            unreliable,
        } => {
            let Some(c) = core.conns.get_mut(key) else {
                return;
            };
            send_frame(c, frame, unreliable);
            core.conns.mark(key.slot);
        }
        Command::Drive {
            key,
            mut driving,
            done,
        } => {
            let Some(c) = core.conns.get_mut(key) else {
                // Gone already: the handler hears the close and comes back.
                let (handler, _, outbox) = driving.parts();
                let _ = handler.on_incoming(crate::frame::Incoming::Closed(None), outbox);
                let _ = done.send(driving);
                return;
            };
            c.driving = Some((driving, done));
            // What reached the link before the handler took over goes first.
            while let Some(event) = c.driving.as_mut().and_then(|(d, _)| d.take_early_event()) {
                c.tell(event);
            }
            core.conns.mark(key.slot);
        }
        Command::Raw { key, bytes } => {
            let Some(c) = core.conns.get_mut(key) else {
                return;
            };
            frame_on_stream(c, bytes);
            core.conns.mark(key.slot);
        }
        Command::Close { key, done } => {
            let Some(c) = core.conns.get_mut(key) else {
                if let Some(done) = done {
                    let _ = done.send(());
                }
                return;
            };
            if !c.proto.is_closed() {
                c.proto
                    .close(now, VarInt::from_u32(0), Bytes::from_static(b"bye"));
            }
            c.events = None;
            c.closed_reply = done;
            core.conns.mark(key.slot);
        }
    }
}

fn on_event(c: &mut ClientConn, event: Event, now: Instant) {
    match event {
        Event::Connected => {
            c.stream = c.proto.streams().open(Dir::Bi);
            let answer = match c.stream {
                Some(_) => Ok(c.key),
                None => Err("the server allows no stream".into()),
            };
            // Nobody waits any more (the connect was given up): nobody would close it.
            let unwanted = match c.connecting.take() {
                Some(reply) => reply.send(answer).is_err(),
                None => false,
            };
            if unwanted || c.stream.is_none() {
                c.events = None;
                c.proto
                    .close(now, VarInt::from_u32(0), Bytes::from_static(b"bye"));
            }
        }
        Event::ConnectionLost { reason } => {
            let reason = match reason {
                quinn_proto::ConnectionError::ApplicationClosed(a) => {
                    String::from_utf8_lossy(&a.reason).into_owned()
                }
                other => format!("error: {other}"),
            };
            if let Some(reply) = c.connecting.take() {
                let _ = reply.send(Err(reason));
            } else {
                c.closed(Some(reason));
            }
        }
        Event::Stream(StreamEvent::Readable { .. }) => read_stream(c, now),
        Event::DatagramReceived => {
            while let Some(d) = c.proto.datagrams().recv() {
                c.tell(LinkEvent::Datagram(d, now));
            }
        }
        _ => {}
    }
}

/// Queues a client frame: as a datagram when `unreliable` and it fits, else on the
/// stream.
fn send_frame(c: &mut ClientConn, frame: Bytes, unreliable: bool) {
    let fits = c
        .proto
        .datagrams()
        .max_size()
        .is_some_and(|max| frame.len() <= max);
    if !(unreliable && fits && c.proto.datagrams().send(frame.clone(), true).is_ok()) {
        frame_on_stream(c, frame);
    }
}

/// Queues a length-prefixed frame on the stream.
fn frame_on_stream(c: &mut ClientConn, frame: Bytes) {
    // Raw frames skip the size check: the server must refuse them itself.
    if let Some(framed) = arcane_quic_io::framed(frame, usize::MAX) {
        c.out.push_back(framed);
    }
}

/// Reads what the stream has and hands the link each complete frame.
fn read_stream(c: &mut ClientConn, now: Instant) {
    let Some(id) = c.stream else { return };
    let mut ended = false;
    loop {
        let read = arcane_quic_io::read_stream(&mut c.proto, id, &mut c.inbuf, usize::MAX);
        ended |= read.ended;
        if !read.got {
            break;
        }
    }
    loop {
        match c.reader.decode(&mut c.inbuf) {
            Ok(Some(frame)) => c.tell(LinkEvent::Frame(frame.freeze(), now)),
            Ok(None) => break,
            Err(e) => {
                c.tell(LinkEvent::Malformed(format!("stream frame: {e}")));
                c.inbuf.clear();
                break;
            }
        }
    }
    if ended && c.stream_ended.is_none() {
        c.stream_ended = Some(Instant::now());
    }
}
