//! Interest management: every tick, the frame of replicated entities and the spatial
//! index over it (`frame.rs`), then each client's view (`view.rs`): what it tracks
//! (with hysteresis and a tier cap) and which tracked entities this tick's snapshot
//! refreshes (by accumulated priority). Owns `InterestState`; refreshes the shared
//! `SpatialIndex`.
//!
//! **Architecture Invariant:** nothing here loops over all entities × all clients; each
//! client's candidates come from one radius query of the spatial index.

mod frame;
mod plugin;
pub mod rules;
mod view;

pub use frame::{frame_state, rebuild_spatial_index};
pub use plugin::InterestPlugin;
pub use view::{InterestState, update_interest};
