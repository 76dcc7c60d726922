//! The client side of the QUIC transport: one stream of length-prefixed frames for
//! reliable messages, snapshots as datagrams with a sequence header (from which loss
//! is counted), and certificate pinning for zones with self-signed certificates
//! (`quic://host:port?sha256=<hex>`).
//!
//! Connections are made from a [`QuicEndpoint`]: one UDP socket and one task that
//! drives every connection's quinn-proto state machine (`arcane_quic_io`),
//! as the zone does. A bot swarm shares endpoints between bots. A connection talks to
//! its [`QuicLink`] through channels, or is run by a [`Handler`] inside the endpoint's
//! task ([`QuicLink::drive`]), as the swarm's bots are. A link's queue of events is
//! bounded ([`LINK_EVENTS`]), so a link that stops reading cannot grow the endpoint.

use std::collections::VecDeque;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use arcane_protocol::codec::decode_server_message;
use arcane_protocol::{
    ClientMessage, DATAGRAM_HEADER, MAX_CLIENT_FRAME, MAX_SERVER_FRAME, QUIC_ALPN,
};
use arcane_quic_io::{Alarm, ConnKey, Conns, Datagram, Driven, UdpIo, earliest, stream_codec};
use bytes::{Bytes, BytesMut};
use quinn_proto::{
    ClientConfig, Dir, Endpoint, EndpointConfig, Event, IdleTimeout, StreamEvent, StreamId,
    TransportConfig, VarInt,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{Decoder, LengthDelimitedCodec};

use crate::client::{Incoming, Received};

/// Snapshot datagrams one connection received, and the gaps in their sequence
/// numbers (datagrams lost on the way, or still reordered in flight).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DatagramCount {
    pub received: u64,
    pub lost: u64,
}

/// Counts datagrams from their sequence numbers (1, 2, 3… per connection): a late,
/// reordered datagram fills the gap it had opened.
#[derive(Debug, Default)]
struct SeqTracker {
    highest: u32,
    received: u64,
}

impl SeqTracker {
    fn see(&mut self, seq: u32) -> DatagramCount {
        self.received += 1;
        self.highest = self.highest.max(seq);
        DatagramCount {
            received: self.received,
            lost: u64::from(self.highest).saturating_sub(self.received),
        }
    }
}

/// The endpoint's address, host name and pinned certificate hash.
struct Target {
    addr: SocketAddr,
    host: String,
    sha256: Option<String>,
}

fn parse(url: &str) -> anyhow::Result<Target> {
    let rest = url
        .strip_prefix("quic://")
        .context("a QUIC endpoint starts with quic://")?;
    let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = authority.trim_end_matches('/');
    let addr = authority
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {authority}"))?
        .next()
        .with_context(|| format!("{authority} has no address"))?;
    let host = match authority.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']').to_string(),
        None => authority.to_string(),
    };
    let sha256 = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("sha256="))
        .map(str::to_ascii_lowercase);
    if let Some(h) = &sha256
        && (h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        bail!("sha256 in {url} is not a 64-digit hex hash");
    }
    Ok(Target { addr, host, sha256 })
}

