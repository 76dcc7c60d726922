//! The local supervisor: zone-server child processes, restarted when they crash (and,
//! for the configured maps, whenever they exit), recorded by pid and start time so a
//! supervisor that was killed leaves no orphan behind its successor.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arcane_service::{
    CancellationToken, ProcessIdentity, RetryPolicy, SUPERSEDED_EXIT, SUPERVISOR_PID_ENV,
};
use tokio::process::Command;

use super::restart::{AfterExit, RestartPolicy};
use super::{Supervisor, SupervisorError, ZoneSpec};

/// How the local supervisor runs a zone-server.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// The zone-server program and the arguments before the zone's own (for example
    /// `zone-server`, or `arcane zone`).
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Passed to every zone: the orchestrator to register with.
    pub orchestrator_url: String,
    /// Content folder the zones load.
    pub content: PathBuf,
    /// Extra environment (database URL, ticket secret, log filter).
    pub env: Vec<(String, String)>,
    /// Waits before restarting a crashed zone (jittered, doubling).
    pub restart: RetryPolicy,
    /// Where each child is recorded while it runs (`<zone>.pid`: `pid@start`), so the
    /// next supervisor on this folder ends the orphans of one that was killed
    /// ([`LocalSupervisor::end_orphans`]). `None` records nothing.
    pub run_dir: Option<PathBuf>,
}

struct Child {
    /// Restarts of this zone so far.
    restarts: u32,
}

