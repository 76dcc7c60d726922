//! Rebuilding a zone from its journal, headless: the content and seed of the
//! `Start` record, then every tick's commands in order. With `verify`, every
//! recorded digest is checked against the rebuilt state; the first that differs
//! stops the replay and says which parts (positions, health, creatures…) and, from
//! the nearest digest with rows, which entities differ.

use std::path::Path;

use arcane_engine::common::state_hash::StateDigest;
use arcane_engine::content::ContentSources;
use arcane_engine::{Zone, ZoneCommand, ZoneOutput};
use arcane_protocol::saved::SavedPlayer;

use crate::record::{ContentFiles, FORMAT_VERSION, Record, Start};
use crate::segment::{JournalReader, ReadError, Tail};

/// A state written out: per part, `(id, RON row)` sorted by id.
pub type StateDump = Vec<(String, Vec<(u64, String)>)>;

/// What to do while replaying.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// Stop once the state is at this tick (after this many steps).
    pub to: Option<u64>,
    /// Check every recorded digest.
    pub verify: bool,
    /// Keep the state at this tick, as RON rows per part.
    pub dump: Option<u64>,
    /// Run every system as the live zone did, per-client views and snapshot encoding
    /// included (slower; by default a replay skips them, see `Zone::set_headless`).
    pub full: bool,
}

/// Where a replay first disagreed with the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    /// The state after this many steps differs.
    pub tick: u64,
    pub recorded: u64,
    pub replayed: u64,
    /// The parts whose hashes differ, each with the ids (net ids, or resource slot
    /// indices) whose rows differ at `rows_tick`.
    pub parts: Vec<(String, Vec<u64>)>,
    /// The tick the per-row comparison is from: `tick` when that digest carried rows,
    /// else the next digest that did (differences may have spread by then); `None`
    /// when no digest with rows followed.
    pub rows_tick: Option<u64>,
}

/// A replay's outcome.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    pub zone_id: String,
    pub seed: u64,
    /// The state's tick when the replay stopped.
    pub tick: u64,
    pub ticks_replayed: u64,
    pub digests_checked: u64,
    pub reloads: u64,
    pub divergence: Option<Divergence>,
    /// The state at `ReplayOptions::dump`, if reached: per part, `(id, RON row)`.
    pub dump: Option<StateDump>,
    /// The run's own ending: its `End` reason, or `None` when it has none (the writer
    /// was killed).
    pub ended: Option<String>,
    pub tail: Tail,
    /// The final state's digest.
    pub final_hash: u64,
    /// The zone lease generation the recorded process held.
    pub lease_generation: Option<i64>,
    /// The creature id block the recorded process was granted.
    pub creature_ids: Option<(u64, u64)>,
    /// The ownership epoch each player was last loaded from the database with.
    pub epochs: std::collections::BTreeMap<u64, i64>,
    /// The state of each player whose last session in the run ended in a logout,
    /// as it left (the killed process may not have written that save yet).
    pub logouts: std::collections::BTreeMap<u64, SavedPlayer>,
}

/// What stops a replay before it could compare anything.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("the journal does not begin with a start record (found {0})")]
    NoStart(&'static str),
    #[error("journal format {0} is not supported (this build reads {FORMAT_VERSION})")]
    Format(u32),
    #[error("the journal's content does not load: {0}")]
    Content(String),
    #[error("tick record {found} where tick {expected} was due: the journal has a gap")]
    Gap { expected: u64, found: u64 },
}

fn load(
    files: &ContentFiles,
    start: &Start,
) -> Result<arcane_engine::content::ZoneContent, String> {
    ContentSources::from_files("journal", files.files.clone())
        .zone_as(&start.template, &start.zone_id)
        .map_err(|e| e.to_string())
}

/// Replays the run folder (or segment) at `path`.
pub fn replay(path: &Path, options: &ReplayOptions) -> Result<ReplayReport, ReplayError> {
    replay_zone(path, options).map(|(report, _)| report)
}