/// Accepts exactly the certificate whose SHA-256 is pinned, and checks the handshake
/// signatures with it (so the peer must hold its key).
#[derive(Debug)]
struct Pinned {
    sha256: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = arcane_protocol::cert_sha256(end_entity.as_ref());
        if got == self.sha256 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "certificate sha256 {got} is not the pinned {}",
                self.sha256
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// TLS for one target: pinned when the endpoint carries a hash, otherwise verified
/// against the CA certificates in the PEM file named by `ARCANE_QUIC_CA`.
fn tls(target: &Target) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let mut config = match &target.sha256 {
        Some(sha256) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned {
                sha256: sha256.clone(),
                provider,
            }))
            .with_no_client_auth(),
        None => {
            use rustls::pki_types::pem::PemObject;
            let path = std::env::var("ARCANE_QUIC_CA").context(
                "the endpoint pins no certificate (sha256=…); set ARCANE_QUIC_CA to a PEM file of trusted CAs",
            )?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(&path)
                .with_context(|| format!("cannot read {path}"))?
            {
                roots.add(cert.with_context(|| format!("bad certificate in {path}"))?)?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    config.alpn_protocols = vec![QUIC_ALPN.to_vec()];
    Ok(config)
}

/// Socket buffers asked of the kernel: a swarm's endpoint takes a tick's snapshots
/// for all its bots at once.
const SOCKET_BUFFER: usize = 4 << 20;
/// Receive batches per wake before the task handles what they brought: one, so a
/// message is handled soon after it was read (its read time is its receive stamp) and
/// a swarm's endpoint, which takes a thousand bots' snapshots, reads them as it goes.
const RECV_BATCHES_PER_TURN: usize = 1;
/// Datagrams routed between two looks for due timeouts and handler wakes.
const DUE_CHECK_EVERY: usize = 8;
/// How long a client waits for the server's close (and its reason) once the server
/// ended the stream, as after a kick.
const CLOSE_REASON_WAIT: Duration = Duration::from_secs(2);
/// How long an endpoint whose handles are all gone lets its closes leave.
const CLOSE_FLUSH: Duration = Duration::from_millis(200);

/// The QUIC client configuration for one target.
fn client_config(target: &Target) -> anyhow::Result<ClientConfig> {
    let crypto = quinn_proto::crypto::rustls::QuicClientConfig::try_from(tls(target)?)?;
    let mut client = ClientConfig::new(Arc::new(crypto));
    let mut transport = TransportConfig::default();
    transport
        .keep_alive_interval(Some(Duration::from_secs(5)))
        .max_idle_timeout(Some(IdleTimeout::try_from(Duration::from_secs(15))?))
        .datagram_receive_buffer_size(Some(256 * 1024));
    client.transport_config(Arc::new(transport));
    Ok(client)
}

/// Events a link may leave unread before its connection is given up: 12.8 s of
/// snapshots at 20 Hz. A link that stops reading must not grow the endpoint's memory
/// without bound, as a zone's outbox must not.
pub const LINK_EVENTS: usize = 256;

/// What a link asks of its endpoint's task.
enum Command {
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

/// Runs a connection from inside its endpoint's task rather than through a
/// [`QuicLink`]'s channel (see [`QuicLink::drive`]): a swarm's bot. The task calls it
/// with each message as it reads it and when its wake time comes, and checks for due
/// wake times between datagrams, so one thread can run a thousand of them and still
/// send each one's input on time while a tick's snapshots wait to be read.
pub trait Handler: std::any::Any + Send {
    /// A message from the server, or the close; what to send back goes in `out`.
    fn on_incoming(&mut self, incoming: Incoming, out: &mut Outbox) -> Flow;
    /// When [`Handler::on_wake`] is next due (asked again after every call).
    fn wake_at(&self) -> Option<Instant>;
    fn on_wake(&mut self, now: Instant, out: &mut Outbox) -> Flow;
}

/// Whether a [`Handler`] goes on driving its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Hand the connection back to its link.
    Stop,
}

/// What a [`Handler`] sends: frames, as [`crate::client::Client::send`] makes them.
#[derive(Default)]
pub struct Outbox {
    frames: Vec<(Bytes, bool)>,
    buf: Vec<u8>,
}

impl Outbox {
    /// Queues one frame batching `messages`; returns its size.
    pub fn send(&mut self, messages: &[ClientMessage]) -> anyhow::Result<usize> {
        let (frame, unreliable) = crate::client::client_frame(messages, &mut self.buf)?;
        check_frame_size(&frame)?;
        let n = frame.len();
        self.frames.push((frame, unreliable));
        Ok(n)
    }
}

/// A handler at work, with what its link lent it: the channel (for messages that
/// reached it before the handler took over) and the datagram count.
pub struct Driving {
    handler: Box<dyn Handler>,
    events: mpsc::Receiver<LinkEvent>,
    inbound: Inbound,
    outbox: Outbox,
}

/// A connection's received messages, decoded, with its datagram count.
#[derive(Default)]
struct Inbound {
    seq: SeqTracker,
    count: DatagramCount,
}

impl Inbound {
    fn decode(&mut self, event: LinkEvent) -> Incoming {
        match event {
            LinkEvent::Frame(b, at) => match decode_server_message(&b) {
                Ok(m) => Incoming::Message(m, Received { bytes: b.len(), at }),
                Err(e) => Incoming::Malformed(e.to_string()),
            },
            LinkEvent::Datagram(d, at) if d.len() > DATAGRAM_HEADER => {
                let seq = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
                self.count = self.seq.see(seq);
                match decode_server_message(&d[DATAGRAM_HEADER..]) {
                    Ok(m) => Incoming::Message(m, Received { bytes: d.len(), at }),
                    Err(e) => Incoming::Malformed(e.to_string()),
                }
            }
            LinkEvent::Datagram(..) => {
                Incoming::Malformed("datagram shorter than its header".into())
            }
            LinkEvent::Malformed(e) => Incoming::Malformed(e),
            LinkEvent::Closed(reason) => Incoming::Closed(reason),
        }
    }
}

fn check_frame_size(frame: &[u8]) -> anyhow::Result<()> {
    if frame.len() > MAX_CLIENT_FRAME {
        bail!(
            "a client frame of {} bytes is over the {MAX_CLIENT_FRAME}-byte limit",
            frame.len()
        );
    }
    Ok(())
}

/// What the endpoint's task tells a link.
enum LinkEvent {
    /// A datagram or stream frame, with the receive pass that read it.
    Datagram(Bytes, Instant),
    Frame(Bytes, Instant),
    Malformed(String),
    Closed(Option<String>),
}

/// A client UDP endpoint: one socket and the task that drives every connection made
/// from it. Cloning shares it; the task closes what is left and ends once every
/// handle and link is gone. Must be made inside a tokio runtime.
#[derive(Clone)]
pub struct QuicEndpoint {
    commands: mpsc::UnboundedSender<Command>,
    v6: bool,
    /// Events each link made from here may leave unread ([`LINK_EVENTS`]).
    link_events: usize,
}

/// A client endpoint many connections can share (a bot swarm): one socket and one
/// task instead of one each.
pub fn shared_endpoint() -> anyhow::Result<QuicEndpoint> {
    QuicEndpoint::bind(false)
}

impl QuicEndpoint {
    /// Opens a UDP socket on an ephemeral port (IPv6 when `v6`) and starts its task.
    pub fn bind(v6: bool) -> anyhow::Result<QuicEndpoint> {
        let addr: SocketAddr = if v6 {
            "[::]:0".parse()?
        } else {
            "0.0.0.0:0".parse()?
        };
        let socket = std::net::UdpSocket::bind(addr).context("cannot open a UDP socket")?;
        let io = UdpIo::new(socket, SOCKET_BUFFER).context("cannot set up the UDP socket")?;
        let endpoint = Endpoint::new(
            Arc::new(EndpointConfig::default()),
            None,
            !io.may_fragment(),
            None,
        );
        let (commands, rx) = mpsc::unbounded_channel();
        let driver = ClientDriver {
            endpoint,
            io,
            conns: Conns::default(),
            due: Vec::new(),
            received: Vec::new(),
            response_buf: Vec::new(),
        };
        tokio::spawn(driver.run(rx));
        Ok(QuicEndpoint {
            commands,
            v6,
            link_events: LINK_EVENTS,
        })
    }

    /// Lets each link made from this endpoint leave `events` unread (at least 2: the
    /// last place is kept for the close) instead of [`LINK_EVENTS`].
    pub fn with_link_events(mut self, events: usize) -> QuicEndpoint {
        self.link_events = events.max(2);
        self
    }

    fn command(&self, c: Command) -> anyhow::Result<()> {
        self.commands
            .send(c)
            .map_err(|_| anyhow::anyhow!("the QUIC endpoint has stopped"))
    }
}

/// A connected QUIC client.
pub struct QuicLink {
    key: ConnKey,
    endpoint: QuicEndpoint,
    events: mpsc::Receiver<LinkEvent>,
    inbound: Inbound,
    /// The endpoint is this link's own (closed with it), not shared.
    owns_endpoint: bool,
    closed: bool,
}

/// A link dropped without [`QuicLink::close`] (a bot following a redirect) closes
/// its connection, as dropping a socket would.
impl Drop for QuicLink {
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.endpoint.command(Command::Close {
                key: self.key,
                done: None,
            });
        }
    }
}

