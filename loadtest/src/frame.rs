//! What a client sends and receives, whatever the transport: one frame batching client
//! messages, and each server message as it arrived; and the [`Handler`] interface by
//! which a bot runs inside the task that reads its socket.

use std::time::Instant;

use arcane_protocol::codec::encode_client_frame;
use arcane_protocol::{ClientMessage, MAX_CLIENT_FRAME, ServerMessage};

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

/// Runs a connection from inside the task that reads its socket rather than through
/// a channel or a task of its own: a swarm's bot, on a QUIC endpoint's task
/// ([`crate::quic::QuicLink::drive`]) or on the WebSocket poller
/// ([`crate::ws_poll::WsPoller::drive`]). The task calls it with each message as it
/// reads it and when its wake time comes, and checks for due wake times between
/// reads, so one thread can run thousands of them and still send each one's input on
/// time while a tick's snapshots wait to be read.
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
    /// Hand the connection back (to its link, or to the bot that asked for it).
    Stop,
}

/// What a [`Handler`] sends: frames, as [`crate::client::Client::send`] makes them.
#[derive(Default)]
pub struct Outbox {
    pub(crate) frames: Vec<(bytes::Bytes, bool)>,
    buf: Vec<u8>,
}

impl Outbox {
    /// Queues one frame batching `messages`; returns its size.
    pub fn send(&mut self, messages: &[ClientMessage]) -> anyhow::Result<usize> {
        let (frame, unreliable) = client_frame(messages, &mut self.buf)?;
        check_frame_size(&frame)?;
        let n = frame.len();
        self.frames.push((frame, unreliable));
        Ok(n)
    }
}

/// Refuses a frame over the zone's limit for client frames.
pub(crate) fn check_frame_size(frame: &[u8]) -> anyhow::Result<()> {
    if frame.len() > MAX_CLIENT_FRAME {
        anyhow::bail!(
            "a client frame of {} bytes is over the {MAX_CLIENT_FRAME}-byte limit",
            frame.len()
        );
    }
    Ok(())
}
