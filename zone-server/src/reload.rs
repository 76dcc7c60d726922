//! Content hot reload: watches the content folder (debounced) and, when the files
//! change, loads and checks them off the tick thread. A valid set goes to the tick
//! thread, which applies it between two ticks; an invalid one is logged with every
//! `file:line:col`, once per distinct set of problems, and the zone keeps running what
//! it has.
//!
//! Only changes count (creations, writes, renames, removals): the watcher also reports
//! file opens, and counting those made every reload's own reads trigger the next one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arcane_engine::content::{ContentSources, ContentVersion};
use arcane_journal::ContentFiles;
use notify_debouncer_full::notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{
    DebounceEventResult, DebouncedEvent, Debouncer, RecommendedCache, new_debouncer,
};
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::net::inbound::Inbound;

/// Editors write a file in several steps; wait this long for the writes to settle.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// Keeps the watch alive; dropping it stops watching.
pub struct ContentWatcher {
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
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
    let loaded = ContentSources::read_dir(dir).and_then(|s| {
        let content = s.zone_as(template, zone_id)?;
        Ok((content, s))
    });
    match loaded {
        Ok((content, _)) if content.version == *last => Reloaded::Unchanged,
        Ok((content, sources)) => {
            let version = content.version;
            let files = ContentFiles {
                version: version.0,
                files: sources.files().clone(),
            };
            if inbox
                .blocking_send(Inbound::Reload(Box::new(content), files))
                .is_err()
            {
                return Reloaded::Rejected("the zone is shutting down".into());
            }
            *last = version;
            Reloaded::Sent(version)
        }
        Err(errors) => {
            metrics.content_reload("rejected");
            Reloaded::Rejected(errors.to_string())
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
    // The problems last reported: the same broken save is logged once.
    let mut last_rejected = String::new();
    let watched = dir.clone();
    let handle = move |events: DebounceEventResult| match events {
        Ok(events) if changes_content(&events) => {
            match reload_once(&dir, (&template, &zone_id), &mut last, &inbox, &metrics) {
                Reloaded::Unchanged => last_rejected.clear(),
                Reloaded::Sent(version) => {
                    last_rejected.clear();
                    tracing::info!(%version, "content changed; applying at the next tick");
                }
                Reloaded::Rejected(why) if why != last_rejected => {
                    tracing::warn!("content change rejected, keeping the running content:\n{why}");
                    last_rejected = why;
                }
                Reloaded::Rejected(_) => {}
            }
        }
        Ok(_) => {}
        Err(errors) => {
            for e in errors {
                tracing::warn!("content watch error: {e}");
            }
        }
    };
    let mut debouncer = new_debouncer(DEBOUNCE, None, handle)?;
    debouncer.watch(&watched, RecursiveMode::Recursive)?;
    tracing::info!(dir = %watched.display(), "watching content for changes");
    Ok(ContentWatcher {
        _debouncer: debouncer,
    })
}

/// Only `.ron` files matter (editors also write swap and backup files).
fn is_content(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "ron")
}

/// Whether a debounced batch changed a content file: a creation, a write, a rename or
/// a removal of a `.ron` file. Opens and reads (`Access`) never do.
fn changes_content(events: &[DebouncedEvent]) -> bool {
    events.iter().any(|e| {
        matches!(
            e.kind,
            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
        ) && e.paths.iter().any(|p| is_content(p))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use arcane_engine::content::ZoneContent;

    /// A copy of the repository's content in a scratch folder.
    fn content_copy() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../content");
        for entry in walk(&from) {
            let to = dir.path().join(entry.strip_prefix(&from).unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&entry, &to).unwrap();
        }
        dir
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut files = vec![];
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files.extend(walk(&p));
            } else {
                files.push(p);
            }
        }
        files
    }

    fn event(kind: EventKind, path: &str) -> DebouncedEvent {
        DebouncedEvent::new(
            notify_debouncer_full::notify::Event::new(kind).add_path(PathBuf::from(path)),
            std::time::Instant::now(),
        )
    }