/// A connect's answer while it is awaited. A caller that gives up (a timeout) drops
/// it: an answer not sent yet then fails, and the endpoint closes the connection
/// itself; one sent but not read names a connection no link will close, so the guard
/// closes it.
struct PendingConnect<'a> {
    endpoint: &'a QuicEndpoint,
    answer: oneshot::Receiver<Result<ConnKey, String>>,
}

impl Drop for PendingConnect<'_> {
    fn drop(&mut self) {
        // Closed first, so no answer can come between the look and the drop.
        self.answer.close();
        if let Ok(Ok(key)) = self.answer.try_recv() {
            let _ = self.endpoint.command(Command::Close { key, done: None });
        }
    }
}

impl QuicLink {
    /// Connects to `quic://host:port[?sha256=…]` and opens the session's stream, from
    /// `via` when given (a shared endpoint) or from a UDP socket of its own.
    pub async fn connect(url: &str, via: Option<&QuicEndpoint>) -> anyhow::Result<QuicLink> {
        let target = parse(url)?;
        let config = client_config(&target)?;
        let v6 = target.addr.is_ipv6();
        let (endpoint, owns_endpoint) = match via {
            Some(e) if e.v6 == v6 => (e.clone(), false),
            _ => (QuicEndpoint::bind(v6)?, true),
        };
        let (events, rx) = mpsc::channel(endpoint.link_events);
        let (reply, answer) = oneshot::channel();
        endpoint.command(Command::Connect {
            addr: target.addr,
            host: target.host,
            config,
            events,
            reply,
        })?;
        let mut pending = PendingConnect {
            endpoint: &endpoint,
            answer,
        };
        let key = (&mut pending.answer)
            .await
            .map_err(|_| anyhow::anyhow!("the QUIC endpoint has stopped"))?
            .map_err(|e| anyhow::anyhow!("QUIC handshake with {} failed: {e}", target.addr))?;
        drop(pending);
        Ok(QuicLink {
            key,
            endpoint,
            events: rx,
            inbound: Inbound::default(),
            owns_endpoint,
            closed: false,
        })
    }

