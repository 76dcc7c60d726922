//! Starting and watching zone-server processes. The orchestrator asks a [`Supervisor`]
//! for zones (the world's shared zones at start, overflow copies and instances on
//! demand); in local mode [`LocalSupervisor`] runs them as child processes and restarts
//! one that crashes, with exponential backoff. A Kubernetes/Agones backend
//! (GameServerAllocation) implements the same trait.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::process::Command;
use tokio::sync::watch;

/// A zone to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSpec {
    pub zone_id: String,
    /// The content zone (map) it runs.
    pub template: String,
    /// Close the zone once it has been empty this long (overflow copies); instances
    /// take theirs from content.
    pub close_after_empty: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("no supervisor is configured to start zone {0}; start it yourself")]
    Unsupported(String),
    #[error("cannot start zone {zone}: {source}")]
    Spawn {
        zone: String,
        source: std::io::Error,
    },
}

/// Runs zones somewhere.
pub trait Supervisor: Send + Sync + 'static {
    /// Starts `spec` unless it is already running (idempotent).
    fn start(&self, spec: ZoneSpec) -> Result<(), SupervisorError>;
    /// Ids of the zones it runs now.
    fn running(&self) -> Vec<String>;
}

impl<T: Supervisor> Supervisor for Arc<T> {
    fn start(&self, spec: ZoneSpec) -> Result<(), SupervisorError> {
        (**self).start(spec)
    }
    fn running(&self) -> Vec<String> {
        (**self).running()
    }
}

/// For orchestrators whose zones are started by someone else.
pub struct NoSupervisor;

impl Supervisor for NoSupervisor {
    fn start(&self, spec: ZoneSpec) -> Result<(), SupervisorError> {
        Err(SupervisorError::Unsupported(spec.zone_id))
    }
    fn running(&self) -> Vec<String> {
        Vec::new()
    }
}

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
    /// First and longest wait before restarting a crashed zone.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

struct Child {
    /// Restarts of this zone so far.
    restarts: u32,
}

/// Runs zones as child processes of the orchestrator and restarts crashed ones. A
/// zone that exits cleanly (a closed instance, a drained zone) is not restarted.
/// Children are killed when the supervisor's shutdown signal fires or it is dropped.
pub struct LocalSupervisor {
    config: LocalConfig,
    children: Arc<Mutex<HashMap<String, Child>>>,
    shutdown: watch::Sender<bool>,
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
            shutdown: watch::channel(false).0,
        }
    }

    /// Restarts so far of `zone_id` (for tests and the demo report).
    pub fn restarts(&self, zone_id: &str) -> Option<u32> {
        lock(&self.children).get(zone_id).map(|c| c.restarts)
    }

    /// Stops every child (SIGTERM, so zones save their players, then SIGKILL after a
    /// grace period) and stops restarting them; returns once they are gone.
    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        let deadline = Instant::now() + STOP_GRACE + Duration::from_secs(1);
        while !lock(&self.children).is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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
        .kill_on_drop(true);
    if let Some(d) = spec.close_after_empty {
        cmd.arg("--close-after-empty")
            .arg(format!("{}ms", d.as_millis()));
    }
    cmd
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
        let _ = self.shutdown.send(true);
    }
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
        let mut child = match command(&self.config, &spec).spawn() {
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
        let mut shutdown = self.shutdown.subscribe();
        let (min, max) = (self.config.backoff_min, self.config.backoff_max);
        let config = self.config.clone();
        tokio::spawn(async move {
            let mut backoff = min;
            loop {
                let started = Instant::now();
                let status = tokio::select! {
                    s = child.wait() => Some(s),
                    _ = shutdown.wait_for(|s| *s) => None,
                };
                let Some(status) = status else {
                    stop_child(&mut child, &spec.zone_id).await;
                    break;
                };
                match status {
                    Ok(s) if s.success() => {
                        tracing::info!(zone = %spec.zone_id, "zone process exited cleanly");
                        break;
                    }
                    other => tracing::warn!(zone = %spec.zone_id, "zone process died: {other:?}"),
                }
                // A zone that ran for a while before crashing starts over at the
                // shortest wait; one that crashes at start waits longer each time.
                if started.elapsed() > Duration::from_secs(30) {
                    backoff = min;
                }
                let stop = tokio::select! {
                    _ = tokio::time::sleep(backoff) => false,
                    _ = shutdown.wait_for(|s| *s) => true,
                };
                if stop {
                    break;
                }
                backoff = (backoff * 2).min(max);
                match command(&config, &spec).spawn() {
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