/// [`replay`], handing back the rebuilt zone as the replay left it (crash recovery
/// saves its players).
pub fn replay_zone(
    path: &Path,
    options: &ReplayOptions,
) -> Result<(ReplayReport, Zone), ReplayError> {
    let mut reader = JournalReader::open(path)?;
    let start = match reader.next() {
        Some(Ok(Record::Start(s))) => s,
        Some(Ok(other)) => return Err(ReplayError::NoStart(other.kind())),
        Some(Err(e)) => return Err(e.into()),
        None => return Err(ReplayError::NoStart("nothing")),
    };
    if start.format != FORMAT_VERSION {
        return Err(ReplayError::Format(start.format));
    }
    let content = load(&start.content, &start).map_err(ReplayError::Content)?;
    let mut zone = Zone::new(content, start.seed);
    // No one to send snapshots to: a replay skips views and encoding (the digests
    // cover neither, and checking them proves they change nothing else).
    zone.set_headless(!options.full);
    if let Some((first, len)) = start.creature_ids {
        zone.grant_creature_ids(first, len);
    }
    let mut report = ReplayReport {
        zone_id: start.zone_id.clone(),
        seed: start.seed,
        tick: zone.tick(),
        ticks_replayed: 0,
        digests_checked: 0,
        reloads: 0,
        divergence: None,
        dump: None,
        ended: None,
        tail: Tail::Clean,
        final_hash: 0,
        epochs: Default::default(),
        logouts: Default::default(),
        lease_generation: start.lease_generation,
        creature_ids: start.creature_ids,
    };
    let mut pending_rows: Option<Divergence> = None;
    let dump_now = |zone: &mut Zone, report: &mut ReplayReport| {
        if options.dump == Some(zone.tick()) && report.dump.is_none() {
            report.dump = Some(
                zone.state_dump()
                    .into_iter()
                    .map(|(n, rows)| (n.to_string(), rows))
                    .collect(),
            );
        }
    };
    dump_now(&mut zone, &mut report);
    while let Some(rec) = reader.next() {
        match rec? {
            Record::Start(_) => {}
            Record::Reload { tick, content } => {
                if tick != zone.tick() {
                    return Err(ReplayError::Gap {
                        expected: zone.tick(),
                        found: tick,
                    });
                }
                let c = load(&content, &start).map_err(ReplayError::Content)?;
                // A reload the zone refused when it ran is refused again here.
                let _ = zone.reload(c);
                report.reloads += 1;
            }
            Record::Tick {
                tick,
                host_us,
                commands,
                epochs,
            } => {
                // Past a divergence the replay goes on to the next digest with rows
                // (to name the entities), even beyond `to`.
                if options.to.is_some_and(|to| tick >= to) && pending_rows.is_none() {
                    break;
                }
                if tick != zone.tick() {
                    return Err(ReplayError::Gap {
                        expected: zone.tick(),
                        found: tick,
                    });
                }
                report.epochs.extend(epochs);
                // A player who joins again starts a new session: an older logout
                // is not its last state any more.
                for c in &commands {
                    if let ZoneCommand::Join { player, .. } = c {
                        report.logouts.remove(&player.0);
                    }
                }
                zone.step_at(commands, host_us);
                for out in zone.drain_outputs() {
                    if let ZoneOutput::Logout { player, state } = out {
                        report.logouts.insert(player.0, state);
                    }
                }
                report.ticks_replayed += 1;
                dump_now(&mut zone, &mut report);
            }
            Record::Hash(recorded) => {
                if !options.verify || recorded.tick != zone.tick() {
                    continue;
                }
                let with_rows = !recorded.parts.iter().all(|p| p.rows.is_empty());
                let ours = zone.state_digest(with_rows);
                report.digests_checked += 1;
                if let Some(mut d) = pending_rows.take() {
                    if with_rows {
                        d.parts = rows_named(&d.parts, &ours, &recorded);
                        d.rows_tick = Some(recorded.tick);
                        report.divergence = Some(d);
                        break;
                    }
                    pending_rows = Some(d);
                    continue;
                }
                if ours.total == recorded.total {
                    continue;
                }
                let d = Divergence {
                    tick: recorded.tick,
                    recorded: recorded.total,
                    replayed: ours.total,
                    parts: ours.diff(&recorded),
                    rows_tick: with_rows.then_some(recorded.tick),
                };
                if with_rows {
                    report.divergence = Some(d);
                    break;
                }
                pending_rows = Some(d);
            }
            Record::End { reason, .. } => {
                report.ended = Some(reason);
            }
        }
    }
    if let Some(d) = pending_rows {
        report.divergence = Some(d);
    }
    report.tail = reader.tail().clone();
    report.tick = zone.tick();
    report.final_hash = zone.state_hash();
    Ok((report, zone))
}

/// The parts that diverged first, with the ids that differ at a later digest.
fn rows_named(
    first: &[(String, Vec<u64>)],
    ours: &StateDigest,
    recorded: &StateDigest,
) -> Vec<(String, Vec<u64>)> {
    let later = ours.diff(recorded);
    first
        .iter()
        .map(|(name, _)| {
            let ids = later
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, ids)| ids.clone())
                .unwrap_or_default();
            (name.clone(), ids)
        })
        .collect()
}
