//! The zone process: loads content, runs the zone's tick on its own thread, serves
//! clients over WebSocket, and exposes `/metrics` and `/healthz` on an admin port.
//!
//! **Architecture Invariant:** the tick thread never awaits, never blocks on a socket
//! and never touches a database; it talks to sessions only through bounded channels
//! and per-connection outboxes.

pub mod admin;
pub mod config;
pub mod control;
pub mod metrics;
pub mod outbox;
pub mod persist;
pub mod reload;
pub mod server;
pub mod session;
pub mod tick;
pub mod ws;

pub use config::ZoneServerConfig;
pub use server::{RunningZone, start};