    /// Sends one client frame: as a datagram when `unreliable` and it fits, else on
    /// the stream.
    pub async fn send(&mut self, frame: Bytes, unreliable: bool) -> anyhow::Result<()> {
        check_frame_size(&frame)?;
        self.endpoint.command(Command::Send {
            key: self.key,
            frame,
            unreliable,
        })
    }

    /// Writes `bytes` as one stream frame without the client's own size check (fault
    /// injection: the server must refuse it).
    pub async fn send_unchecked(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.endpoint.command(Command::Raw {
            key: self.key,
            bytes: Bytes::copy_from_slice(bytes),
        })
    }

    /// The next server message from the stream or a datagram, or the close.
    pub async fn recv(&mut self) -> Incoming {
        match self.events.recv().await {
            Some(event) => self.inbound.decode(event),
            None => Incoming::Closed(None),
        }
    }

    /// Snapshot datagrams received and lost so far.
    pub fn datagrams(&self) -> DatagramCount {
        self.inbound.count
    }

    /// Hands the connection to `handler`, which the endpoint's task runs (see
    /// [`Handler`]) until it says stop or the connection closes; then gives it back.
    /// Messages already received go to it first, in order. Fails only when the
    /// endpoint's task has stopped (and the handler went with it).
    pub async fn drive<H: Handler>(&mut self, handler: H) -> anyhow::Result<H> {
        let (done, back) = oneshot::channel();
        let (_, idle) = mpsc::channel(1);
        let driving = Box::new(Driving {
            handler: Box::new(handler),
            events: std::mem::replace(&mut self.events, idle),
            inbound: std::mem::take(&mut self.inbound),
            outbox: Outbox::default(),
        });
        self.endpoint.command(Command::Drive {
            key: self.key,
            driving,
            done,
        })?;
        let driving = back
            .await
            .map_err(|_| anyhow::anyhow!("the QUIC endpoint has stopped"))?;
        let Driving {
            handler,
            events,
            inbound,
            ..
        } = *driving;
        self.events = events;
        self.inbound = inbound;
        let handler: Box<dyn std::any::Any> = handler;
        handler
            .downcast::<H>()
            .map(|h| *h)
            .map_err(|_| anyhow::anyhow!("the QUIC endpoint gave back another handler"))
    }

