//! Writing a journal off the tick thread. [`Journal`] is the tick side: it hands
//! records to a writer thread through a bounded queue and never waits. The writer
//! appends them to the run's current segment, rotates segments at a size cap, has
//! them synced to disk on an interval and each closed segment synced, by a thread of
//! its own (a slow sync never holds back the next records), and at start removes the
//! oldest runs beyond the number kept.
//!
//! A journal that cannot keep up (its queue is full) or cannot write (a full disk)
//! stops: the zone goes on without it, logs why, and counts it
//! (`arcane_journal_errors_total`). A journal with a gap cannot be replayed past it,
//! so it never skips records and carries on.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use crate::record::{Record, Start};
use crate::segment::{MAGIC, encode, segment_name};

/// Where and how a zone journals.
#[derive(Debug, Clone)]
pub struct JournalConfig {
    /// Runs go under `dir/<zone id>/<start ms>-<pid>/`.
    pub dir: PathBuf,
    /// A segment is closed and the next begun once it reaches this size.
    pub segment_bytes: u64,
    /// Runs kept per zone id, this one included; older ones are removed at start.
    pub keep_runs: usize,
    /// How often written records are synced to disk (they survive a killed process
    /// as soon as they are written; the sync is for a lost machine).
    pub sync_every: Duration,
    /// A state digest every this many ticks (0: none).
    pub hash_every: u32,
    /// Of those, every this many carry per-entity row hashes (0: none), which let
    /// `arcane replay` name the entities that diverged.
    pub rows_every: u32,
    /// Records the queue holds before the journal gives up (about this many ticks).
    pub queue: usize,
}

impl JournalConfig {
    /// Defaults for `dir`: 64 MiB segments, 8 runs kept, a sync a second, a hash
    /// every tick, rows every 20th, a queue of 2,048 records.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        JournalConfig {
            dir: dir.into(),
            segment_bytes: 64 * 1024 * 1024,
            keep_runs: 8,
            sync_every: Duration::from_secs(1),
            hash_every: 1,
            rows_every: 20,
            queue: 2048,
        }
    }
}

/// What the writer has done, for metrics.
#[derive(Debug, Default)]
pub struct JournalStats {
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub segments: AtomicU64,
    pub errors: AtomicU64,
    /// False once the journal stopped (an error, or the queue overflowed).
    pub running: AtomicBool,
    /// Ticks whose `Tick` record is written: the last one's tick + 1.
    written_through: std::sync::Mutex<u64>,
    written: std::sync::Condvar,
    /// Taken by the writer around each batch; [`JournalStats::hold_writes`].
    gate: std::sync::Mutex<()>,
}

impl JournalStats {
    /// Holds the writer back (as a stalled disk would) until the guard is dropped:
    /// for rehearsing a late journal.
    pub fn hold_writes(&self) -> std::sync::MutexGuard<'_, ()> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn mark_written(&self, through: u64) {
        let mut w = self
            .written_through
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if through > *w {
            *w = through;
            self.written.notify_all();
        }
    }
}

/// The tick side of a journal.
pub struct Journal {
    tx: Option<SyncSender<Record>>,
    stats: Arc<JournalStats>,
    run_dir: PathBuf,
    hash_every: u32,
    rows_every: u32,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Journal {
    /// Creates the run folder, removes old runs, writes `start` and starts the
    /// writer thread. Fails (and the caller decides whether to run without a
    /// journal) when the folder or the first segment cannot be made.
    pub fn start(config: &JournalConfig, mut start: Start) -> std::io::Result<Journal> {
        start.hash_every = config.hash_every;
        start.rows_every = config.rows_every;
        let zone_dir = zone_dir(&config.dir, &start.zone_id);
        std::fs::create_dir_all(&zone_dir)?;
        remove_old_runs(&zone_dir, config.keep_runs.max(1) - 1);
        let run_dir = zone_dir.join(format!("{:013}-{}", arcane_now_ms(), std::process::id()));
        std::fs::create_dir_all(&run_dir)?;
        let stats = Arc::new(JournalStats::default());
        let mut seg = Segments::open(run_dir.clone(), config.segment_bytes, stats.clone())?;
        seg.append(&Record::Start(Box::new(start)))?;
        seg.flush()?;
        let (tx, rx) = sync_channel(config.queue.max(1));
        stats.running.store(true, Ordering::Relaxed);
        let sync_every = config.sync_every;
        let thread = std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || write_loop(seg, rx, sync_every))?;
        Ok(Journal {
            tx: Some(tx),
            stats,
            run_dir,
            hash_every: config.hash_every,
            rows_every: config.rows_every,
            thread: Some(thread),
        })
    }

    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    pub fn stats(&self) -> Arc<JournalStats> {
        self.stats.clone()
    }

