//! Everything between the sockets and the tick thread: the transports (WebSocket in
//! `ws/`, QUIC in `quic/`), the transport-independent session logic (`session.rs`),
//! what sessions send the tick (`inbound.rs`), the per-connection outbox it answers
//! through (`outbox.rs`), the I/O threads' idle pause (`io_pause.rs`), and the social
//! link to the orchestrator with what sessions share of the social layer
//! (`social.rs`).
//!
//! **Architecture Invariant:** nothing here depends on the tick thread or on
//! persistence: they depend on this.

pub mod inbound;
pub mod io_pause;
pub mod outbox;
pub mod quic;
pub mod session;
pub mod social;
pub mod ws;
