//! Arcane Realms wire protocol: message types, the one codec module, quantization,
//! the delta snapshot format and the client-side snapshot decoder (`view`).
//!
//! **API Boundary.** Everything a client needs to talk to a zone lives here and only
//! here; `PROTOCOL.md` beside this crate documents the bytes. No bevy, no tokio.

pub mod codec;
pub mod messages;
pub mod quant;
pub mod saved;
pub mod snapshot;
pub mod ticket;
pub mod view;

pub use codec::CodecError;
pub use messages::{
    AdminCommand, CastIntent, CastRejectReason, CastTarget, ClientMessage, ClientTier, EventKind,
    Hello, KickReason, MoveInput, Redirect, ReliableEvent, ServerMessage, Telegraph, TelegraphArea,
    Welcome,
};
pub use snapshot::{
    EntityEnter, EntityKind, EntityState, EntityUpdate, LocalId, NetId, OwnState, Snapshot,
};

/// Bumped whenever the byte layout of any message changes.
pub const PROTOCOL_VERSION: u16 = 3;

/// Largest client→server frame a zone accepts (bytes). Checked by the transport before
/// any decoding; a client batch of the largest legal messages fits many times over.
pub const MAX_CLIENT_FRAME: usize = 4 * 1024;

/// Largest server→client frame a client accepts (bytes); the decode limit on the client.
pub const MAX_SERVER_FRAME: usize = 256 * 1024;

/// Most messages one client frame may batch.
pub const MAX_MESSAGES_PER_FRAME: usize = 16;