    /// Whether it still takes records.
    pub fn is_running(&self) -> bool {
        self.tx.is_some()
    }

    /// Waits until tick `tick`'s record is written, at most `timeout`; false when it
    /// is not (or the writer stopped).
    pub fn wait_written(&self, tick: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut w = self
            .stats
            .written_through
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while *w <= tick {
            let now = Instant::now();
            if now >= deadline || !self.stats.running.load(Ordering::Relaxed) {
                return false;
            }
            w = match self.stats.written.wait_timeout(w, deadline - now) {
                Ok((w, _)) => w,
                Err(e) => e.into_inner().0,
            };
        }
        true
    }

    /// Whether the state after `tick` steps should be digested, and with rows.
    pub fn digest_due(&self, tick: u64) -> Option<bool> {
        if self.tx.is_none() || self.hash_every == 0 || !tick.is_multiple_of(self.hash_every.into())
        {
            return None;
        }
        let n = tick / u64::from(self.hash_every);
        Some(self.rows_every != 0 && n.is_multiple_of(self.rows_every.into()))
    }

    /// Queues a record; never waits. A full queue or a stopped writer ends the
    /// journal (logged once).
    pub fn record(&mut self, record: Record) {
        let Some(tx) = &self.tx else { return };
        let why = match tx.try_send(record) {
            Ok(()) => return,
            Err(TrySendError::Full(_)) => "the writer fell behind (queue full)",
            Err(TrySendError::Disconnected(_)) => "the writer stopped",
        };
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        self.stats.running.store(false, Ordering::Relaxed);
        tracing::error!(
            run = %self.run_dir.display(),
            "journal stopped: {why}; the zone runs on without one"
        );
        self.tx = None;
    }

    /// Ends the run with an `End` record and waits for the writer to finish.
    pub fn finish(mut self, tick: u64, reason: &str) {
        self.record(Record::End {
            tick,
            reason: reason.to_string(),
        });
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The folder of a zone's runs under a journal folder: the zone id, with anything
/// but letters, digits, `-`, `_`, `~` and `.` turned into `_`.
pub fn zone_dir(journal_dir: &Path, zone_id: &str) -> PathBuf {
    let name: String = zone_id
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '~' | '.' => c,
            _ => '_',
        })
        .collect();
    journal_dir.join(name)
}

/// The run folders of a zone, oldest first (their names start with the start time).
pub fn runs(zone_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(zone_dir) else {
        return Vec::new();
    };
    let mut runs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    runs.sort();
    runs
}

fn arcane_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Removes the oldest run folders of a zone until at most `keep` remain.
fn remove_old_runs(zone_dir: &Path, keep: usize) {
    let runs = runs(zone_dir);
    let excess = runs.len().saturating_sub(keep);
    for old in &runs[..excess] {
        if let Err(e) = std::fs::remove_dir_all(old) {
            tracing::warn!("cannot remove old journal run {}: {e}", old.display());
        }
    }
}

/// The open segment of a run, and rotation.
struct Segments {
    run_dir: PathBuf,
    cap: u64,
    n: u32,
    file: File,
    size: u64,
    buf: Vec<u8>,
    stats: Arc<JournalStats>,
    /// The newest `Tick` record in `buf`: its tick + 1.
    pending_through: u64,
    /// The syncer thread, when it runs: a closed segment is synced there, in order
    /// with the later interval syncs, rather than by the writer.
    syncer: Option<SyncSender<File>>,
}

impl Segments {
    fn open(run_dir: PathBuf, cap: u64, stats: Arc<JournalStats>) -> std::io::Result<Self> {
        let file = new_segment(&run_dir, 1)?;
        stats.segments.fetch_add(1, Ordering::Relaxed);
        Ok(Segments {
            run_dir,
            cap: cap.max(4096),
            n: 1,
            file,
            size: MAGIC.len() as u64,
            buf: Vec::with_capacity(1 << 16),
            stats,
            pending_through: 0,
            syncer: None,
        })
    }