    #[test]
    fn only_changes_to_content_files_count_never_opens_and_reads() {
        use notify_debouncer_full::notify::event::{
            AccessKind, AccessMode, CreateKind, DataChange, ModifyKind,
        };
        let open = event(
            EventKind::Access(AccessKind::Open(AccessMode::Read)),
            "c/skills.ron",
        );
        let close = event(
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            "c/skills.ron",
        );
        let write = event(
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            "c/skills.ron",
        );
        let swap = event(EventKind::Create(CreateKind::File), "c/.skills.ron.swp");
        assert!(!changes_content(&[open.clone(), close.clone()]));
        assert!(!changes_content(&[swap]));
        assert!(changes_content(&[open, write, close]));
    }

    /// One bad save is refused (and logged) once, not again for every read the refusal
    /// itself made; fixing it sends the content once.
    #[test]
    fn one_save_is_one_reload_through_the_real_watcher() {
        let dir = content_copy();
        let running = ZoneContent::load_as(dir.path(), "meadow", "meadow")
            .unwrap()
            .version;
        let (tx, mut rx) = mpsc::channel(16);
        let metrics = Arc::new(Metrics::new("meadow"));
        let _watch = watch(
            dir.path().to_path_buf(),
            ("meadow".into(), "meadow".into()),
            running,
            tx,
            metrics.clone(),
        )
        .unwrap();
        let rejected = || {
            metrics
                .content_reloads
                .get_or_create(&crate::metrics::ResultLabel { result: "rejected" })
                .get()
        };
        let skills = dir.path().join("skills.ron");
        let good = std::fs::read_to_string(&skills).unwrap();
        std::fs::write(&skills, "( skills: [ oops ").unwrap();
        let t0 = std::time::Instant::now();
        while rejected() == 0 {
            assert!(t0.elapsed() < Duration::from_secs(10), "never reloaded");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Long enough for a loop of reloads triggered by their own reads to show.
        std::thread::sleep(DEBOUNCE * 6);
        assert_eq!(rejected(), 1, "one save, one reload");

        std::fs::write(&skills, format!("// fixed\n{good}")).unwrap();
        let t1 = std::time::Instant::now();
        let sent = loop {
            if let Ok(Inbound::Reload(c, _)) = rx.try_recv() {
                break c.version;
            }
            assert!(
                t1.elapsed() < Duration::from_secs(10),
                "the fix was not sent"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_ne!(sent, running);
        std::thread::sleep(DEBOUNCE * 6);
        assert!(rx.try_recv().is_err(), "sent once");
        assert_eq!(rejected(), 1);
    }

    #[test]
    fn a_changed_file_is_sent_an_unchanged_one_is_not_and_a_broken_one_is_refused() {
        let dir = content_copy();
        let zone = ("meadow", "meadow");
        let running = ZoneContent::load_as(dir.path(), zone.0, zone.1)
            .unwrap()
            .version;
        let (tx, mut rx) = mpsc::channel(4);
        let metrics = Metrics::new("meadow");
        let mut last = running;

        let r = reload_once(dir.path(), zone, &mut last, &tx, &metrics);
        assert!(matches!(r, Reloaded::Unchanged), "{r:?}");
        assert!(rx.try_recv().is_err());

        let skills = dir.path().join("skills.ron");
        let text = std::fs::read_to_string(&skills).unwrap();
        // Any edit changes the version (a hash of the files), a comment included.
        std::fs::write(&skills, format!("// tuned\n{text}")).unwrap();
        let r = reload_once(dir.path(), zone, &mut last, &tx, &metrics);
        let Reloaded::Sent(version) = r else {
            panic!("not sent: {r:?}");
        };
        assert_ne!(version, running);
        assert_eq!(last, version);
        assert!(matches!(rx.try_recv(), Ok(Inbound::Reload(c, _)) if c.version == version));

        std::fs::write(&skills, "( skills: [ oops ").unwrap();
        let r = reload_once(dir.path(), zone, &mut last, &tx, &metrics);
        let Reloaded::Rejected(why) = r else {
            panic!("not refused: {r:?}");
        };
        assert!(why.contains("skills.ron:"), "{why}");
        assert_eq!(last, version, "the running content stays");
        assert!(rx.try_recv().is_err());
    }
}
