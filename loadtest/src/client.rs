//! A minimal protocol client over WebSocket or QUIC, shared by bots and integration
//! tests. The endpoint's scheme picks the transport: `ws://host:port` or
//! `quic://host:port[?sha256=<certificate hash>]` (see `PROTOCOL.md`).

use std::time::Instant;

use anyhow::{Context as _, bail};
use arcane_protocol::codec::decode_server_message;
use arcane_protocol::{ClientMessage, ClientTier, Hello, PROTOCOL_VERSION, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use crate::frame::{Incoming, Received, client_frame};
use crate::quic::{DatagramCount, QuicEndpoint, QuicLink};

pub type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The transport bots connect with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Ws,
    Quic,
}

impl Transport {
    /// The endpoint of this transport among a zone's (`ws`, `quic`).
    pub fn pick(self, ws: String, quic: String) -> anyhow::Result<String> {
        match self {
            Transport::Ws => Ok(ws),
            Transport::Quic if quic.is_empty() => {
                anyhow::bail!("the zone has no QUIC endpoint (it runs with --quic false?)")
            }
            Transport::Quic => Ok(quic),
        }
    }
}

/// A connected client.
pub struct Client {
    link: Link,
    buf: Vec<u8>,
}

enum Link {
    Ws(Box<WsStream>),
    Quic(Box<QuicLink>),
    /// The WebSocket went to a poller ([`Client::take_ws`]), which closes it.
    Gone,
}

/// What one WebSocket read is to a client: a message (or a binary frame that does not
/// decode), the close, or nothing to hand on (`None`: a ping, a pong, a text frame).
/// Shared by [`Client::recv`] and the poller (`crate::ws_poll`).
pub(crate) fn ws_incoming(read: Result<Message, WsError>) -> Option<Incoming> {
    Some(match read {
        Ok(Message::Binary(b)) => {
            let received = Received {
                bytes: b.len(),
                at: Instant::now(),
            };
            match decode_server_message(&b) {
                Ok(m) => Incoming::Message(m, received),
                Err(e) => Incoming::Malformed(e.to_string()),
            }
        }
        Ok(Message::Close(frame)) => Incoming::Closed(frame.map(|f| f.reason.to_string())),
        Ok(_) => return None,
        Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => Incoming::Closed(None),
        Err(e) => Incoming::Closed(Some(format!("error: {e}"))),
    })
}

/// `ws://host:port` → `host:port`.
pub fn host_port(url: &str) -> anyhow::Result<&str> {
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("quic://"))
        .context("only ws:// and quic:// endpoints are supported")?;
    let rest = rest.split('?').next().unwrap_or(rest);
    Ok(rest.split('/').next().unwrap_or(rest))
}

impl Client {
    /// Opens the connection (without sending anything): WebSocket for `ws://`, QUIC
    /// for `quic://`.
    pub async fn connect(url: &str) -> anyhow::Result<Client> {
        Self::connect_via(url, None).await
    }

    /// [`Client::connect`], with QUIC connections made from a shared endpoint.
    pub async fn connect_via(url: &str, quic: Option<&QuicEndpoint>) -> anyhow::Result<Client> {
        let link = if url.starts_with("quic://") {
            Link::Quic(Box::new(QuicLink::connect(url, quic).await?))
        } else {
            Link::Ws(Box::new(Self::connect_ws(url).await?))
        };
        Ok(Client {
            link,
            buf: Vec::with_capacity(64),
        })
    }

    async fn connect_ws(url: &str) -> anyhow::Result<WsStream> {
        let addr = host_port(url)?;
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        tcp.set_nodelay(true)?;
        // A small read buffer: tungstenite zeroes its free part before every read; the
        // 128 KiB default dominated a bot's CPU, and 8 KiB was still 4 % of the swarm's
        // at 2,000 bots. A snapshot is ~100 bytes; a larger frame takes a few reads.
        let config = WebSocketConfig::default()
            .max_message_size(Some(arcane_protocol::MAX_SERVER_FRAME))
            .read_buffer_size(1024);
        let (ws, _) = tokio_tungstenite::client_async_with_config(
            url,
            MaybeTlsStream::Plain(tcp),
            Some(config),
        )
        .await
        .context("websocket upgrade failed")?;
        Ok(ws)
    }

