//! What a client sends and receives, whatever the transport: one frame batching client
//! messages, and each server message as it arrived.

use std::time::Instant;

use arcane_protocol::codec::encode_client_frame;
use arcane_protocol::{ClientMessage, ServerMessage};

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