    /// Encodes a record into the buffer, rotating first when it would pass the cap.
    fn append(&mut self, record: &Record) -> std::io::Result<()> {
        let before = self.buf.len();
        encode(&mut self.buf, record).map_err(std::io::Error::other)?;
        let len = (self.buf.len() - before) as u64;
        if self.size + before as u64 + len > self.cap && self.size + before as u64 > 8 {
            // Write what came before into this segment, then start the next.
            let rec = self.buf.split_off(before);
            self.flush()?;
            self.rotate()?;
            self.buf = rec;
        }
        self.stats.records.fetch_add(1, Ordering::Relaxed);
        if let Record::Tick { tick, .. } = record {
            self.pending_through = tick + 1;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.file.write_all(&self.buf)?;
        self.size += self.buf.len() as u64;
        self.stats
            .bytes
            .fetch_add(self.buf.len() as u64, Ordering::Relaxed);
        self.buf.clear();
        self.stats.mark_written(self.pending_through);
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let next = new_segment(&self.run_dir, self.n + 1)?;
        let closed = std::mem::replace(&mut self.file, next);
        // Waits only while a sync is already queued; without the syncer, inline.
        match &self.syncer {
            Some(tx) => {
                if let Err(e) = tx.send(closed) {
                    e.0.sync_data()?;
                }
            }
            None => closed.sync_data()?,
        }
        self.n += 1;
        self.size = MAGIC.len() as u64;
        self.stats.segments.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn new_segment(run_dir: &Path, n: u32) -> std::io::Result<File> {
    let mut f = std::fs::OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(run_dir.join(segment_name(n)))?;
    f.write_all(&MAGIC)?;
    Ok(f)
}

/// Stops the journal after an I/O error (the tick side then sees it gone).
fn stop(stats: &JournalStats, run_dir: &Path, e: std::io::Error) {
    stats.errors.fetch_add(1, Ordering::Relaxed);
    stats.running.store(false, Ordering::Relaxed);
    tracing::error!(
        run = %run_dir.display(),
        "journal stopped: cannot write: {e}; the zone runs on without one"
    );
}

/// The syncer thread: syncs the segment handles it is given. A sync can take tens of
/// milliseconds on a busy disk; done by the writer, it held back the next records,
/// and a tick whose record is late sends its outputs unjournaled.
fn sync_loop(rx: Receiver<File>, stats: Arc<JournalStats>, run_dir: PathBuf) {
    for file in rx {
        if let Err(e) = file.sync_data() {
            return stop(&stats, &run_dir, e);
        }
    }
}

/// The writer thread: takes what is queued, writes it in one go, has the segment
/// synced on the interval (by the syncer thread), and stops on the first error.
fn write_loop(mut seg: Segments, rx: Receiver<Record>, sync_every: Duration) {
    let mut last_sync = Instant::now();
    let fail = |seg: &Segments, e: std::io::Error| stop(&seg.stats, &seg.run_dir, e);
    // One sync at a time: while one runs, the next interval's is skipped.
    let (sync_tx, sync_rx) = sync_channel::<File>(1);
    let syncer = {
        let (stats, run_dir) = (seg.stats.clone(), seg.run_dir.clone());
        std::thread::Builder::new()
            .name("journal-sync".into())
            .spawn(move || sync_loop(sync_rx, stats, run_dir))
    };
    match &syncer {
        Ok(_) => seg.syncer = Some(sync_tx),
        Err(e) => {
            tracing::warn!("no journal sync thread ({e}); syncs wait for the end of the run")
        }
    }
    let stats = seg.stats.clone();
    loop {
        let first = match rx.recv_timeout(sync_every) {
            Ok(r) => Some(r),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let _gate = stats.gate.lock().unwrap_or_else(|e| e.into_inner());
        let result = first
            .into_iter()
            .chain(std::iter::from_fn(|| rx.try_recv().ok()))
            .try_for_each(|r| seg.append(&r))
            .and_then(|()| seg.flush())
            .and_then(|()| {
                if last_sync.elapsed() >= sync_every
                    && let Some(tx) = &seg.syncer
                {
                    last_sync = Instant::now();
                    let _ = tx.try_send(seg.file.try_clone()?);
                }
                Ok(())
            });
        if let Err(e) = result {
            return fail(&seg, e);
        }
    }
    // Dropping the sender ends the syncer once it synced what it was given.
    seg.syncer = None;
    if let Ok(t) = syncer {
        let _ = t.join();
    }
    if let Err(e) = seg.flush().and_then(|()| seg.file.sync_data()) {
        fail(&seg, e);
    }
    seg.stats.running.store(false, Ordering::Relaxed);
}
