//! Content hot reload: watches the content folder (debounced) and, when the files
//! change, loads and checks them off the tick thread. A valid set goes to the tick
//! thread, which applies it between two ticks; an invalid one is logged with every
//! `file:line:col` and the zone keeps running what it has.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arcane_engine::content::{ContentVersion, ZoneContent};
use notify_debouncer_mini::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::tick::Inbound;

/// Editors write a file in several steps; wait this long for the writes to settle.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// Keeps the watch alive; dropping it stops watching.
pub struct ContentWatcher {
    _debouncer: Debouncer<RecommendedWatcher>,
}

/// What a reload attempt came to.
#[derive(Debug)]
pub enum Reloaded {
    /// The files did not change the content (same version).
    Unchanged,
    /// Valid: handed to the tick thread.
    Sent(ContentVersion),
    /// Invalid: every problem, one per line.
    Rejected(String),
}

/// Loads the zone's content from `dir` and, when it is valid and new, sends it to the
/// tick thread. Blocking (file reads); runs on the watcher's own thread.
pub fn reload_once(
    dir: &Path,
    (template, zone_id): (&str, &str),
    last: &mut ContentVersion,
    inbox: &mpsc::Sender<Inbound>,
    metrics: &Metrics,
) -> Reloaded {
    match ZoneContent::load_as(dir, template, zone_id) {
        Ok(content) if content.version == *last => Reloaded::Unchanged,
        Ok(content) => {
            let version = content.version;
            if inbox
                .blocking_send(Inbound::Reload(Box::new(content)))
                .is_err()
            {
                return Reloaded::Rejected("the zone is shutting down".into());
            }
            *last = version;
            tracing::info!(%version, "content changed; applying at the next tick");
            Reloaded::Sent(version)
        }
        Err(errors) => {
            metrics.content_reload("rejected");
            let text = errors.to_string();
            tracing::warn!(
                problems = errors.0.len(),
                "content change rejected, keeping the running content:\n{text}"
            );
            Reloaded::Rejected(text)
        }
    }
}

/// Starts watching `dir` for changes to the content of map `template`, which this
/// process runs as zone `zone_id`.
pub fn watch(
    dir: PathBuf,
    (template, zone_id): (String, String),
    running: ContentVersion,
    inbox: mpsc::Sender<Inbound>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<ContentWatcher> {
    let mut last = running;
    let watched = dir.clone();
    let mut debouncer = new_debouncer(DEBOUNCE, move |events: DebounceEventResult| match events {
        Ok(events) if events.iter().any(|e| is_content(&e.path)) => {
            reload_once(&dir, (&template, &zone_id), &mut last, &inbox, &metrics);
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("content watch error: {e}"),
    })?;
    debouncer
        .watcher()
        .watch(&watched, RecursiveMode::Recursive)?;
    tracing::info!(dir = %watched.display(), "watching content for changes");
    Ok(ContentWatcher {
        _debouncer: debouncer,
    })
}

/// Only `.ron` files matter (editors also write swap and backup files).
fn is_content(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "ron")
}
