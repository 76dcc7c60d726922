//! Headless bot swarm for Arcane Realms zones: bots connect over WebSocket or QUIC, walk at
//! random at the tick rate, ack snapshots and keep a decoded view of the world, while
//! the swarm measures latency, bandwidth and errors and scrapes the zone's metrics.

pub mod behaviour;
pub mod client;
pub mod evidence;
pub mod frame;
pub mod lossy;
pub mod quic;
pub mod report;
pub mod schedule;
pub mod scrape;
pub mod social;
pub mod swarm;
pub mod tamer;
pub mod ws_poll;

pub use report::Report;
pub use swarm::{SwarmConfig, run_swarm, run_swarm_blocking};