    /// Snapshot datagrams received and lost so far (QUIC; zeros on WebSocket).
    pub fn datagrams(&self) -> DatagramCount {
        match &self.link {
            Link::Quic(q) => q.datagrams(),
            Link::Ws(_) | Link::Gone => DatagramCount::default(),
        }
    }

    /// Connects and sends the Hello with `ticket`.
    pub async fn join(url: &str, ticket: &str, tier: ClientTier) -> anyhow::Result<Client> {
        Self::join_via(url, ticket, tier, None).await
    }

    /// [`Client::join`], with QUIC connections made from a shared endpoint.
    pub async fn join_via(
        url: &str,
        ticket: &str,
        tier: ClientTier,
        quic: Option<&QuicEndpoint>,
    ) -> anyhow::Result<Client> {
        let mut c = Client::connect_via(url, quic).await?;
        c.send(&[ClientMessage::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            ticket: ticket.into(),
            tier,
        })])
        .await?;
        Ok(c)
    }

    /// Sends one frame batching `messages`. Over QUIC, a frame of only inputs, acks
    /// and pings goes as a datagram (a lost one is replaced by the next tick's).
    pub async fn send(&mut self, messages: &[ClientMessage]) -> anyhow::Result<usize> {
        let (frame, unreliable) = client_frame(messages, &mut self.buf)?;
        let n = frame.len();
        match &mut self.link {
            Link::Ws(ws) => ws.send(Message::Binary(frame)).await?,
            Link::Quic(q) => q.send(frame, unreliable).await?,
            Link::Gone => bail!("the connection was handed over"),
        }
        Ok(n)
    }

    /// The QUIC link, when this is a QUIC client (to run a bot inside its endpoint's
    /// task: [`QuicLink::drive`]).
    pub fn quic_link(&mut self) -> Option<&mut QuicLink> {
        match &mut self.link {
            Link::Quic(q) => Some(q),
            Link::Ws(_) | Link::Gone => None,
        }
    }

    /// Takes the WebSocket out of this client (to run a bot on a poller:
    /// [`crate::ws_poll::WsPoller::drive`]); the client is then closed.
    pub fn take_ws(&mut self) -> Option<WsStream> {
        match std::mem::replace(&mut self.link, Link::Gone) {
            Link::Ws(ws) => Some(*ws),
            other => {
                self.link = other;
                None
            }
        }
    }

    /// Sends raw bytes as one binary frame (fault injection).
    pub async fn send_raw(&mut self, bytes: Vec<u8>) -> anyhow::Result<()> {
        match &mut self.link {
            Link::Ws(ws) => ws.send(Message::Binary(bytes.into())).await?,
            Link::Quic(q) => q.send_unchecked(&bytes).await?,
            Link::Gone => bail!("the connection was handed over"),
        }
        Ok(())
    }

    /// Sends a text frame (fault injection; WebSocket only).
    pub async fn send_text(&mut self, text: &str) -> anyhow::Result<()> {
        match &mut self.link {
            Link::Ws(ws) => ws.send(Message::Text(text.into())).await?,
            Link::Quic(_) => bail!("QUIC has no text frames"),
            Link::Gone => bail!("the connection was handed over"),
        }
        Ok(())
    }

    /// Waits for the next server message or the close.
    pub async fn recv(&mut self) -> Incoming {
        let ws = match &mut self.link {
            Link::Ws(ws) => ws,
            Link::Quic(q) => return q.recv().await,
            Link::Gone => return Incoming::Closed(Some("the connection was handed over".into())),
        };
        loop {
            let Some(read) = ws.next().await else {
                return Incoming::Closed(None);
            };
            if let Some(incoming) = ws_incoming(read) {
                return incoming;
            }
        }
    }

    /// Receives until a message matches `pick`, or fails on close.
    pub async fn recv_until<T>(
        &mut self,
        mut pick: impl FnMut(ServerMessage) -> Option<T>,
    ) -> anyhow::Result<T> {
        loop {
            match self.recv().await {
                Incoming::Message(m, _) => {
                    if let Some(t) = pick(m) {
                        return Ok(t);
                    }
                }
                Incoming::Malformed(e) => bail!("malformed frame from server: {e}"),
                Incoming::Closed(r) => bail!("connection closed ({r:?})"),
            }
        }
    }

    pub async fn close(self) {
        match self.link {
            Link::Ws(mut ws) => {
                let _ = WebSocketStream::close(&mut ws, None).await;
            }
            Link::Quic(q) => q.close().await,
            Link::Gone => {}
        }
    }
}
