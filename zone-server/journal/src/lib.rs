//! The zone journal: everything that enters a zone's simulation, tick by tick, in
//! append-only checksummed segments, and the replay that rebuilds the zone from it.
//!
//! The engine has no clock and no sockets and draws all randomness from its seed, so
//! the `Start` record (content files, seed) and each tick's commands are enough to
//! rebuild every state the zone went through. Digests of the state, recorded every
//! tick or every N, let a replay prove it is bit-exact or find the first tick and
//! entity where it is not.
//!
//! - [`record`]: what is written.
//! - [`segment`]: the bytes, and the reader that finds a torn tail.
//! - [`writer`]: the tick side and the writer thread (rotation, retention, sync).
//! - [`replay`]: rebuild, verify, dump.

pub mod record;
pub mod replay;
pub mod segment;
pub mod writer;

pub use record::{ContentFiles, FORMAT_VERSION, Record, Start};
pub use replay::{
    Divergence, ReplayError, ReplayOptions, ReplayReport, StateDump, replay, replay_zone,
};
pub use segment::{JournalReader, ReadError, Tail, cut_tail};
pub use writer::{Journal, JournalConfig, JournalStats, runs, zone_dir};
