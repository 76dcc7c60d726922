//! The zone's journal, from the tick thread's side: starting a run with the
//! content, seed and creature ids the zone began with, journaling each tick's
//! commands and reloads, digesting the state on schedule, and mirroring the
//! writer's counters into metrics. The format, writer and replay are
//! `arcane-journal`'s.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use arcane_engine::content::ContentSources;
use arcane_engine::{Zone, ZoneCommand};
use arcane_journal::{
    ContentFiles, FORMAT_VERSION, Journal, JournalConfig, JournalStats, Record, Start,
};

use crate::config::ZoneServerConfig;
use crate::metrics::Metrics;

/// Starts the journal `config` asks for, with the zone as it is before its first
/// tick. A journal that cannot start is logged and left off: the zone still runs.
pub fn start(
    config: &ZoneServerConfig,
    zone: &Zone,
    sources: &ContentSources,
    creature_ids: Option<(u64, u64)>,
    lease_generation: Option<i64>,
) -> Option<Journal> {
    let dir = config.journal_dir.as_ref()?;
    let mut jc = JournalConfig::new(dir);
    jc.segment_bytes = config.journal_segment_mb.max(1) * 1024 * 1024;
    jc.keep_runs = config.journal_keep_runs;
    jc.hash_every = config.state_hash_every;
    jc.rows_every = config.state_rows_every;
    let start = Start {
        format: FORMAT_VERSION,
        zone_id: zone.settings().zone.id.clone(),
        template: config.zone.clone(),
        seed: zone.seed(),
        content: ContentFiles {
            version: zone.content_version().0,
            files: sources.files().clone(),
        },
        creature_ids,
        lease_generation,
        first_tick: zone.tick(),
        started_unix_ms: arcane_service::unix_ms(),
        writer: format!(
            "arcane-zone-server {} ({})",
            env!("CARGO_PKG_VERSION"),
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ),
        hash_every: 0,
        rows_every: 0,
    };
    match Journal::start(&jc, start) {
        Ok(j) => {
            tracing::info!(run = %j.run_dir().display(), "journaling the zone");
            Some(j)
        }
        Err(e) => {
            tracing::error!(
                "cannot start the journal under {}: {e}; the zone runs without one",
                dir.display()
            );
            None
        }
    }
}

/// The longest a tick waits for its journal record to be written: a tick period.
/// Past it the tick's snapshots go out, but its events (captures, items, eggs: what
/// a client is told it has) wait in the router until a later tick's record is
/// written (counted): a crash then loses nothing a client was told. Time dilation
/// absorbs a longer tick.
pub const WRITE_AHEAD_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

/// Where the tick thread leaves its journal when it stops: the run is ended (its
/// `End` record written) only once the last saves are in the database, so a process
/// killed between the two is recovered.
pub type JournalSlot = Arc<std::sync::Mutex<Option<(Journal, u64)>>>;

/// Ends a parked journal: the zone stopped cleanly, its last saves are written.
pub fn end_parked(slot: &JournalSlot) {
    let parked = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some((j, tick)) = parked {
        j.finish(tick, "the zone stopped");
    }
}

/// The tick's use of the journal and the state digest.
pub struct TickJournal {
    journal: Option<Journal>,
    slot: JournalSlot,
    stats: Option<Arc<JournalStats>>,
    hash_every: u32,
    /// Writer counters already added to the metrics: records, bytes, segments, errors.
    seen: [u64; 4],
}

impl TickJournal {
    pub fn new(journal: Option<Journal>, hash_every: u32) -> Self {
        TickJournal {
            stats: journal.as_ref().map(Journal::stats),
            slot: JournalSlot::default(),
            journal,
            hash_every,
            seen: [0; 4],
        }
    }

    /// The commands tick `tick` is about to run with, and the epochs of its joins.
    pub fn tick(
        &mut self,
        tick: u64,
        host_us: u64,
        commands: &[ZoneCommand],
        epochs: &mut Vec<(u64, i64)>,
    ) {
        let epochs = std::mem::take(epochs);
        if let Some(j) = self.journal.as_mut().filter(|j| j.is_running()) {
            j.record(Record::Tick {
                tick,
                host_us,
                commands: commands.to_vec(),
                epochs,
            });
        }
    }

    /// Write-ahead: true once tick `tick`'s record is written (in the page cache, so
    /// it survives a killed process), before anything of that tick leaves the
    /// process; true at once without a running journal. The writer normally finished
    /// while the zone stepped, so this rarely waits; past `WRITE_AHEAD_WAIT` it is
    /// false (counted) rather than hold the tick back.
    pub fn written(&mut self, tick: u64, metrics: &Metrics) -> bool {
        if let Some(j) = self.journal.as_ref().filter(|j| j.is_running())
            && !j.wait_written(tick, WRITE_AHEAD_WAIT)
        {
            metrics.journal_late.inc();
            return false;
        }
        true
    }

    /// Content applied before tick `tick`.
    pub fn reload(&mut self, tick: u64, content: ContentFiles) {
        if let Some(j) = &mut self.journal {
            j.record(Record::Reload { tick, content });
        }
    }

    /// Digests the state when due: into the journal and the `arcane_state_hash` gauge.
    pub fn digest(&mut self, zone: &mut Zone, metrics: &Metrics) {
        let tick = zone.tick();
        let journaled = self.journal.as_ref().and_then(|j| j.digest_due(tick));
        let due = self.hash_every != 0 && tick.is_multiple_of(self.hash_every.into());
        if journaled.is_none() && !due {
            return;
        }
        let digest = zone.state_digest(journaled.unwrap_or(false));
        metrics.state_hash.set(digest.total as i64);
        metrics.state_hash_tick.set(tick as i64);
        if let (Some(j), Some(_)) = (&mut self.journal, journaled) {
            j.record(Record::Hash(digest));
        }
    }

    /// Adds what the writer did since the last call to the metrics.
    pub fn publish(&mut self, metrics: &Metrics) {
        let Some(stats) = &self.stats else { return };
        let now = [
            stats.records.load(Ordering::Relaxed),
            stats.bytes.load(Ordering::Relaxed),
            stats.segments.load(Ordering::Relaxed),
            stats.errors.load(Ordering::Relaxed),
        ];
        let counters = [
            &metrics.journal_records,
            &metrics.journal_bytes,
            &metrics.journal_segments,
            &metrics.journal_errors,
        ];
        for ((c, n), seen) in counters.iter().zip(now).zip(&mut self.seen) {
            c.inc_by(n.saturating_sub(*seen));
            *seen = n;
        }
        let running = stats.running.load(Ordering::Relaxed)
            && self.journal.as_ref().is_some_and(Journal::is_running);
        metrics.journal_running.set(i64::from(running));
    }

    /// Where [`TickJournal::park`] leaves the journal.
    pub fn slot(&self) -> JournalSlot {
        self.slot.clone()
    }

    /// The tick thread stops: the journal waits in the slot for the last saves.
    pub fn park(&mut self, tick: u64) {
        if let Some(j) = self.journal.take() {
            *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some((j, tick));
        }
    }
}
