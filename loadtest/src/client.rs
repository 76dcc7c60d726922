//! A minimal protocol client over WebSocket or QUIC, shared by bots and integration
//! tests. The endpoint's scheme picks the transport: `ws://host:port` or
//! `quic://host:port[?sha256=<certificate hash>]` (see `PROTOCOL.md`).

use std::time::Instant;

use anyhow::{Context as _, bail};
use arcane_protocol::codec::{decode_server_message, encode_client_frame};
use arcane_protocol::{ClientMessage, ClientTier, Hello, PROTOCOL_VERSION, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One received frame.
#[derive(Debug)]
pub enum Incoming {
    Message(ServerMessage, Received),
    /// A binary frame that failed to decode (counted as an error by bots).
    Malformed(String),
    /// The server closed the connection (with the close frame's reason, if any).
    Closed(Option<String>),
}

/// How a message arrived: its size on the wire and when this process read it off
/// the socket. Over QUIC that is the endpoint task's receive pass, before the message
/// waits for its bot to be scheduled (one bot process runs a thousand clients on one
/// core, and a real client has no such queue); over WebSocket each client reads its
/// own socket, so it is when `recv` got the frame.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub bytes: usize,
    pub at: Instant,
}

/// One frame batching `messages` (`buf` is scratch), and whether it may travel
/// unreliably: a frame of only inputs, acks and pings, which the next tick's replaces.
pub fn client_frame(
    messages: &[ClientMessage],
    buf: &mut Vec<u8>,
) -> anyhow::Result<(bytes::Bytes, bool)> {
    buf.clear();
    encode_client_frame(messages, buf)?;
    let unreliable = messages.iter().all(|m| {
        matches!(
            m,
            ClientMessage::Input(_) | ClientMessage::Ack { .. } | ClientMessage::Ping { .. }
        )
    });
    Ok((bytes::Bytes::copy_from_slice(buf), unreliable))
}

/// A connected client.
pub struct Client {
    link: Link,
    buf: Vec<u8>,
}

enum Link {
    Ws(Box<WsStream>),
    Quic(Box<crate::quic::QuicLink>),
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
    pub async fn connect_via(
        url: &str,
        quic: Option<&crate::quic::QuicEndpoint>,
    ) -> anyhow::Result<Client> {
        let link = if url.starts_with("quic://") {
            Link::Quic(Box::new(crate::quic::QuicLink::connect(url, quic).await?))
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
        // A small read buffer: tungstenite zeroes it on every read, and the 128 KiB
        // default dominates a bot's CPU.
        let config = WebSocketConfig::default()
            .max_message_size(Some(arcane_protocol::MAX_SERVER_FRAME))
            .read_buffer_size(8 * 1024);
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
    pub fn datagrams(&self) -> crate::quic::DatagramCount {
        match &self.link {
            Link::Quic(q) => q.datagrams(),
            Link::Ws(_) => crate::quic::DatagramCount::default(),
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
        quic: Option<&crate::quic::QuicEndpoint>,
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
        }
        Ok(n)
    }

    /// The QUIC link, when this is a QUIC client (to run a bot inside its endpoint's
    /// task: [`crate::quic::QuicLink::drive`]).
    pub fn quic_link(&mut self) -> Option<&mut crate::quic::QuicLink> {
        match &mut self.link {
            Link::Quic(q) => Some(q),
            Link::Ws(_) => None,
        }
    }

    /// Sends raw bytes as one binary frame (fault injection).
    pub async fn send_raw(&mut self, bytes: Vec<u8>) -> anyhow::Result<()> {
        match &mut self.link {
            Link::Ws(ws) => ws.send(Message::Binary(bytes.into())).await?,
            Link::Quic(q) => q.send_unchecked(&bytes).await?,
        }
        Ok(())
    }

    /// Sends a text frame (fault injection; WebSocket only).
    pub async fn send_text(&mut self, text: &str) -> anyhow::Result<()> {
        match &mut self.link {
            Link::Ws(ws) => ws.send(Message::Text(text.into())).await?,
            Link::Quic(_) => bail!("QUIC has no text frames"),
        }
        Ok(())
    }

    /// Waits for the next server message or the close.
    pub async fn recv(&mut self) -> Incoming {
        let ws = match &mut self.link {
            Link::Ws(ws) => ws,
            Link::Quic(q) => return q.recv().await,
        };
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(b))) => {
                    let received = Received {
                        bytes: b.len(),
                        at: Instant::now(),
                    };
                    return match decode_server_message(&b) {
                        Ok(m) => Incoming::Message(m, received),
                        Err(e) => Incoming::Malformed(e.to_string()),
                    };
                }
                Some(Ok(Message::Close(frame))) => {
                    return Incoming::Closed(frame.map(|f| f.reason.to_string()));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Incoming::Closed(Some(format!("error: {e}"))),
                None => return Incoming::Closed(None),
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
        }
    }
}
