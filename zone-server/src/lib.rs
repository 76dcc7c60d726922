//! The zone process: loads content, runs the zone's tick on its own thread, serves
//! clients over WebSocket and QUIC, persists players, registers with the
//! orchestrator, and exposes `/metrics` and the probes on its ops port.
//!
//! **Architecture Invariant:** the tick thread never awaits, never blocks on a socket
//! and never touches a database; it talks to sessions only through bounded channels
//! and per-connection outboxes, and to persistence through a queue that holds at most
//! one checkpoint batch plus one job per leaving or transferring player.
//!
//! **Architecture Invariant:** this crate does not link the orchestrator. What the two
//! share is `arcane-control-api` (the HTTP types), `arcane-store` (persistence) and
//! `arcane-service` (logging, signals, retries).
//!
//! The public surface is what `zone-server`, `arcane` and the tests use: start a zone
//! in-process ([`start`]) or as a process ([`run_process`]), and its configuration;
//! and its QUIC endpoint's set-up and pace alone ([`bind_quic`], [`QUIC_PACE`]), for
//! the QUIC floor benchmark.

mod agones;
mod control;
mod journaling;
mod lease;
mod metrics;
mod net;
mod ops_http;
mod persist;
mod process;
mod recovery;
mod reload;
mod server;
mod status;
mod tick;

pub mod config;

pub use config::{IoOptions, ZoneServerConfig};
pub use lease::{SUPERSEDED_EXIT, Superseded};
pub use metrics::Metrics;
pub use net::quic::{PACE as QUIC_PACE, QuicListener, bind as bind_quic};
pub use net::session::MAX_MALFORMED_FRAMES;
pub use process::{exit_code, run_process};
pub use recovery::Recovered;
pub use server::{DrainOutcome, RunningZone, start};
pub use status::TickStatus;

#[cfg(test)]
mod tests;
