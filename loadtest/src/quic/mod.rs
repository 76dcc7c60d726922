//! The client side of the QUIC transport: one stream of length-prefixed frames for
//! reliable messages, snapshots as datagrams with a sequence header (from which loss
//! is counted), and certificate pinning for zones with self-signed certificates
//! (`quic://host:port?sha256=<hex>`).
//!
//! Connections are made from a [`QuicEndpoint`]: one UDP socket and one task that
//! drives every connection's quinn-proto state machine (`driver.rs`, a driver of
//! `arcane_quic_io`'s endpoint loop, as the zone's endpoint is). A bot swarm shares endpoints between bots. A connection talks to
//! its [`QuicLink`] through channels, or is run by a [`Handler`] inside the endpoint's
//! task ([`QuicLink::drive`]), as the swarm's bots are. A link's queue of events is
//! bounded ([`LINK_EVENTS`]), so a link that stops reading cannot grow the endpoint.

mod driver;
mod inbound;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use arcane_quic_io::{ConnKey, Core, UdpIo};
use bytes::Bytes;
use quinn_proto::{ClientConfig, Endpoint, EndpointConfig};
use tokio::sync::{mpsc, oneshot};

pub use crate::frame::{Flow, Handler, Outbox};
use crate::frame::{Incoming, check_frame_size};
use driver::{ClientDriver, Command, PACE};
pub use inbound::DatagramCount;
use inbound::{Inbound, LinkEvent};
use tls::{client_config, parse};

/// Socket buffers asked of the kernel: a swarm's endpoint takes a tick's snapshots
/// for all its bots at once.
const SOCKET_BUFFER: usize = 4 << 20;
/// How long an endpoint whose handles are all gone lets its closes leave.
const CLOSE_FLUSH: Duration = Duration::from_millis(200);

/// Events a link may leave unread before its connection is given up: 12.8 s of
/// snapshots at 20 Hz. A link that stops reading must not grow the endpoint's memory
/// without bound, as a zone's outbox must not.
pub const LINK_EVENTS: usize = 256;

/// A handler at work, with what its link lent it: the channel (for messages that
/// reached it before the handler took over) and the datagram count.
pub struct Driving {
    handler: Box<dyn Handler>,
    events: mpsc::Receiver<LinkEvent>,
    inbound: Inbound,
    outbox: Outbox,
}

impl Driving {
    fn parts(&mut self) -> (&mut dyn Handler, &mut Inbound, &mut Outbox) {
        (self.handler.as_mut(), &mut self.inbound, &mut self.outbox)
    }

    /// What reached the link before the handler took over, one at a time.
    fn take_early_event(&mut self) -> Option<LinkEvent> {
        self.events.try_recv().ok()
    }
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

/// What connecting to `quic://host:port[?sha256=…]` takes: the address, the server
/// name, and quinn-proto's client configuration (the certificate pinned by the hash,
/// else the CAs of `ARCANE_QUIC_CA`).
pub fn client_config_for(url: &str) -> anyhow::Result<(SocketAddr, String, ClientConfig)> {
    let target = parse(url)?;
    let config = client_config(&target)?;
    Ok((target.addr, target.host, config))
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
            commands: rx,
            stop_at: None,
        };
        tokio::spawn(arcane_quic_io::run(Core::new(endpoint, io, PACE), driver));
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
        let (addr, host, config) = client_config_for(url)?;
        let v6 = addr.is_ipv6();
        let (endpoint, owns_endpoint) = match via {
            Some(e) if e.v6 == v6 => (e.clone(), false),
            _ => (QuicEndpoint::bind(v6)?, true),
        };
        let (events, rx) = mpsc::channel(endpoint.link_events);
        let (reply, answer) = oneshot::channel();
        endpoint.command(Command::Connect {
            addr,
            host,
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
            .map_err(|e| anyhow::anyhow!("QUIC handshake with {addr} failed: {e}"))?;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
}
