//! Arcane Realms control plane: player login and placement with signed join tickets,
//! the zone registry, zone transfers, and the zones it opens (overflow copies,
//! instances) through a supervisor. Persistence is `arcane_store`'s; the HTTP types are
//! `arcane_control_api`'s.
//!
//! **Architecture Invariant:** one owner — a player belongs to exactly one zone at any
//! instant (`arcane_store::Ownership`), changed only by compare-and-set on its epoch;
//! and one opening — replicas sharing Redis open one copy or instance per claim
//! (`registry::ZoneRegistry::claim`).
//!
//! **Architecture Invariant:** the orchestrator reads time only through its
//! [`Clock`](clock::Clock), so its tests run on tokio's paused time.

pub mod api;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod links;
pub mod metrics;
pub mod placement;
pub mod registry;
pub mod social;
pub mod supervisor;
pub mod transfers;

mod orchestrator;

pub use orchestrator::{ApiConfig, COPY_CLOSE_AFTER_EMPTY, OPEN_WAIT, Orchestrator, Refused};
pub use placement::Endpoints;
pub use registry::{Beat, MemoryRegistry, RedisRegistry, ZoneRegistry};
pub use supervisor::{LocalConfig, LocalSupervisor, NoSupervisor, Supervisor, ZoneSpec};