/// Runs zones as child processes of the orchestrator and restarts crashed ones. A
/// copy or an instance that exits cleanly (it closed) is not restarted; a configured
/// map is, whatever its exit. Children are stopped when the supervisor's shutdown
/// signal fires or it is dropped, and stop themselves (a drain) if its process dies.
pub struct LocalSupervisor {
    config: LocalConfig,
    children: Arc<Mutex<HashMap<String, Child>>>,
    shutdown: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LocalSupervisor {
    /// Must be created inside a tokio runtime (it spawns a watcher task per zone).
    pub fn new(config: LocalConfig) -> Self {
        LocalSupervisor {
            config,
            children: Arc::default(),
            shutdown: CancellationToken::new(),
        }
    }

    /// Restarts so far of `zone_id` (for tests and the demo report).
    pub fn restarts(&self, zone_id: &str) -> Option<u32> {
        lock(&self.children).get(zone_id).map(|c| c.restarts)
    }

    /// Stops every child (SIGTERM, so zones save their players, then SIGKILL after a
    /// grace period) and stops restarting them; returns once they are gone.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        let deadline = tokio::time::Instant::now() + STOP_GRACE + Duration::from_secs(1);
        while !lock(&self.children).is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ends the zones a previous supervisor on the same run folder left running (it
    /// was killed): each recorded process that still runs, and is still the recorded
    /// one (same pid and start time), gets SIGTERM (it drains, saves and gives its
    /// zone's lease up), then SIGKILL after [`STOP_GRACE`]. Call it before starting
    /// zones. Returns how many were still running.
    pub async fn end_orphans(&self) -> usize {
        let Some(dir) = &self.config.run_dir else {
            return 0;
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        let mut ended = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "pid") {
                continue;
            }
            let recorded = std::fs::read_to_string(&path)
                .ok()
                .and_then(|s| s.trim().parse::<ProcessIdentity>().ok());
            if let Some(orphan) = recorded.filter(ProcessIdentity::is_alive) {
                tracing::warn!(record = %path.display(), pid = orphan.pid, "ending a zone left by a previous orchestrator");
                stop_orphan(orphan).await;
                ended += 1;
            }
            let _ = std::fs::remove_file(&path);
        }
        ended
    }
}

/// SIGTERM, then SIGKILL after [`STOP_GRACE`], for a process that is not our child
/// (so it cannot be waited for: its identity is polled).
async fn stop_orphan(p: ProcessIdentity) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let pid = Pid::from_raw(p.pid as i32);
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + STOP_GRACE;
    while p.is_alive() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if p.is_alive() {
        tracing::warn!(pid = p.pid, "orphan zone did not stop in time; killing it");
        let _ = kill(pid, Signal::SIGKILL);
        while p.is_alive() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The record of `zone`'s process in `dir`.
fn record_path(dir: &Path, zone: &str) -> PathBuf {
    let safe: String = zone
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '~' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{safe}.pid"))
}

/// Records a started child (best effort: without the record, only the child's
/// parent-death signal guards against an orphan).
fn record(c: &LocalConfig, zone: &str, child: &tokio::process::Child) {
    let (Some(dir), Some(pid)) = (&c.run_dir, child.id()) else {
        return;
    };
    let Some(id) = ProcessIdentity::of(pid) else {
        return;
    };
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(record_path(dir, zone), id.to_string()));
    if let Err(e) = written {
        tracing::warn!(
            zone,
            "cannot record the zone's process in {}: {e}",
            dir.display()
        );
    }
}

fn unrecord(c: &LocalConfig, zone: &str) {
    if let Some(dir) = &c.run_dir {
        let _ = std::fs::remove_file(record_path(dir, zone));
    }
}

/// The zone-server command line for `spec`.
fn command(c: &LocalConfig, spec: &ZoneSpec) -> Command {
    let mut cmd = Command::new(&c.program);
    cmd.args(&c.args)
        .arg("--zone")
        .arg(&spec.template)
        .arg("--zone-id")
        .arg(&spec.zone_id)
        .arg("--content")
        .arg(&c.content)
        .arg("--orchestrator")
        .arg(&c.orchestrator_url)
        .args(["--ws-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
        .args(["--quic-addr", "127.0.0.1:0"])
        // Drain within the time `stop_child` allows before it kills.
        .arg("--drain-grace")
        .arg(format!(
            "{}ms",
            (STOP_GRACE - Duration::from_secs(1)).as_millis()
        ))
        .envs(c.env.iter().map(|(k, v)| (k, v)))
        .env(SUPERVISOR_PID_ENV, std::process::id().to_string())
        .kill_on_drop(true);
    if let Some(d) = spec.close_after_empty {
        cmd.arg("--close-after-empty")
            .arg(format!("{}ms", d.as_millis()));
    }
    cmd
}

fn spawn(c: &LocalConfig, spec: &ZoneSpec) -> std::io::Result<tokio::process::Child> {
    let child = command(c, spec).spawn()?;
    record(c, &spec.zone_id, &child);
    Ok(child)
}

/// How long a zone gets to exit after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Asks a child to stop (SIGTERM), then kills it after `STOP_GRACE`.
async fn stop_child(child: &mut tokio::process::Child, zone: &str) {
    #[cfg(unix)]
    if let Some(pid) = child.id() {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        if kill(Pid::from_raw(pid as i32), Signal::SIGTERM).is_ok()
            && tokio::time::timeout(STOP_GRACE, child.wait()).await.is_ok()
        {
            return;
        }
    }
    tracing::warn!(zone, "zone did not stop in time; killing it");
    let _ = child.kill().await;
}

impl Drop for LocalSupervisor {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Whether the process's exit means the zone is done: a copy or instance that closed
/// (or was replaced by another process of it). A configured map is never done.
fn finished(spec: &ZoneSpec, status: &std::io::Result<std::process::ExitStatus>) -> bool {
    let Ok(status) = status else {
        return false;
    };
    let done = status.success() || status.code() == Some(i32::from(SUPERSEDED_EXIT));
    done && !spec.keep_running
}

impl Supervisor for LocalSupervisor {
    fn start(&self, spec: ZoneSpec) -> Result<(), SupervisorError> {
        {
            let mut children = lock(&self.children);
            if children.contains_key(&spec.zone_id) {
                return Ok(());
            }
            children.insert(spec.zone_id.clone(), Child { restarts: 0 });
        }
        let mut child = match spawn(&self.config, &spec) {
            Ok(c) => c,
            Err(source) => {
                lock(&self.children).remove(&spec.zone_id);
                return Err(SupervisorError::Spawn {
                    zone: spec.zone_id,
                    source,
                });
            }
        };
        tracing::info!(zone = %spec.zone_id, template = %spec.template, "zone process started");
        let children = self.children.clone();
        let shutdown = self.shutdown.clone();
        let config = self.config.clone();
        tokio::spawn(async move {
            let mut policy = RestartPolicy::new(config.restart);
            loop {
                let started = tokio::time::Instant::now();
                let status = tokio::select! {
                    s = child.wait() => Some(s),
                    _ = shutdown.cancelled() => None,
                };
                let Some(status) = status else {
                    stop_child(&mut child, &spec.zone_id).await;
                    break;
                };
                let done = finished(&spec, &status);
                match &status {
                    Ok(s) if s.success() => {
                        tracing::info!(zone = %spec.zone_id, "zone process exited cleanly");
                    }
                    _ => tracing::warn!(zone = %spec.zone_id, "zone process died: {status:?}"),
                }
                let AfterExit::RestartIn(wait) = policy.after_exit(done, started.elapsed()) else {
                    break;
                };
                let stop = tokio::select! {
                    _ = tokio::time::sleep(wait) => false,
                    _ = shutdown.cancelled() => true,
                };
                if stop {
                    break;
                }
                match spawn(&config, &spec) {
                    Ok(c) => {
                        child = c;
                        if let Some(c) = lock(&children).get_mut(&spec.zone_id) {
                            c.restarts += 1;
                        }
                        tracing::info!(zone = %spec.zone_id, "zone process restarted");
                    }
                    Err(e) => {
                        tracing::error!(zone = %spec.zone_id, "cannot restart zone: {e}");
                        break;
                    }
                }
            }
            unrecord(&config, &spec.zone_id);
            lock(&children).remove(&spec.zone_id);
        });
        Ok(())
    }

    fn running(&self) -> Vec<String> {
        let mut ids: Vec<_> = lock(&self.children).keys().cloned().collect();
        ids.sort();
        ids
    }
}
