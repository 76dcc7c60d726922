//! Arcane Realms wire protocol: message types, the codec (`codec` for frames, `wire`
//! for the bytes under them), quantization, the delta snapshot format (`snapshot`), its
//! server-side encoder (`sender`) and the client-side snapshot decoder (`view`).
//!
//! **API Boundary.** Everything a client needs to talk to a zone lives here and only
//! here; `PROTOCOL.md` beside this crate documents the bytes. No bevy, no tokio.

pub mod codec;
pub mod creatures;
pub mod messages;
pub mod quant;
pub mod saved;
pub mod sender;
pub mod sent_views;
pub mod snapshot;
pub mod social;
pub mod ticket;
pub mod view;
mod wire;

pub use codec::CodecError;
pub use creatures::{
    BreedOutcome, BreedRefusal, CaptureOutcome, CaptureRefusal, CreatureCatalog, CreatureId,
    CreatureView, TraitView,
};
pub use messages::{
    AdminCommand, CastIntent, CastRejectReason, CastTarget, ClientMessage, ClientTier, EventKind,
    Hello, KickReason, MoveInput, Redirect, ReliableEvent, ServerMessage, Telegraph, TelegraphArea,
    Welcome,
};
pub use snapshot::{
    EntityEnter, EntityKind, EntityState, EntityUpdate, InputReceipt, InputWait, LocalId, NetId,
    OwnState, Snapshot,
};
pub use social::{
    ChatChannel, ChatRefusal, FriendView, MAX_CHAT_BYTES, PartyMember, PartyView, SocialEvent,
    SocialRefusal, SocialRequest,
};

/// Bumped whenever the byte layout of any message changes.
pub const PROTOCOL_VERSION: u16 = 8;

/// The QUIC ALPN protocol id: names the protocol version, so a client of another
/// version fails the TLS handshake with a clear `no_application_protocol` instead of
/// mis-decoding frames.
pub const QUIC_ALPN: &[u8] = b"arcane/8";

/// Bytes before the server message in a QUIC snapshot datagram: a per-connection
/// datagram sequence number (`u32`, big-endian), from which a client counts loss.
pub const DATAGRAM_HEADER: usize = 4;

/// Lower-case hex SHA-256 of a DER certificate: the `sha256` a QUIC endpoint carries
/// for a self-signed certificate, which clients pin.
pub fn cert_sha256(der: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Largest client→server frame a zone accepts (bytes). Checked by the transport before
/// any decoding; a client batch of the largest legal messages fits many times over.
pub const MAX_CLIENT_FRAME: usize = 4 * 1024;

/// Largest server→client frame a client accepts (bytes); the decode limit on the client.
pub const MAX_SERVER_FRAME: usize = 256 * 1024;

/// Most messages one client frame may batch.
pub const MAX_MESSAGES_PER_FRAME: usize = 16;

/// How far ahead of the newest one received an `Input` or `Cast` sequence number may
/// jump (about 51 s of inputs at 20 Hz). Further is refused as `StaleSequence` and
/// consumes nothing, so one bad value (say `u32::MAX`) cannot make every later input
/// look stale and lock the connection out.
pub const MAX_SEQ_AHEAD: u32 = 1024;

#[cfg(test)]
mod alpn_tests {
    #[test]
    fn the_alpn_names_the_protocol_version() {
        let want = format!("arcane/{}", super::PROTOCOL_VERSION);
        assert_eq!(super::QUIC_ALPN, want.as_bytes());
    }
}
