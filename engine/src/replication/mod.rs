//! Replication: encodes each client's view as a delta snapshot against the newest
//! snapshot that client acknowledged. ECS components never go on the wire directly;
//! interest already mapped them to protocol `EntityState`s.

mod plugin;
mod systems;

pub use plugin::ReplicationPlugin;
pub use systems::{SnapshotLink, SnapshotScratch, encode_snapshots};