    pub async fn close(mut self) {
        self.closed = true;
        let (done, sent) = oneshot::channel();
        let asked = self.endpoint.command(Command::Close {
            key: self.key,
            done: Some(done),
        });
        // An endpoint of its own goes with this link: let the close leave first.
        if asked.is_ok() && self.owns_endpoint {
            let _ = tokio::time::timeout(CLOSE_FLUSH, sent).await;
        }
    }
}

/// One connection in the endpoint's task.
struct ClientConn {
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
            let incoming = d.inbound.decode(event);
            let flow = d.handler.on_incoming(incoming, &mut d.outbox);
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
        if d.handler.wake_at().is_some_and(|t| t <= now) {
            let flow = d.handler.on_wake(now, &mut d.outbox);
            self.after_handler(flow);
        }
    }

    /// Sends what the handler queued; gives it back to its link when it stopped.
    fn after_handler(&mut self, flow: Flow) {
        let Some((d, _)) = self.driving.as_mut() else {
            return;
        };
        let mut frames = std::mem::take(&mut d.outbox.frames);
        for (frame, unreliable) in frames.drain(..) {
            send_frame(self, frame, unreliable);
        }
        if let Some((d, _)) = self.driving.as_mut() {
            d.outbox.frames = frames;
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
        let handler = self.driving.as_ref().and_then(|(d, _)| d.handler.wake_at());
        earliest(earliest(self.proto.poll_timeout(), own), handler)
    }
}

struct ClientDriver {
    endpoint: Endpoint,
    io: UdpIo,
    conns: Conns<ClientConn>,
    /// Connections whose timeout is due (scratch).
    due: Vec<ConnKey>,
    received: Vec<Datagram>,
    response_buf: Vec<u8>,
}

