//! QUIC transport: the same sessions as WebSocket over another carrier. Snapshots go
//! out as unreliable datagrams (a lost one is harmless: the next delta is against an
//! acknowledged baseline), everything reliable on one bidirectional stream of
//! length-prefixed frames; a snapshot too big for a datagram takes the stream. Clients
//! may send input/ack-only frames as datagrams. See `PROTOCOL.md`.
//!
//! `listener.rs` sets the endpoint up, `driver.rs` runs the sessions on it (a driver
//! of `arcane_quic_io`'s endpoint loop), and `link.rs` is a connection's side of its
//! outbox.

mod driver;
mod link;
mod listener;

pub use driver::{PACE, serve};
pub use listener::{QuicListener, bind, configured_identity};
