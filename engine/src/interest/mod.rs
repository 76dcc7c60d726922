//! Interest management: an `rstar` R-tree over replicated positions, rebuilt every tick,
//! queried per client to decide what it tracks (with hysteresis and a tier cap) and
//! which tracked entities are refreshed in this tick's snapshot (by accumulated priority).
//!
//! **Architecture Invariant:** nothing here loops over all entities × all clients; each
//! client's candidates come from one radius query of the spatial index.

mod plugin;
pub mod rules;
mod systems;

pub use plugin::{InterestPlugin, InterestSystems};
pub use systems::{
    FrameEntity, InterestState, SpatialIndex, frame_state, rebuild_spatial_index, update_interest,
};
