//! Crash recovery: a zone that starts with a journal and a database first looks at
//! its zone's newest journal run. A run with no end record belongs to a process that
//! was killed. If that process was the last to serve the zone (the lease's served
//! generation, see `Store::mark_serving`, is the run's), the run is replayed to the
//! last tick it wrote, and every player in it is written to the database under the
//! epoch it was loaded with, as a checkpoint would; so is every player who left
//! during the run, with the state it left with (its logout save was only queued). Processes that took the lease
//! since and died before serving (killed while starting or recovering) change
//! nothing: their successor still recovers the run.
//! A player frozen in a transfer is written too: the database refuses the write when
//! the transfer already moved the player (the epoch changed); otherwise the
//! transfer's own record, if any, carries the same state (a frozen player changes
//! nothing).
//!
//! The zone writes a tick's journal record before anything of that tick leaves the
//! process (see `journaling.rs`), so what a client was told (an item, a capture, an
//! egg) and what the persistence task saved are both in the replayed state. The world
//! itself (enemies, wild creatures) starts afresh, as on any restart.
//!
//! A run that cannot be replayed (corrupt, content that no longer loads) or does not
//! replay the same (its digests differ: another build wrote it) is logged and
//! marked; the zone then starts from the last checkpoint as it would have without a
//! journal.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use arcane_journal::{Record, ReplayOptions};
use arcane_store::{Store, ZoneLease};

/// What a recovery did.
#[derive(Debug, Clone)]
pub struct Recovered {
    pub run: PathBuf,
    /// Ticks replayed.
    pub ticks: u64,
    /// Players written to the database.
    pub saved: usize,
    /// Players the database no longer let this zone write (owned elsewhere now).
    pub fenced: usize,
    pub took: Duration,
}

/// Recovers `zone_id`'s crashed run, if there is one to recover; `lease` is this
/// process's lease (already held).
pub async fn recover(
    journal_dir: &Path,
    zone_id: &str,
    store: &Store,
    lease: &ZoneLease,
) -> anyhow::Result<Option<Recovered>> {
    let runs = arcane_journal::runs(&arcane_journal::zone_dir(journal_dir, zone_id));
    let Some(run) = runs.last().cloned() else {
        return Ok(None);
    };
    let started = Instant::now();
    let replay_run = run.clone();
    let replayed = tokio::task::spawn_blocking(move || {
        let verify = ReplayOptions {
            verify: true,
            ..Default::default()
        };
        arcane_journal::replay_zone(&replay_run, &verify)
    })
    .await
    .map_err(|e| format!("the replay panicked: {e}"))
    .and_then(|r| r.map_err(|e| e.to_string()));
    // A run that cannot be replayed is marked, not retried: retrying would stop
    // every start of this zone the same way.
    let (mut report, mut zone) = match replayed {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(
                run = %run.display(),
                "cannot replay the last journal run; starting from the last checkpoint: {e}"
            );
            mark(&run, 0, &format!("not recovered: {e}"));
            return Ok(None);
        }
    };
    if report.ended.is_some() {
        return Ok(None);
    }
    arcane_journal::cut_tail(&report.tail).context("cannot cut the journal's torn tail")?;
    if let Some(d) = &report.divergence {
        // Another build recorded it (or a bug): what the replay holds past here is
        // not what the players saw, and must not overwrite their checkpoints.
        tracing::error!(
            run = %run.display(),
            tick = d.tick,
            "the killed zone's journal does not replay the same on this build; \
             starting from the last checkpoint"
        );
        mark(
            &run,
            report.tick,
            &format!("not recovered: the replay diverged at tick {}", d.tick),
        );
        return Ok(None);
    }
    // The last process to serve the zone; before that was recorded (an older
    // database), the one that held the lease just before this one.
    let served = store
        .served_generation(zone_id)
        .await
        .context("cannot read which process served the zone last")?
        .or(Some(lease.generation - 1));
    if report.lease_generation != served {
        tracing::warn!(
            run = %run.display(),
            run_generation = ?report.lease_generation,
            served = ?served,
            generation = lease.generation,
            "the last journal run did not end, but another process served the zone since; \
             not recovering it"
        );
        mark(
            &run,
            report.tick,
            "not recovered: another process served the zone since",
        );
        return Ok(None);
    }
    // Those still here, and those who left: their logout save was queued, and may
    // not have reached the database before the kill.
    let mut states = std::mem::take(&mut report.logouts);
    states.extend(zone.player_states().into_iter().map(|(p, s)| (p.0, s)));
    let rows: Vec<(u64, i64, arcane_store::SavedPlayer)> = states
        .into_iter()
        .filter_map(|(p, state)| Some((p, *report.epochs.get(&p)?, state)))
        .collect();
    let fenced = store
        .checkpoint_batch(lease, &rows)
        .await
        .context("cannot write the recovered players")?
        .len();
    let recovered = Recovered {
        run: run.clone(),
        ticks: report.ticks_replayed,
        saved: rows.len() - fenced,
        fenced,
        took: started.elapsed(),
    };
    mark(
        &run,
        report.tick,
        &format!(
            "recovered at tick {} by generation {}: {} players saved",
            report.tick, lease.generation, recovered.saved
        ),
    );
    tracing::warn!(
        run = %run.display(),
        ticks = recovered.ticks,
        saved = recovered.saved,
        fenced,
        took_ms = recovered.took.as_millis() as u64,
        "recovered the players of a zone process that was killed"
    );
    Ok(Some(recovered))
}

/// Ends a run with why it was (or was not) recovered, so no later start looks at it
/// again.
fn mark(run: &Path, tick: u64, reason: &str) {
    let end = Record::End {
        tick,
        reason: reason.to_string(),
    };
    if let Err(e) = arcane_journal::segment::append(run, &end) {
        tracing::warn!(run = %run.display(), "cannot mark the journal run: {e}");
    }
}
