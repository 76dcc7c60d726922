//! What a journal holds: one [`Start`] per run, then per tick the commands the zone
//! was stepped with, content reloads, and the state digests the zone computed.
//!
//! Ticks are the zone's own counter: a [`Record::Tick`] carries the tick about to run
//! (`Zone::tick()` before the step); a [`Record::Hash`] carries the digest of the
//! state after it (its `tick` is `Zone::tick()` after the step, one more). "The state
//! at tick N" is the state after N steps, as `arcane replay --to N` shows it.

use std::collections::BTreeMap;

use arcane_engine::ZoneCommand;
use arcane_engine::common::state_hash::StateDigest;
use serde::{Deserialize, Serialize};

/// The journal format; a reader refuses other versions.
pub const FORMAT_VERSION: u32 = 1;

/// The content files a zone ran, with the version they hash to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentFiles {
    pub version: u64,
    pub files: BTreeMap<String, String>,
}

/// The first record of a run: everything needed to rebuild the zone as it started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Start {
    pub format: u32,
    /// The id the zone ran as (`meadow`, `meadow~2`, `crypt~party-red`).
    pub zone_id: String,
    /// The content map it runs (`meadow`, `crypt`).
    pub template: String,
    pub seed: u64,
    pub content: ContentFiles,
    /// The creature id block the process was granted, if any.
    pub creature_ids: Option<(u64, u64)>,
    /// The generation of the zone lease the process held (with a database): a
    /// recovery replays a run only when it held the lease just before.
    pub lease_generation: Option<i64>,
    /// The zone's tick when the journal started (0 for a new zone).
    pub first_tick: u64,
    /// Wall clock at start (Unix ms), for people reading the journal.
    pub started_unix_ms: u64,
    /// The version of the program that wrote it (`arcane-journal`'s version and the
    /// executable's path), for people reading the journal.
    pub writer: String,
    /// A digest every this many ticks (0: none).
    pub hash_every: u32,
    /// Of those, every this many carry per-entity row hashes (0: none).
    pub rows_every: u32,
}

/// One journal record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record {
    Start(Box<Start>),
    /// The zone stepped tick `tick` with `commands`, at host time `host_us`.
    /// `epochs` are the ownership epochs of the players whose `Join` loaded them from
    /// the database (not part of the simulation: crash recovery saves them under it).
    Tick {
        tick: u64,
        host_us: u64,
        commands: Vec<ZoneCommand>,
        epochs: Vec<(u64, i64)>,
    },
    /// New content, applied before tick `tick` ran.
    Reload {
        tick: u64,
        content: ContentFiles,
    },
    /// The state's digest after `digest.tick` steps.
    Hash(StateDigest),
    /// The run ended cleanly (`reason`), or the writer stopped (the reason says why).
    End {
        tick: u64,
        reason: String,
    },
}

impl Record {
    /// A short name for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Start(_) => "start",
            Record::Tick { .. } => "tick",
            Record::Reload { .. } => "reload",
            Record::Hash(_) => "hash",
            Record::End { .. } => "end",
        }
    }
}