impl ClientDriver {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut alarm = Alarm::default();
        // Once every handle is gone: when the last closes have had their time.
        let mut stop_at: Option<Instant> = None;
        loop {
            alarm.set(earliest(self.conns.next_timeout(), stop_at));
            // Each arm says when it woke; the pass over the connections it marked
            // uses that time, so what a receive pass read carries when it was read.
            let now = tokio::select! {
                biased;
                c = commands.recv(), if stop_at.is_none() => match c {
                    Some(c) => {
                        let now = Instant::now();
                        self.on_command(c, now);
                        // Whatever else is queued, in the same pass.
                        while let Ok(c) = commands.try_recv() {
                            self.on_command(c, now);
                        }
                        now
                    }
                    None => {
                        let now = Instant::now();
                        for key in self.conns.keys() {
                            if let Some(c) = self.conns.get_mut(key) {
                                c.proto.close(now, VarInt::from_u32(0), Bytes::from_static(b"bye"));
                            }
                            self.conns.mark(key.slot);
                        }
                        stop_at = Some(now + CLOSE_FLUSH);
                        now
                    }
                },
                r = self.io.readable() => {
                    if let Err(e) = r {
                        tracing::error!("the QUIC client socket failed: {e}");
                        break;
                    }
                    let mut received = std::mem::take(&mut self.received);
                    self.io.receive(RECV_BATCHES_PER_TURN, &mut received);
                    let now = Instant::now();
                    for (n, d) in received.drain(..).enumerate() {
                        self.on_datagram(d, now);
                        if n % DUE_CHECK_EVERY == DUE_CHECK_EVERY - 1 {
                            self.serve_due();
                        }
                    }
                    self.received = received;
                    now
                }
                _ = alarm.ring() => {
                    self.serve_due();
                    Instant::now()
                }
                _ = self.io.writable() => {
                    self.io.send_backlog();
                    Instant::now()
                }
            };
            self.flush(now);
            if let Some(at) = stop_at
                && (Instant::now() >= at || self.conns.is_empty())
            {
                break;
            }
        }
    }

    fn on_command(&mut self, command: Command, now: Instant) {
        match command {
            Command::Connect {
                addr,
                host,
                config,
                events,
                reply,
            } => {
                let (handle, proto) = match self.endpoint.connect(now, config, addr, &host) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = reply.send(Err(e.to_string()));
                        return;
                    }
                };
                let key = self.conns.new_key(handle);
                self.conns.insert(ClientConn {
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
                let Some(c) = self.conns.get_mut(key) else {
                    return;
                };
                send_frame(c, frame, unreliable);
                self.conns.mark(key.slot);
            }
            Command::Drive {
                key,
                mut driving,
                done,
            } => {
                let Some(c) = self.conns.get_mut(key) else {
                    // Gone already: the handler hears the close and comes back.
                    let _ = driving
                        .handler
                        .on_incoming(Incoming::Closed(None), &mut driving.outbox);
                    let _ = done.send(driving);
                    return;
                };
                c.driving = Some((driving, done));
                // What reached the link before the handler took over goes first.
                while let Some(event) = c
                    .driving
                    .as_mut()
                    .and_then(|(d, _)| d.events.try_recv().ok())
                {
                    c.tell(event);
                }
                self.conns.mark(key.slot);
            }
            Command::Raw { key, bytes } => {
                let Some(c) = self.conns.get_mut(key) else {
                    return;
                };
                frame_on_stream(c, bytes);
                self.conns.mark(key.slot);
            }
            Command::Close { key, done } => {
                let Some(c) = self.conns.get_mut(key) else {
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
                self.conns.mark(key.slot);
            }
        }
    }

    fn on_datagram(&mut self, d: Datagram, now: Instant) {
        let routed = self.conns.route(
            &mut self.endpoint,
            &mut self.io,
            d,
            now,
            &mut self.response_buf,
        );
        // A client accepts no connections.
        if let Some(incoming) = routed {
            self.endpoint.ignore(incoming);
        }
    }

    /// Serves at once every connection whose timeout, or whose handler's wake, is due.
    /// Called between datagrams and between the connections of a pass as well as when
    /// the alarm rings, so a bot's due input does not wait for the rest of a receive
    /// batch: a thread running a thousand bots reads a tick's thousand snapshots in one
    /// burst, and an input that waits for all of them misses its tick.
    fn serve_due(&mut self) {
        let now = Instant::now();
        if self.conns.next_timeout().is_none_or(|t| t > now) {
            return;
        }
        let mut due = std::mem::take(&mut self.due);
        self.conns.expire(now, &mut due);
        for key in due.drain(..) {
            let Some(mut c) = self.conns.take(key) else {
                continue;
            };
            c.proto.handle_timeout(now);
            if c.stream_ended.is_some_and(|t| t + CLOSE_REASON_WAIT <= now) {
                // The server ended the stream but never closed: give up on a reason.
                c.stream_ended = None;
                c.closed(None);
                c.proto
                    .close(now, VarInt::from_u32(0), Bytes::from_static(b"bye"));
            }
            self.process(&mut c, now);
            if let Some(mut drained) = self.conns.done(c) {
                drained.closed(None);
            }
        }
        self.due = due;
    }

    fn flush(&mut self, now: Instant) {
        while let Some(mut c) = self.conns.next_dirty() {
            self.process(&mut c, now);
            if let Some(mut drained) = self.conns.done(c) {
                drained.closed(None);
            }
            self.serve_due();
        }
    }

    /// One pass over a connection: its handler's wake, its events, its stream, its
    /// packets out and its endpoint events ([`Conns::done`] then arms its next
    /// timeout).
    fn process(&mut self, c: &mut ClientConn, now: Instant) {
        c.wake_handler();
        loop {
            while let Some(event) = c.proto.poll() {
                on_event(c, event, now);
            }
            if let Some(id) = c.stream {
                arcane_quic_io::write_stream(&mut c.proto, id, &mut c.out);
            }
            self.io.transmit(&mut c.proto, now);
            if c.proto.is_closed()
                && let Some(done) = c.closed_reply.take()
            {
                let _ = done.send(());
            }
            if !arcane_quic_io::forward_endpoint_events(&mut self.endpoint, c.key, &mut c.proto) {
                break;
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A connect dropped with its answer sent but unread asks the endpoint to close that
    /// connection; dropped before the answer, it makes the answer fail (the endpoint
    /// then closes the connection itself) and asks nothing.
    #[test]
    fn a_connect_dropped_after_its_answer_closes_the_connection() {
        let (commands, mut asked) = mpsc::unbounded_channel();
        let endpoint = QuicEndpoint {
            commands,
            v6: false,
            link_events: LINK_EVENTS,
        };
        let key = ConnKey { slot: 3, id: 7 };

        let (reply, answer) = oneshot::channel();
        reply.send(Ok(key)).unwrap();
        drop(PendingConnect {
            endpoint: &endpoint,
            answer,
        });
        match asked.try_recv() {
            Ok(Command::Close { key: closed, .. }) => assert_eq!(closed, key),
            _ => panic!("no close for the answered connection"),
        }

        let (reply, answer) = oneshot::channel();
        drop(PendingConnect {
            endpoint: &endpoint,
            answer,
        });
        assert!(reply.send(Ok(key)).is_err(), "a late answer must fail");
        assert!(asked.try_recv().is_err());
    }

    #[test]
    fn endpoints_parse_with_and_without_a_pin() {
        let h = "ab".repeat(32);
        let t = parse(&format!("quic://127.0.0.1:7778?sha256={h}")).unwrap();
        assert_eq!(t.addr, "127.0.0.1:7778".parse().unwrap());
        assert_eq!(t.host, "127.0.0.1");
        assert_eq!(t.sha256.as_deref(), Some(h.as_str()));
        let t = parse("quic://[::1]:9000").unwrap();
        assert_eq!(t.host, "::1");
        assert!(t.sha256.is_none());
        assert!(parse("quic://127.0.0.1:1?sha256=zz").is_err());
        assert!(parse("ws://127.0.0.1:1").is_err());
    }

    #[test]
    fn gaps_in_datagram_sequence_numbers_count_as_loss_until_filled() {
        let mut t = SeqTracker::default();
        t.see(1);
        let c = t.see(4);
        assert_eq!(
            c,
            DatagramCount {
                received: 2,
                lost: 2
            }
        );
        // 3 was only reordered.
        let c = t.see(3);
        assert_eq!(
            c,
            DatagramCount {
                received: 3,
                lost: 1
            }
        );
    }
}
