//! What an endpoint that drives quinn-proto's connections by hand needs: one UDP
//! socket's batched receives and sends, with a backlog for when its send buffer is
//! full ([`UdpIo`]); the connections by handle, which of them have work, and one timer
//! heap for all of them ([`Conns`]); the stream reads and writes both ends do alike;
//! and the endpoint loop itself ([`run`], with a [`Driver`] for what a server and a
//! client do differently). A crate of its own beside `arcane-protocol`, which stays
//! free of sockets and tokio. The zone's QUIC transport
//! (`zone-server/src/net/quic/`) and the bot swarm's client endpoint
//! (`loadtest/src/quic/`) are both drivers of this loop: one task per endpoint instead
//! of quinn's task, lock and timer per connection.

mod alarm;
mod conns;
mod endpoint;
mod stream;
mod udp;

pub use alarm::{Alarm, earliest};
pub use conns::{ConnKey, Conns, Driven, Timers, forward_endpoint_events};
pub use endpoint::{Core, Driver, LoopConfig, run};
pub use stream::{StreamRead, framed, read_stream, stream_codec, write_stream};
pub use udp::{Datagram, UdpIo};
